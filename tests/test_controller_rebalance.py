"""``rebalance`` on simulated nodes: the plan says how many nodes it frees and what it moves;
applying it moves replicas start-first, service by service and batch by batch, each old
replica stopped only once its copy passed the gate; a copy that fails leaves the old one
serving and pauses the rebalance. The lab test: test_cli_rebalance_lab.py."""

from __future__ import annotations

import pytest

from tui_orch.errors import NodeError, TuiOrchError
from tui_orch.model import RolloutState
from tui_orch.nodes.sim.node import SimulatedNode
from ui_support import manifest, sim_controller

ONE = """
services:
  {name}:
    image: tuiorch/{name}:1
    deploy:
      replicas: {n}
      resources: {{reservations: {{cpus: "1", memory: 512M}}}}
      update_config: {{parallelism: 1, monitor: 0s}}
"""


async def spread_out(ctl) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Three services of one replica each, one per node (each deployed while the nodes that
    hold the others were cordoned): what a rebalance consolidates. Their replica -> node."""
    for name, node in (("a", "sim-1"), ("b", "sim-2"), ("c", "sim-3")):
        for other in ("sim-1", "sim-2", "sim-3"):
            await (ctl.uncordon(other) if other == node else ctl.cordon(other))
        result = await ctl.apply(manifest(ONE.format(name=name, n=1), f"{name}.yaml"))
        assert result.ok, result
    for node in ("sim-1", "sim-2", "sim-3"):
        await ctl.uncordon(node)
    return {r.key: r.node for r in ctl.query().replicas()}


def running(ctl) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """node -> the names of the containers running there."""
    return {name: sorted(c.name for c in node.containers.values() if c.status == "running")
            for name, node in ctl.ctx.fleet.nodes.items()}


async def test_the_plan_says_what_it_frees_and_moves_and_changes_nothing(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        before = await spread_out(ctl)
        assert before == {"a.1": "sim-1", "b.1": "sim-2", "c.1": "sim-3"}
        plan = ctl.rebalance_plan()
        assert plan.frees == 2 and (plan.nodes_before, plan.nodes_after) == (3, 1)
        assert len(plan.plan.starts) == 2 and len(plan.plan.stops) == 2
        text = plan.describe()
        assert text.startswith("rebalance frees 2 node(s) (3 -> 1 in use): ")
        assert {r.key: r.node for r in ctl.query().replicas()} == before  # a plan moves nothing


async def test_applying_moves_each_replica_start_first_and_frees_the_nodes(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        await spread_out(ctl)
        plan = ctl.rebalance_plan()
        kept = ({"sim-1", "sim-2", "sim-3"} - set(plan.freed)).pop()
        queue = ctl.bus.subscribe()
        done = await ctl.rebalance()
        records = done.rollouts
        assert done.ok and len(done.freed) == 2 and done.moves == 2
        assert done.sentence().startswith("rebalance: 2 replica(s) moved; 3 -> 1 node(s) in use (frees ")
        assert [ro.state for ro in records] == [RolloutState.COMPLETED] * 2
        assert all(ro.kind == "rebalance" and ro.order == "start-first" and ro.healthy == 1 for ro in records)
        replicas = ctl.query().replicas()
        assert {r.node for r in replicas} == {kept}
        assert {r.revision for r in replicas} == {1}  # the same revision: moved, not updated
        assert [len(names) for node, names in sorted(running(ctl).items()) if node != kept] == [0, 0]
        assert len(running(ctl)[kept]) == 3
        events = []
        while not queue.empty():
            events.append(queue.get_nowait())
        for ro in records:
            key = f"{ro.service}.1"
            started = next(k for k, e in enumerate(events) if e.kind == "start" and key in e.message)
            stopped = next(k for k, e in enumerate(events) if e.kind == "stop" and key in e.message)
            assert started < stopped and "moved to" in events[stopped].message  # start-first
        assert ctl.rebalance_plan().frees == 0  # nothing more to free


class RefusingNode(SimulatedNode):
    """A simulated node whose engine refuses to run anything while its name is in
    ``refusing`` (as a node whose disk filled up)."""

    refusing: set[str] = set()

    async def run_container(self, request):  # type: ignore[no-untyped-def, override]
        if self.name in RefusingNode.refusing:
            raise NodeError(self.name, "no space left on device")
        return await super().run_container(request)


async def test_a_copy_that_fails_leaves_the_old_replica_serving_and_pauses(tmp_path):
    async with sim_controller(tmp_path / "state", node=RefusingNode) as (ctl, _sim):
        before = await spread_out(ctl)
        plan = ctl.rebalance_plan()
        kept = ({"sim-1", "sim-2", "sim-3"} - set(plan.freed)).pop()
        first, second = sorted({s.service for s in plan.plan.starts})
        RefusingNode.refusing = {kept}
        try:
            done = await ctl.rebalance()
        finally:
            RefusingNode.refusing = set()
        # the first service's move failed: paused, its old replica still where it was and running;
        # the second service was not touched
        records = done.rollouts
        assert not done.ok and done.sentence().startswith(f"rebalance stopped at {first}: paused: 1 of 1")
        assert [ro.service for ro in records] == [first]
        ro = records[0]
        assert ro.state == RolloutState.PAUSED and ro.failed == 1 and ro.message.startswith("paused: 1 of 1")
        assert {r.key: r.node for r in ctl.query().replicas()} == before
        assert all(names for names in running(ctl).values())  # every node still runs its replica
        assert ctl.rollout_status(second) is None or ctl.rollout_status(second).kind != "rebalance"
        # the node takes containers again: resume moves it
        ro = await ctl.rollout_resume(first)
        assert ro.state == RolloutState.COMPLETED and ro.healthy == 1
        assert ctl.query().replica(f"{first}.1").node == kept


async def test_a_rollout_in_progress_is_waited_for_with_one_sentence(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        before = await spread_out(ctl)
        slow = ONE.format(name="d", n=1).replace("monitor: 0s", "monitor: 30s")
        assert (await ctl.apply(manifest(slow, "d.yaml"))).ok
        await ctl.rollout_restart("d", wait=False)
        with pytest.raises(TuiOrchError) as caught:
            await ctl.rebalance()
        assert str(caught.value) == ("d has a rollout in progress; wait for it to end (tui-orch rollout status d) "
                                     "and rebalance again")
        assert {k: n for k, n in ((r.key, r.node) for r in ctl.query().replicas()) if k in before} == before
