"""A state that lost a service never removes what runs: an empty desired.json stops every
command with one message (nothing touched), and a controller keeps the containers of a
service that left the state without a recorded removal, reporting them as unowned."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from controller_support import cleanup, controller, manifest, owned, prefix
from test_controller_nodeloss import SERVICE as SLEEP  # 2 replicas of `sleep`
from tui_orch.controller import Controller
from tui_orch.inventory import load_inventory
from tui_orch.nodes.fleet import Fleet
from tui_orch.store import open_store


def tui(lab, state: Path, *args: str, inventory: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real `tui-orch` command on the lab (or on ``inventory``)."""
    exe = Path(sys.executable).parent / "tui-orch"
    return subprocess.run([str(exe), *args, "--state", str(state), "--inventory", str(inventory or lab.inventory)],
                          capture_output=True, text=True, timeout=120)


def running_ids(lab, pre: str) -> set[str]:
    return {c["Id"] for found in owned(lab, pre).values() for c in found if c["State"] == "running"}


async def test_an_empty_desired_file_is_refused_and_its_replicas_keep_running(lab, tmp_path):
    pre, state, file = prefix(), tmp_path / "state", tmp_path / "web.yaml"
    file.write_text(SLEEP.format(name=f"{pre}web"))
    try:
        assert tui(lab, state, "apply", "-f", str(file)).returncode == 0
        ids = running_ids(lab, pre)
        assert len(ids) == 2
        desired = state / "desired.json"
        desired.write_bytes(b"")

        got = tui(lab, state, "get", "services")
        assert got.returncode != 0, got.stdout
        assert f"state file {desired} is corrupt (it is empty (0 bytes))" in got.stderr
        assert "Traceback" not in got.stderr and "no services" not in got.stdout
        assert desired.read_bytes() == b""  # a reading command touches nothing

        applied = tui(lab, state, "apply", "-f", str(file))  # an owning command: a controller
        assert applied.returncode != 0
        assert f"state file {desired} is corrupt (it is empty (0 bytes)); it was moved aside" in applied.stderr
        assert running_ids(lab, pre) == ids

        # the next controller starts with an empty desired state: it keeps the replicas it
        # does not know and reports them; it never removes them
        store, fleet = open_store(state), Fleet(load_inventory(lab.inventory))
        try:
            await fleet.start()
            ctl = Controller(store, fleet)
            await ctl.reconciler.full_pass()
            await ctl.reconciler.full_pass()
            await ctl.close()
            assert running_ids(lab, pre) == ids
            unowned = [e for e in store.events() if e.kind == "unowned"]
            assert len(unowned) == 1 and unowned[0].service == f"{pre}web", store.events()[-5:]
            assert "kept, not removed" in unowned[0].message
        finally:
            await fleet.close()
            store.close()

        # both state files gone: the containers alone are shown as unowned; rm removes them
        (state / "desired.json").unlink()
        (state / "observed.json").unlink()
        got = tui(lab, state, "get", "services")
        assert got.returncode == 0 and f"{pre}web" in got.stdout and "unowned" in got.stdout, got
        assert running_ids(lab, pre) == ids
        removed = tui(lab, state, "rm", f"{pre}web")
        assert removed.returncode == 0, removed.stderr
        assert running_ids(lab, pre) == set()
    finally:
        cleanup(lab, pre)


def drop_service(state: Path, service: str) -> None:
    """Remove a service's record and revisions from desired.json, as a lost edit would."""
    path = state / "desired.json"
    data = json.loads(path.read_bytes())
    data["services"] = {k: v for k, v in data["services"].items() if v["name"] != service}
    data.pop(f"revisions:{service}", None)
    path.write_text(json.dumps(data))


async def test_a_service_gone_from_the_state_without_rm_is_unowned_and_kept(lab, tmp_path):
    pre, state = prefix(), tmp_path / "state"
    web, db = f"{pre}web", f"{pre}db"
    both = SLEEP.format(name=web) + SLEEP.format(name=db).split("services:", 1)[1]
    try:
        async with controller(lab, state, pre) as (ctl, store, _):
            assert (await ctl.apply(manifest(both))).ok
        web_ids = {c["Id"] for cs in owned(lab, web).values() for c in cs}
        drop_service(state, web)
        async with controller(lab, state, pre) as (ctl, store, _):
            await ctl.start()  # the reconcile loop: a full pass at once
            await ctl.reconciler.full_pass()
            assert {c["Id"] for cs in owned(lab, web).values() for c in cs if c["State"] == "running"} == web_ids
            assert len(store.replicas(web)) == 2  # its records are kept too
            assert [e.service for e in store.events() if e.kind == "unowned"] == [web]

            # an explicit removal is carried out, and recorded
            await ctl.remove(db)
            assert store.removal(db) is not None
            assert not [c for cs in owned(lab, db).values() for c in cs]
            await ctl.remove(web)  # the operator decides: rm removes the unowned ones too
            assert not [c for cs in owned(lab, web).values() for c in cs]
    finally:
        cleanup(lab, pre)
