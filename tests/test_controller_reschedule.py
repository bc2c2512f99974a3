"""A replica whose restarts run out is marked failed with its reason, then placed again on
another node when one fits (simulated nodes: crashes on demand)."""

from __future__ import annotations

from nodes_support import wait_for
from tui_orch.model import ReplicaState
from ui_support import manifest, sim_controller

FLAKY = """
services:
  flaky:
    image: tuiorch/busybox:1
    deploy:
      replicas: 1
      restart_policy: {{condition: on-failure, delay: 0s, max_attempts: 2}}
      placement:
        constraints: {constraints}
"""


async def crash_until_failed(ctl, sim, key: str) -> str:
    first = ctl.query().replica(key).node
    for _ in range(3):  # the first run and its two restarts
        await wait_for(lambda: ctl.query().replica(key).state == ReplicaState.RUNNING, 5)
        rec = ctl.query().replica(key)
        ctl.query().node(rec.node).crash(rec.container_id, exit_code=3)
        await wait_for(lambda: ctl.query().replica(key).container_id != rec.container_id
                       or ctl.query().replica(key).state == ReplicaState.FAILED, 5)
    return first


async def test_failed_replica_moves_to_another_node(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, sim):
        await ctl.start()
        assert (await ctl.apply(manifest(FLAKY.format(constraints="[]")))).ok
        first = await crash_until_failed(ctl, sim, "flaky.1")
        await wait_for(lambda: ctl.query().replica("flaky.1").state == ReplicaState.RUNNING, 5)
        rec = ctl.query().replica("flaky.1")
        assert rec.node != first
        kinds = [(e.kind, e.message) for e in ctl.query().events(service="flaky")]
        assert any(k == "die" and "gave up after 2 restarts" in m for k, m in kinds), kinds
        assert any(k == "reschedule" and f"failed on {first}" in m and f"placing it on {rec.node}" in m
                   for k, m in kinds), kinds
        # the failed container is gone from the first node
        assert not [c for c in ctl.query().node(first).containers.values() if c.labels.get("tui-orch.replica") == "flaky.1"]


async def test_failed_replica_with_nowhere_else_stays_failed(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, sim):
        await ctl.start()
        assert (await ctl.apply(manifest(FLAKY.format(constraints='["node.id == sim-2"]')))).ok
        await crash_until_failed(ctl, sim, "flaky.1")
        await wait_for(lambda: any(e.kind == "reschedule" for e in ctl.query().events(service="flaky")), 5)
        rec = ctl.query().replica("flaky.1")
        assert rec.state == ReplicaState.FAILED and rec.node == "sim-2" and "gave up" in rec.message
        assert "stays failed: no other node fits" in ctl.query().events(service="flaky")[-1].message
