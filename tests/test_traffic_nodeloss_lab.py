"""A node lost (power loss: its link down, its engine, sshd and containers killed) while a
client sends 50 requests/s to another node's published port: its replicas leave rotation on
every other node within the node-loss detection time. Until then a request may fail (one in
flight to the lost replica) or wait for a retry on another replica; after that none fails or
waits."""

from __future__ import annotations

import asyncio
import time

from controller_support import controller, prefix
from nodes_support import wait_for
from test_traffic_lab import every_node_answers, port_for, web
from traffic_support import LabLoad
from tui_orch.model import NodeState


async def test_a_lost_nodes_replicas_leave_rotation_and_requests_do_not_fail(lab, tmp_path):
    pre = prefix()
    port = port_for(pre)
    async with controller(lab, tmp_path / "state", pre, grace=30.0, period=1.0) as (ctl, store, fleet):
        await ctl.start()
        assert (await ctl.apply(web(pre, port))).ok
        await every_node_answers(lab, port, "1")
        victim = next(r for r in store.replicas(pre) if r.node != "node1")
        load = LabLoad(f"http://{lab.node(1).lab_address}:{port}/VERSION", rate=50)
        load.start()
        try:
            await asyncio.sleep(1)
            t0 = time.monotonic()
            lab.kill_node(victim.node)
            try:
                await fleet[victim.node].wait_state(NodeState.NOT_READY, NodeState.UNREACHABLE, timeout=30)
                detected = time.monotonic() - t0
                short = victim.container_id[:12]
                await wait_for(lambda: short not in ctl.query().rotation(), timeout=5, interval=0.05)
                out = time.monotonic() - t0
                await asyncio.sleep(3)
            finally:
                lab.start_node(victim.node)
        finally:
            load.stop()
        late = [(t - t0, why) for t, why in load.failures if t - t0 > out]
        assert not late, late[:5]  # once out of rotation, no request fails ...
        after = [(t - t0, d) for t, d in load.slow if t - t0 > out + 0.5]
        assert not after, after[:5]  # ... nor waits on the lost node
        assert load.failed <= 2, load.failures  # those in flight to it at the loss, at most
        assert out <= detected + 1.0, (detected, out)
        print(f"node lost: detected after {detected:.2f} s, out of rotation after {out:.2f} s; "
              f"{load.sent} requests, {load.failed} failed, {len(load.slow)} slower than 0.5 s")
