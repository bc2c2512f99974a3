"""The controller survives its own death: a child process runs a deploy or rollout on the lab
and is SIGKILLed at a random moment, ten times; each time a new controller on the same state
finishes the job: every replica of the target revision running, exactly the desired number
of containers on the nodes (no duplicate, no orphan), the rollout record finished."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from controller_support import controller, owned, prefix
from test_controller_rollout import GOOD, WEB
from tui_orch.model import ReplicaState, Rollout, RolloutState, from_dict
from tui_orch.store import open_store

HERE = Path(__file__).parent
KILLS = 10


def write_manifest(path: Path, name: str, version: str) -> None:
    path.write_text(WEB.format(name=name, version=version, replicas=3, parallelism=1, order="start-first",
                               delay="0s", failure_action="pause", health=GOOD))


def run_child(lab, state: Path, manifest: Path, action: str, service: str, kill_after: float) -> str:
    """Start the child, SIGKILL it ``kill_after`` s after it begins acting; what it printed last."""
    child = subprocess.Popen(
        [sys.executable, str(HERE / "rollout_crash_child.py"), str(state), str(lab.inventory), str(manifest),
         action, service],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": f"{HERE.parent}:{HERE}"})
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        assert line == "acting", line
        time.sleep(kill_after)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        rest = child.stdout.read().strip()
        return rest or line
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
        for i in range(KILLS):
            action = "restart" if i % 3 == 2 and i else "apply"
            manifest = tmp_path / f"web{i}.yaml"
            write_manifest(manifest, pre, "2" if i % 2 else "1")
            await asyncio.to_thread(run_child, lab, state, manifest, action, pre, rng.uniform(0.0, 6.0))
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
