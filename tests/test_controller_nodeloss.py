"""Node loss on the lab: a node cut off (its sshd killed, its engine and containers running)
longer than the grace period has its replica re-placed elsewhere; once it is back, the
replaced container there is removed, so no more replicas run than desired."""

from __future__ import annotations

import time

from controller_support import controller, manifest, owned, prefix
from nodes_support import wait_for
from tui_orch.model import NodeState, ReplicaState

SERVICE = """
services:
  {name}:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    deploy:
      replicas: 2
      placement:
        max_replicas_per_node: 1
"""


def running(lab, pre: str) -> dict[str, int]:
    return {node: sum(1 for c in found if c["State"] == "running") for node, found in owned(lab, pre).items()}


async def test_lost_node_replica_is_replaced_and_reaped_on_return(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre, grace=2.0, period=1.0) as (ctl, store, fleet):
        result = await ctl.apply(manifest(SERVICE.format(name=pre)))
        assert result.ok, result
        await ctl.start()
        victim = store.get_replica(f"{pre}.1")
        other = store.get_replica(f"{pre}.2")
        t0 = time.monotonic()
        lab.kill_sshd(victim.node)
        try:
            def moved() -> bool:
                rep = store.get_replica(victim.key)
                return rep is not None and rep.node not in (victim.node,) and rep.state == ReplicaState.RUNNING

            await wait_for(moved, timeout=30, interval=0.1)
            moved_after = time.monotonic() - t0
            assert store.get_replica(other.key).container_id == other.container_id  # untouched
            assert any(e.kind == "lost" and e.replica == victim.key for e in store.events(service=pre))
        finally:
            lab.start_sshd(victim.node)
        node = fleet[victim.node]
        await node.reconnect()
        await node.wait_state(NodeState.READY, timeout=60)
        await wait_for(lambda: running(lab, pre)[victim.node] == 0, timeout=20, interval=0.2)
        counts = running(lab, pre)
        assert sum(counts.values()) == 2, counts
        print(f"node cut -> replica running elsewhere: {moved_after:.1f} s (grace 2 s)")
