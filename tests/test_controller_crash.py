"""The controller survives its own death: the real `tui-orch` command runs a deploy or a
rollout on the lab and is SIGKILLed at a random moment, ten times; each time a new controller on the same state
finishes the job: every replica of the target revision running, exactly the desired number
of containers on the nodes (no duplicate, no orphan), the rollout record finished."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from controller_support import controller, owned, prefix
from test_controller_rollout import GOOD, WEB
from tui_orch.model import ReplicaState, Rollout, RolloutState, from_dict
from tui_orch.store import open_store

KILLS = 10


def write_manifest(path: Path, name: str, version: str) -> None:
    path.write_text(WEB.format(name=name, version=version, replicas=3, parallelism=1, order="start-first",
                               delay="0s", failure_action="pause", health=GOOD))


def run_child(lab, state: Path, args: list[str], kill_after: float, wait_for_line: str | None) -> str:
    """Run the real `tui-orch` command; SIGKILL it ``kill_after`` s after it printed
    ``wait_for_line`` (after it started, when None). Returns what it printed."""
    tui_orch = Path(sys.executable).parent / "tui-orch"
    child = subprocess.Popen([str(tui_orch), *args, "--state", str(state), "--inventory", str(lab.inventory)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if wait_for_line is not None and wait_for_line in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if wait_for_line is not None:
            assert seen.wait(30), f"the command never printed {wait_for_line!r}: {''.join(lines)}"
        time.sleep(kill_after)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        reader.join(5)
        return "".join(lines)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def converged(lab, ctl, store, service: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rec = store.get_service(service)
        data = store.get_rollout(service)
        ro = from_dict(Rollout, data) if data else None
        reps = store.replicas(service)
        found = [c for cs in owned(lab, service).values() for c in cs]
        ok = (rec is not None and (ro is None or not ro.active) and len(reps) == 3
              and all(r.revision == rec.revision and r.state == ReplicaState.RUNNING for r in reps)
              and sorted(c["Id"] for c in found) == sorted(r.container_id for r in reps)
              and all(c["State"] == "running" for c in found))
        if ok:
            assert ro is None or ro.state == RolloutState.COMPLETED, ro
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not converged: rollout {ro}, replicas {reps}, containers "
                                 f"{[(c['Names'], c['State'], c['Image']) for c in found]}")
        await asyncio.sleep(0.2)


async def test_sigkill_mid_rollout_converges(lab, tmp_path):
    pre = prefix()
    state = tmp_path / "state"
    rng = random.Random(os.environ.get("TUI_ORCH_CRASH_SEED", "7"))
    mid_rollout = 0
    try:
        version = "2"
        for i in range(KILLS):
            manifest = tmp_path / f"web{i}.yaml"
            if i % 3 != 2:  # each apply changes the image: 1, 2, 1, ...
                version = "1" if version == "2" else "2"
            write_manifest(manifest, pre, version)
            if i == 0:  # the first deploy: anywhere from start-up to running
                args, marker, delay = ["apply", "-f", str(manifest)], None, rng.uniform(0.3, 4.0)
            elif i % 3 == 2:
                args, marker, delay = ["rollout", "restart", pre], "batch 1 of", rng.uniform(0.0, 4.0)
            else:
                args, marker, delay = ["apply", "-f", str(manifest)], "batch 1 of", rng.uniform(0.0, 4.0)
            await asyncio.to_thread(run_child, lab, state, args, delay, marker)
            store = open_store(state, readonly=True)
            data = store.get_rollout(pre)
            store.close()
            if data and from_dict(Rollout, data).active:
                mid_rollout += 1
            async with controller(lab, state, "-never-", start_timeout=20) as (ctl, store, fleet):
                await ctl.start()
                await converged(lab, ctl, store, pre)
        print(f"{mid_rollout} of {KILLS} kills landed in a rollout in progress")
        assert mid_rollout >= 4, f"only {mid_rollout} of {KILLS} kills landed in a rollout"
    finally:
        from controller_support import cleanup

        cleanup(lab, pre)
