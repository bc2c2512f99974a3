"""Rolling updates on simulated nodes (fast, no lab): a global service is updated node by
node in place; parallelism 0 replaces all at once; `apply` during a paused rollout starts a
new one from where things are."""

from __future__ import annotations

from tui_orch.model import RolloutState
from ui_support import manifest, sim_controller

GLOBAL = """
services:
  agent:
    image: tuiorch/agent:{v}
    deploy:
      mode: global
      update_config: {{parallelism: 1, monitor: 0s, order: {order}}}
"""
REPLICATED = """
services:
  api:
    image: tuiorch/api:{v}
    deploy:
      replicas: 4
      update_config: {{parallelism: {p}, monitor: 0s}}
"""


async def test_global_service_is_updated_node_by_node(tmp_path):
    for order in ("stop-first", "start-first"):
        async with sim_controller(tmp_path / order) as (ctl, _sim):
            assert (await ctl.apply(manifest(GLOBAL.format(v=1, order=order)))).ok
            before = {r.key: (r.node, r.container_id) for r in ctl.query().replicas("agent")}
            assert sorted(before) == ["agent.sim-1", "agent.sim-2", "agent.sim-3"]
            result = await ctl.apply(manifest(GLOBAL.format(v=2, order=order)))
            assert result.ok, result
            ro = ctl.rollout_status("agent")
            assert ro.state == RolloutState.COMPLETED and (ro.batches, ro.updated, ro.healthy) == (3, 3, 3)
            after = {r.key: (r.node, r.container_id) for r in ctl.query().replicas("agent")}
            assert {k: n for k, (n, _) in after.items()} == {k: n for k, (n, _) in before.items()}  # same nodes
            assert all(after[k][1] != before[k][1] for k in before)
            assert {r.revision for r in ctl.query().replicas("agent")} == {2}
            running = [c for node in ctl.ctx.fleet.nodes.values() for c in node.containers.values()
                       if c.status == "running"]
            assert sorted(c.image for c in running) == ["tuiorch/agent:2"] * 3


async def test_parallelism_zero_replaces_everything_in_one_batch(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(REPLICATED.format(v=1, p=0)))).ok
        assert (await ctl.apply(manifest(REPLICATED.format(v=2, p=0)))).ok
        ro = ctl.rollout_status("api")
        assert (ro.batches, ro.batch, ro.updated) == (1, 1, 4)


async def test_apply_over_a_paused_rollout(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(REPLICATED.format(v=1, p=1)))).ok
        await ctl.rollout_restart("api", wait=False)
        ctl.rollout_pause("api")
        await ctl.rollout_tasks.tasks["api"]
        assert ctl.rollout_status("api").state == RolloutState.PAUSED
        result = await ctl.apply(manifest(REPLICATED.format(v=3, p=2)))
        assert result.ok, result
        ro = ctl.rollout_status("api")
        assert ro.state == RolloutState.COMPLETED and ro.from_revision == 2 and ro.to_revision == 3
        assert {r.revision for r in ctl.query().replicas("api")} == {3} and len(ctl.query().replicas("api")) == 4
