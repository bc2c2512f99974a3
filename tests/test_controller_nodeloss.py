"""Node loss on the lab: a node cut off (its sshd killed, its engine and containers running)
longer than the grace period has its replica re-placed elsewhere; once it is back, the
replaced container there is removed, so no more replicas run than desired."""

from __future__ import annotations

import asyncio
import time

from controller_support import controller, manifest, owned, prefix
from nodes_support import http_get, wait_for
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


async def serving(lab, store, pre: str) -> int:
    """How many recorded replicas answer 200 on their port of their node (examples/web.yaml
    binds 127.0.0.1 of the node), as a user on the node checking them would."""
    where = [(r.node, r.ports[0]) for r in store.replicas() if r.service.startswith(pre) and r.ports]
    replies = await asyncio.gather(*(asyncio.to_thread(http_get, lab, f"http://127.0.0.1:{port}/", node)
                                     for node, port in where))
    return sum(1 for status, _ in replies if status == 200)


async def test_network_cut_keeps_ports_apart_and_the_healthy_copies_serving(lab, tmp_path):
    """node3's sshd killed (its engine and replicas keep running, holding their ports on
    node3): the replacements run at once elsewhere (no crash-loop), and when node3 is back no
    moment has fewer replicas serving than before minus node3's; at the end exactly 6 run,
    healthy, each on a port of its own on its node."""
    from test_controller_ports import web

    pre = prefix()
    async with controller(lab, tmp_path / "state", pre, grace=2.0, period=1.0) as (ctl, store, fleet):
        result = await ctl.apply(web(pre, replicas=6))
        assert result.ok, result
        await ctl.start()
        cut = "node3"
        floor = await serving(lab, store, pre) - sum(1 for r in store.replicas() if r.node == cut)
        seen: list[tuple[float, int]] = []  # (seconds since the cut, replicas serving)
        stop = asyncio.Event()

        async def watch() -> None:
            start = time.monotonic()
            while not stop.is_set():
                seen.append((round(time.monotonic() - start, 1), await serving(lab, store, pre)))
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch())
        lab.kill_sshd(cut)
        try:
            await wait_for(lambda: sum(1 for r in store.replicas() if r.node != cut
                                       and r.state == ReplicaState.RUNNING) == 6, timeout=40, interval=0.2)
        finally:
            lab.start_sshd(cut)
        t0 = time.monotonic()
        await fleet[cut].reconnect()
        await fleet[cut].wait_state(NodeState.READY, timeout=60)
        await wait_for(lambda: sum(running(lab, pre).values()) == 6, timeout=30, interval=0.3)
        await asyncio.sleep(2)  # a pass or two after the return
        stop.set()
        await watcher
        reps = store.replicas()
        assert len(reps) == 6 and all(r.state == ReplicaState.RUNNING for r in reps), reps
        assert len({(r.node, r.ports[0]) for r in reps}) == 6, [(r.node, r.ports) for r in reps]
        assert await serving(lab, store, pre) == 6
        assert sum(running(lab, pre).values()) == 6, running(lab, pre)
        lowest = min(n for _, n in seen)
        assert lowest >= floor, f"only {lowest} replicas served at one moment (floor {floor}): {seen}"
        restarts = [e.message for e in store.events(service=pre) if e.kind == "restart"]
        assert not restarts, restarts  # no replica crash-looped on a port held by another
        print(f"network cut: lowest serving {lowest} (floor {floor}); settled "
              f"{time.monotonic() - t0:.1f} s after the return")
