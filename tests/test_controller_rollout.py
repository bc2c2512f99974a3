"""Rolling updates on the lab: busybox :1 -> :2 start-first with zero unavailability (every
replica's endpoint probed all along), stop-first never below desired - parallelism, an
update whose new replicas fail their health check rolls back by itself, pause / resume /
undo / restart, and the rollout's progress is in the store and the events while it runs."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from controller_support import controller, manifest, owned, prefix
from nodes_support import inside, wait_for
from tui_orch.model import Replica, ReplicaState, RolloutState, from_dict

WEB = """
services:
  {name}:
    image: tuiorch/busybox:{version}
    # on the node's address on the lab network (10.77.0.N+1), where a client reaches it
    command: ["sh", "-c", "n=$${{TUI_ORCH_NODE#node}}; exec httpd -f -p 10.77.0.$$((n+1)):$$PORT -h /www"]
    network_mode: host
    ports:
      - target: 8080
    healthcheck:
      test: {health}
      interval: 1s
      timeout: 1s
      retries: 1
    stop_grace_period: 1s
    deploy:
      replicas: {replicas}
      resources:
        reservations: {{cpus: "0.1", memory: 16m}}
      update_config:
        parallelism: {parallelism}
        order: {order}
        monitor: 1s
        delay: {delay}
        failure_action: {failure_action}
      rollback_config:
        parallelism: 0
        order: {order}
        monitor: 1s
"""
GOOD = '["CMD-SHELL", "n=$${TUI_ORCH_NODE#node}; wget -q -O /dev/null http://10.77.0.$$((n+1)):$$PORT/VERSION"]'
BAD = '["CMD-SHELL", "exit 1"]'


def web(name: str, version: str = "1", *, replicas: int = 3, parallelism: int = 1, order: str = "start-first",
        delay: str = "0s", failure_action: str = "pause", health: str = GOOD):
    return manifest(WEB.format(name=name, version=version, replicas=replicas, parallelism=parallelism, order=order,
                               delay=delay, failure_action=failure_action, health=health))


def address(rep: Replica) -> str:
    return f"10.77.0.{int(rep.node.removeprefix('node')) + 1}:{rep.ports[0]}"


def _version_at(addr: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{addr}/VERSION", timeout=0.5) as resp:
            return resp.read().decode().strip()
    except OSError:
        return None


def version_at(lab, addr: str) -> str | None:
    """What a client on the lab network gets from the replica at addr (None: no answer)."""
    return inside(lab).call(_version_at, addr)


class Probe:
    """Probes every replica the controller knows of (records and the old containers a
    start-first rollout keeps) every 50 ms; records the fewest that answered at one time."""

    def __init__(self, lab, store, service: str):
        self.lab, self.store, self.service = lab, store, service
        self.fewest: int | None = None
        self.samples = 0
        self.versions: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def targets(self) -> set[str]:
        reps = [r for r in self.store.replicas(self.service) if r.ports]
        data = self.store.get_rollout(self.service) or {}
        reps += [from_dict(Replica, json.loads(old)) for _key, old in data.get("retiring") or ()]
        return {address(r) for r in reps if r.ports}

    async def _run(self) -> None:
        while True:
            targets = sorted(self.targets())
            answers = await asyncio.gather(*(asyncio.to_thread(version_at, self.lab, t) for t in targets))
            up = [a for a in answers if a is not None]
            self.versions.update(up)
            self.fewest = len(up) if self.fewest is None else min(self.fewest, len(up))
            self.samples += 1
            await asyncio.sleep(0.05)

    def __enter__(self) -> "Probe":
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def serving(lab, store, service: str) -> list[str | None]:
    return sorted((version_at(lab, address(r)) or "-") for r in store.replicas(service))


def containers(lab, pre: str) -> list[dict]:
    return [c for found in owned(lab, pre).values() for c in found]


@pytest.mark.parametrize("order,parallelism,floor", [("start-first", 1, 3), ("stop-first", 2, 1)])
async def test_rolling_update_keeps_replicas_serving(lab, tmp_path, order, parallelism, floor):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        await ctl.start()
        first = await ctl.apply(web(pre, "1", order=order, parallelism=parallelism))
        assert first.ok, first
        assert serving(lab, store, pre) == ["1", "1", "1"]
        seen: list[str] = []
        queue = ctl.bus.subscribe()
        with Probe(lab, store, pre) as probe:
            result = await ctl.apply(web(pre, "2", order=order, parallelism=parallelism))
        while not queue.empty():
            seen.append(queue.get_nowait().message)
        assert result.ok, result
        assert probe.samples > 20, probe.samples
        # start-first: never fewer than desired answer; stop-first: never below desired - parallelism
        assert probe.fewest is not None and probe.fewest >= floor, (probe.fewest, seen)
        assert probe.versions == {"1", "2"}
        assert serving(lab, store, pre) == ["2", "2", "2"]
        ro = ctl.rollout_status(pre)
        assert ro is not None and ro.state == RolloutState.COMPLETED
        assert (ro.from_revision, ro.to_revision, ro.updated, ro.healthy, ro.failed) == (1, 2, 3, 3, 0)
        assert ro.batches == (3 if parallelism == 1 else 2) and not ro.retiring and not ro.batch_keys
        assert any("batch 1 of" in m for m in seen) and any("rollout complete" in m for m in seen), seen
        # nothing of revision 1 is left on the nodes, and no duplicates
        found = containers(lab, pre)
        assert len(found) == 3 and all(c["Image"].endswith(":2") for c in found), found


async def test_failing_health_check_rolls_back(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre, start_timeout=15) as (ctl, store, fleet):
        await ctl.start()
        assert (await ctl.apply(web(pre, "1", failure_action="rollback", order="stop-first"))).ok
        result = await ctl.apply(web(pre, "2", failure_action="rollback", order="stop-first", health=BAD))
        assert not result.ok
        assert "rolled back" in result.rollouts[pre], result.rollouts
        ro = ctl.rollout_status(pre)
        assert ro is not None and ro.state == RolloutState.ROLLED_BACK and ro.kind == "rollback"
        assert (ro.from_revision, ro.to_revision) == (2, 1)
        assert store.get_service(pre).revision == 1
        await wait_for(lambda: serving(lab, store, pre) == ["1", "1", "1"], 20)
        assert all(r.revision == 1 for r in store.replicas(pre))
        kinds = [e.kind for e in store.events(service=pre)]
        assert "rollback" in kinds
        await wait_for(lambda: len(containers(lab, pre)) == 3, 15)  # the failed :2 replica is gone


async def test_failed_rollout_pauses_then_undo(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre, start_timeout=15) as (ctl, store, fleet):
        await ctl.start()
        assert (await ctl.apply(web(pre, "1"))).ok
        result = await ctl.apply(web(pre, "2", health=BAD))  # start-first, failure_action pause
        ro = ctl.rollout_status(pre)
        assert ro is not None and ro.state == RolloutState.PAUSED and "failed" in ro.message, ro
        assert not result.ok
        # start-first: the failed replacement was removed and the old replica kept serving
        assert serving(lab, store, pre) == ["1", "1", "1"]
        assert len(containers(lab, pre)) == 3
        back = await ctl.rollout_undo(pre)
        assert back.state == RolloutState.ROLLED_BACK and store.get_service(pre).revision == 1
        assert [r.number for r in ctl.rollout_history(pre)] == [1, 2]
        with pytest.raises(Exception, match="at revision 1 already"):
            await ctl.rollout_undo(pre, to_revision=1)
        with pytest.raises(Exception, match="not in its history"):
            await ctl.rollout_undo(pre, to_revision=9)


async def test_restart_pause_resume(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        await ctl.start()
        assert (await ctl.apply(web(pre, "1", delay="2s"))).ok
        before = {r.key: r.container_id for r in store.replicas(pre)}
        ro = await ctl.rollout_restart(pre, wait=False)
        assert ro.state == RolloutState.RUNNING and ro.total == 3 and ro.batches == 3 and ro.kind == "restart"
        # progress is observable while it runs
        await wait_for(lambda: (ctl.rollout_status(pre).updated or 0) >= 1, 20)
        paused = ctl.rollout_pause(pre)
        assert paused.state == RolloutState.PAUSED
        await ctl.rollout_tasks.tasks[pre]
        mid = ctl.rollout_status(pre)
        assert mid.state == RolloutState.PAUSED and 1 <= mid.updated < 3, mid
        changed = [k for k, cid in before.items() if store.get_replica(k).container_id != cid]
        assert len(changed) == mid.updated
        with pytest.raises(Exception, match="no rollout in progress"):
            ctl.rollout_pause(pre)
        done = await ctl.rollout_resume(pre)
        assert done.state == RolloutState.COMPLETED, done
        assert all(store.get_replica(k).container_id != cid for k, cid in before.items())
        assert {r.revision for r in store.replicas(pre)} == {2}
        assert serving(lab, store, pre) == ["1", "1", "1"]
        assert len(containers(lab, pre)) == 3
        # removing a service in the middle of a start-first rollout leaves nothing behind
        await ctl.rollout_restart(pre, wait=False)
        await wait_for(lambda: bool(ctl.rollout_status(pre).retiring), 20)
        await ctl.remove(pre)
        assert containers(lab, pre) == [] and ctl.query().rollout(pre) is None
