"""apply = plan_apply + commit (controller/applying.py), on simulated nodes: the plan writes
nothing, and a dry run shows the moves and rollouts the real apply then carries out."""

from __future__ import annotations

from tui_orch.controller import applying
from ui_support import manifest, sim_controller

V = """
services:
  api:
    image: tuiorch/api:{version}
    deploy:
      replicas: {replicas}
      update_config: {{monitor: 0s, parallelism: 2}}
"""


async def test_a_dry_run_is_the_plan_the_apply_then_carries_out(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        first = manifest(V.format(version=1, replicas=3))
        dry = await ctl.apply(first, dry_run=True)
        assert dry.dry_run and dry.plan.startswith("3 to start"), dry.plan
        assert ctl.query().service_rows() == []  # nothing stored by a dry run
        real = await ctl.apply(first)
        assert real.ok and real.plan == dry.plan and len(real.started) == 3

        second = manifest(V.format(version=2, replicas=4))
        dry = await ctl.apply(second, dry_run=True)
        assert dry.rollouts == {"api": "rolling update of 3 replica(s) to revision 2: batches of 2, "
                                       "stop-first, monitor 0 s, on failure pause"}
        real = await ctl.apply(second)
        assert real.ok and real.plan == dry.plan and real.revisions == {"api": 2}
        assert real.rollouts["api"].startswith("rolling update of 3 replica(s) in 2 batch(es), stop-first")
        assert sorted(r.revision for r in ctl.query().replicas("api")) == [2, 2, 2, 2]


async def test_planning_an_apply_writes_nothing(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(V.format(version=1, replicas=2)))).ok
        before = ctl.query().replicas()
        async with ctl.lock:
            plan = applying.plan_apply(ctl.ctx, manifest(V.format(version=2, replicas=5)))
        assert [(c.spec.name, c.previous, c.revision, c.outdated) for c in plan.changes] == [("api", 1, 2, 2)]
        assert plan.moves.describe().startswith("3 to start")
        assert ctl.query().replicas() == before and ctl.query().spec("api").image == "tuiorch/api:1"
