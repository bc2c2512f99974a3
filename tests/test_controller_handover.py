"""The restart baton on the lab: while a controller runs, its containers' engine policy is
`no` and it restarts what dies itself; once it closes, each engine restarts a crashed replica
(same container) per the derived policy, and the next controller finds it fine. Also on
simulated nodes: a node that becomes Ready while the loop runs is taken over."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile

from controller_support import controller, manifest, owned, prefix
from nodes_support import direct_client, wait_for
from tui_orch.controller import Controller
from tui_orch.controller.containers import engine_restart_policy
from tui_orch.inventory import Inventory
from tui_orch.model import NodeSpec, ReplicaState, RestartPolicy
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator, set_default_simulator
from tui_orch.store import open_store

SERVICES = """
services:
  {pre}any:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    network_mode: host
    stop_grace_period: 1s
    deploy:
      replicas: 2
      restart_policy: {{condition: any, delay: 0.2s}}
  {pre}onf:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    network_mode: host
    stop_grace_period: 1s
    deploy:
      replicas: 1
      restart_policy: {{condition: on-failure, max_attempts: 3}}
  {pre}none:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    network_mode: host
    stop_grace_period: 1s
    deploy:
      replicas: 1
      restart_policy: {{condition: none}}
"""


def lab_node(lab, name: str):
    return next(n for n in lab.nodes if n.name == name)


def engine_view(lab, node: str, container_id: str) -> dict:
    """The engine's own inspect data, read directly (not through the console)."""
    client = direct_client(lab_node(lab, node))
    try:
        return client.api.inspect_container(container_id)
    finally:
        client.close()


def policy(lab, node: str, container_id: str) -> tuple[str, int]:
    p = engine_view(lab, node, container_id)["HostConfig"]["RestartPolicy"]
    return p["Name"], p.get("MaximumRetryCount", 0)


def crash(lab, node: str, container_id: str) -> None:
    """SIGKILL the replica's process from the host, as a crash or the OOM killer would
    (`docker kill` is an operator stop to the engine: it never restarts after it)."""
    os.kill(engine_view(lab, node, container_id)["State"]["Pid"], signal.SIGKILL)


def test_derived_engine_policy():
    assert engine_restart_policy(RestartPolicy(condition="any", max_attempts=5)) == ("unless-stopped", 0)
    assert engine_restart_policy(RestartPolicy(condition="on-failure", max_attempts=3)) == ("on-failure", 3)
    assert engine_restart_policy(RestartPolicy(condition="on-failure")) == ("on-failure", 0)  # 0: unlimited
    assert engine_restart_policy(RestartPolicy(condition="none")) == ("no", 0)


async def test_controller_holds_restarts_while_it_runs_and_hands_them_back(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        result = await ctl.apply(manifest(SERVICES.format(pre=pre)))
        assert result.ok, result
        await ctl.start()
        reps = {r.key: r for r in store.replicas()}
        assert len(reps) == 4
        for r in reps.values():  # while a controller runs, the engine restarts nothing
            assert policy(lab, r.node, r.container_id) == ("no", 0), r.key

        # a kill while it runs: the controller restarts it (a new container, still `no`)
        first = reps[f"{pre}any.1"]
        client = direct_client(lab_node(lab, first.node))
        try:
            await asyncio.to_thread(client.api.kill, first.container_id)
        finally:
            client.close()
        await wait_for(lambda: (store.get_replica(first.key).container_id != first.container_id
                                and store.get_replica(first.key).state == ReplicaState.RUNNING), timeout=5)
        restart = next(e for e in store.events(service=f"{pre}any") if e.kind == "restart")
        assert restart.replica == first.key and dict(restart.data)["attempt"] == "1"
        again = store.get_replica(first.key)
        assert policy(lab, again.node, again.container_id) == ("no", 0)

        await ctl.close()  # hand the baton to the engines
        reps = {r.key: r for r in store.replicas()}
        expected = {"any": ("unless-stopped", 0), "onf": ("on-failure", 3), "none": ("no", 0)}
        for r in reps.values():
            assert policy(lab, r.node, r.container_id) == expected[r.service[len(pre):]], r.key
        handed = [e for e in store.events() if e.kind == "handover" and "closing" in e.message]
        assert handed and "3 replica" in handed[-1].message
        # the console's "restarts N in the last hour" counts restart events: the baton is none
        assert [e.replica for e in store.events() if e.kind == "restart"] == [first.key]

        # no controller runs: a crashed replica is restarted by its engine, same container
        victim = reps[f"{pre}any.2"]
        crash(lab, victim.node, victim.container_id)
        await wait_for(lambda: engine_view(lab, victim.node, victim.container_id)["RestartCount"] >= 1, timeout=5)
        await wait_for(lambda: engine_view(lab, victim.node, victim.container_id)["State"]["Status"] == "running",
                       timeout=5)
        lone = reps[f"{pre}none.1"]  # condition none: the engine leaves it down
        crash(lab, lone.node, lone.container_id)
        await asyncio.sleep(1.0)  # the engine's first restart would come after 100 ms
        assert engine_view(lab, lone.node, lone.container_id)["State"]["Status"] == "exited"

        # the next controller: the engine-restarted replica is fine (same container, no
        # restart of its own); the baton is taken back
        ctl2 = Controller(store, fleet)
        try:
            await ctl2.start()
            # its first pass finds the none replica dead: not restarted (its policy), and says so
            await wait_for(lambda: any(e.kind == "die" and e.replica == lone.key for e in store.events()), timeout=10)
            died = next(e for e in store.events() if e.kind == "die" and e.replica == lone.key)
            assert "not restarted: restart policy is none" in died.message
            assert store.get_replica(lone.key).state == ReplicaState.EXITED
            now = store.get_replica(victim.key)
            assert now.container_id == victim.container_id and now.state == ReplicaState.RUNNING
            assert not [e for e in store.events() if e.kind == "restart" and e.replica == victim.key]
            assert policy(lab, now.node, now.container_id) == ("no", 0)

            # what a controller stops is never brought back by the engine
            await ctl2.scale(f"{pre}any", 0)
        finally:
            await ctl2.close()
        await asyncio.sleep(1.0)
        assert not [c for found in owned(lab, f"{pre}any").values() for c in found]


async def test_a_node_ready_after_start_is_taken_over():
    sim = Simulator(seed=5)
    old = set_default_simulator(sim)
    try:
        await _taken_over_when_ready()
    finally:
        set_default_simulator(old)


async def _taken_over_when_ready() -> None:
    inventory = Inventory(nodes=(NodeSpec(name="s1", simulated=True),))
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(folder)
        try:
            async with Fleet(inventory) as fleet:
                node = fleet["s1"]
                assert isinstance(node, SimulatedNode)
                ctl = Controller(store, fleet, period=60)
                m = manifest("""
                    services:
                      w:
                        image: busybox
                        deploy: {replicas: 1, restart_policy: {condition: any, delay: 0.1s}}
                """)
                assert (await ctl.apply(m)).ok
                await ctl.close()
                rep = store.get_replica("w.1")
                assert node.restart_policies[rep.container_id] == ("unless-stopped", 0)

                node.fail()  # NotReady when the next controller starts
                ctl2 = Controller(store, fleet, period=60, grace=60)
                ctl2.ctx.readiness.seen_ready.add("s1")  # Ready a moment ago: within the grace, not lost
                await ctl2.start()
                assert ctl2.reconciler.taken == set()
                node.crash(rep.container_id, exit_code=2)  # its engine restarts it (missed while away)
                node.recover()  # Ready: a full pass takes it over before acting
                await wait_for(lambda: "s1" in ctl2.reconciler.taken, timeout=5)
                assert node.restart_policies[rep.container_id] == ("no", 0)
                await asyncio.sleep(0.3)  # the replayed die must not make the controller restart it too
                now = store.get_replica("w.1")
                assert now.container_id == rep.container_id and now.state == ReplicaState.RUNNING
                assert not [e for e in store.events() if e.kind == "restart" and e.replica == "w.1"]
                await ctl2.close()
                assert node.restart_policies[rep.container_id] == ("unless-stopped", 0)
        finally:
            store.close()
