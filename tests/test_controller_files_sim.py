"""Secrets and configs delivered to simulated nodes (fast, no lab): content-addressed files in
the node's tmpfs folder, bound at their targets; a changed secret rolls the service out; files
no replica of a node uses are removed; a later process without the value gets it from a node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_orch.controller import delivery
from tui_orch.errors import ManifestError, NodeError
from tui_orch.manifest import load_manifest
from ui_support import sim_controller

PLANTED = "s3cr3t-4f9e21-UNIQUE"
STACK = """\
secrets:
  db_password: {{environment: TEST_DB_PASSWORD}}
configs:
  motd: {{content: "hello"}}
services:
  db:
    image: tuiorch/db:1
    deploy: {{replicas: {n}}}
    secrets: [db_password]
    configs: [{{source: motd, target: /etc/motd, mode: 0440}}]
"""


def load(tmp_path: Path, n: int, value: str = PLANTED):
    (tmp_path / "compose.yaml").write_text(STACK.format(n=n))
    return load_manifest(tmp_path / "compose.yaml", environ={"TEST_DB_PASSWORD": value})


def delivered(ctl) -> dict[str, dict[str, bytes]]:
    return {name: dict(node.files) for name, node in ctl.ctx.fleet.nodes.items() if node.files}


async def test_secrets_reach_the_nodes_and_leave_them(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load(tmp_path, 2))).ok
        reps = ctl.query().replicas("db")
        assert len(reps) == 2
        for rep in reps:
            node = ctl.ctx.fleet.nodes[rep.node]
            binds = dict((t, s) for s, t in node.binds[rep.container_id])
            assert set(binds) == {"/run/secrets/db_password", "/etc/motd"}
            assert node.files[binds["/run/secrets/db_password"]] == PLANTED.encode()
            assert binds["/etc/motd"].startswith(f"/dev/shm/tui-orch/{ctl.ctx.owner}/{rep.node}/")
            assert binds["/etc/motd"].endswith("-0-0-440") and node.files[binds["/etc/motd"]] == b"hello"
        # the value is in no file of the state folder
        for path in (tmp_path / "state").rglob("*"):
            if path.is_file():
                assert PLANTED.encode() not in path.read_bytes(), path
        # a changed secret is a new revision, rolled out; the old copies go
        result = await ctl.apply(load(tmp_path, 2, PLANTED + "-v2"))
        assert result.ok, result
        assert {r.revision for r in ctl.query().replicas("db")} == {2}
        values = [v for files in delivered(ctl).values() for v in files.values()]
        assert sorted(values) == sorted([(PLANTED + "-v2").encode(), b"hello"] * 2)
        # no replica left: no file left
        assert (await ctl.apply(load(tmp_path, 0, PLANTED + "-v2"))).ok
        assert delivered(ctl) == {}


async def test_a_process_without_the_value_copies_it_from_a_node(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load(tmp_path, 1))).ok
        spec = ctl.ctx.store.revision("db", 1).spec
        ctl.ctx.held.clear()  # as in the console that runs after `apply` exited
        has = next(iter(delivered(ctl)))
        other = next(n for name, n in ctl.ctx.fleet.nodes.items() if name != has)
        binds = await delivery.deliver(ctl.ctx, other, spec)
        assert other.files[dict((t, s) for s, t in binds)["/run/secrets/db_password"]] == PLANTED.encode()
        # no node has it and this process lacks it: one line that says what to do
        for node in ctl.ctx.fleet.nodes.values():
            node.files.clear()
        ctl.ctx.held.clear()
        with pytest.raises(NodeError, match="secret db_password: the variable TEST_DB_PASSWORD no longer holds "
                                            "what was applied and no node has a copy; run apply again"):
            await delivery.deliver(ctl.ctx, other, spec)


LOCAL = """\
services:
  web:
    image: tuiorch/web:1
    volumes: ["./site.conf:/etc/site.conf:ro"]
"""


async def test_a_relative_bind_mount_is_copied_and_a_change_rolls_out(tmp_path):
    (tmp_path / "compose.yaml").write_text(LOCAL)
    (tmp_path / "site.conf").write_text("v1\n")
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load_manifest(tmp_path / "compose.yaml"))).ok
        rep = ctl.query().replicas("web")[0]
        node = ctl.ctx.fleet.nodes[rep.node]
        assert [node.files[src] for src, target in node.binds[rep.container_id]
                if target == "/etc/site.conf"] == [b"v1\n"]
        (tmp_path / "site.conf").write_text("v2\n")
        assert (await ctl.apply(load_manifest(tmp_path / "compose.yaml"))).ok
        rep = ctl.query().replicas("web")[0]
        node = ctl.ctx.fleet.nodes[rep.node]
        assert rep.revision == 2
        assert [node.files[src] for src, target in node.binds[rep.container_id]
                if target == "/etc/site.conf"] == [b"v2\n"]
        assert sorted(v for files in delivered(ctl).values() for v in files.values()) == [b"v2\n"]
        (tmp_path / "site.conf").unlink()
        with pytest.raises(ManifestError, match="site.conf not found; create it"):
            await ctl.apply(load_manifest(tmp_path / "compose.yaml"))


async def test_a_relative_bind_of_a_folder_is_refused_naming_it_and_what_to_do(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.conf").write_text("x\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: tuiorch/web:1\n    volumes: [\"./conf:/etc/app:ro\"]\n")
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        with pytest.raises(ManifestError) as refused:
            await ctl.apply(load_manifest(tmp_path / "compose.yaml"), dry_run=True)
        assert str(refused.value) == (
            f"{tmp_path / 'compose.yaml'}: services.web.volumes: {tmp_path / 'conf'} is a folder: only single "
            f"files are copied to the nodes for now; bind each file on its own (such as "
            f"./conf/app.conf:/etc/app/app.conf), or put the folder on the nodes and bind its absolute path")
        assert ctl.query().spec("web") is None
