"""Node loss on simulated nodes: the grace period counts from the moment the node stopped
being Ready, even when its state changes again meanwhile (NotReady -> Unreachable after a
few failed reconnects), so its replicas move right after the grace, not a full pass later."""

from __future__ import annotations

import asyncio
import tempfile
import textwrap
import time

from nodes_support import wait_for
from tui_orch.controller import Controller
from tui_orch.inventory import Inventory
from tui_orch.manifest import parse_manifest
from tui_orch.model import NodeSpec, NodeState, ReplicaState
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator, set_default_simulator
from tui_orch.store import open_store

SERVICE = textwrap.dedent("""
    services:
      w:
        image: busybox
        deploy:
          replicas: 2
          placement: {max_replicas_per_node: 2}
""")


async def test_grace_counts_from_the_first_not_ready_state():
    old = set_default_simulator(Simulator(seed=7))
    inventory = Inventory(nodes=(NodeSpec(name="s1", simulated=True), NodeSpec(name="s2", simulated=True)))
    try:
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(folder)
            try:
                async with Fleet(inventory) as fleet:
                    ctl = Controller(store, fleet, grace=1.0, period=60)  # no full pass comes by itself
                    assert (await ctl.apply(parse_manifest(SERVICE, "test.yaml"))).ok
                    await ctl.start()
                    victim = next(r for r in store.replicas("w"))
                    node = fleet[victim.node]
                    assert isinstance(node, SimulatedNode)
                    t0 = time.monotonic()
                    node.fail()
                    await asyncio.sleep(0.6)
                    node.set_status(NodeState.UNREACHABLE, "3 reconnects failed")  # its `since` starts again

                    def moved() -> bool:
                        rep = store.get_replica(victim.key)
                        return rep is not None and rep.node != victim.node and rep.state == ReplicaState.RUNNING

                    await wait_for(moved, timeout=5)
                    took = time.monotonic() - t0
                    print(f"moved after {took:.2f} s")
                    assert 1.0 <= took < 1.8, took  # grace 1 s (+0.2 s wake), not from the Unreachable
                    assert any(e.kind == "lost" and e.replica == victim.key for e in store.events(service="w"))
                    await ctl.close()
            finally:
                store.close()
    finally:
        set_default_simulator(old)
