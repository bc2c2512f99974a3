"""A one-shot job (restart "no"), on simulated nodes: apply waits for it to end; exit 0 is
its success (completed, not failed, not restarted, counted healthy); another code is
reported as a failure."""

from __future__ import annotations

import asyncio

from tui_orch.model import Replica
from ui_support import manifest, sim_controller

JOB = """
services:
  migrate:
    image: tuiorch/api:1
    restart: "no"
"""


async def _started(ctl, service: str) -> Replica:  # type: ignore[no-untyped-def]
    for _ in range(200):
        reps = [r for r in ctl.query().replicas(service) if r.container_id]
        if reps:
            return reps[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"{service} never started")


async def _apply_and_exit(ctl, code: int):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(ctl.apply(manifest(JOB)))
    rep = await _started(ctl, "migrate")
    await asyncio.sleep(0.3)  # it runs a while, then ends
    ctl.ctx.fleet.nodes[rep.node].crash(rep.container_id, exit_code=code)
    return await task


async def test_a_job_that_exits_0_is_completed_not_failed(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        result = await _apply_and_exit(ctl, 0)
        assert result.ok and result.failed == [] and result.completed == ["migrate.1"], result
        query = ctl.query()
        assert [row["state"] for row in query.get_replicas(None)] == ["completed"]
        row = query.service_rows()[0]
        assert (row.desired, row.running, row.healthy) == (1, 1, 1)


async def test_a_job_that_exits_non_zero_is_reported(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        result = await _apply_and_exit(ctl, 3)
        assert not result.ok and result.completed == []
        assert result.failed and "exited with code 3" in result.failed[0], result.failed
        assert [row["state"] for row in ctl.query().get_replicas(None)] == ["exited"]


STACK = """
services:
  web:
    image: tuiorch/api:1
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  migrate:
    image: tuiorch/api:1
    restart: "no"
    depends_on: [db]
  db:
    image: tuiorch/api:1
"""


async def _stack(ctl, code: int):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(ctl.apply(manifest(STACK)))
    rep = await _started(ctl, "migrate")
    assert ctl.query().replicas("db")[0].state.value == "running"  # migrate waited for db
    await asyncio.sleep(0.3)
    assert ctl.query().replicas("web") == []  # web waits for migrate to complete
    ctl.ctx.fleet.nodes[rep.node].crash(rep.container_id, exit_code=code)
    return await task


async def test_depends_on_starts_each_service_after_its_dependencies(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        dry = await ctl.apply(manifest(STACK), dry_run=True)
        assert dry.plan.splitlines()[-1] == ("deploy order: db; then migrate (after db started); "
                                             "then web (after db healthy, migrate completed successfully)")
        result = await _stack(ctl, 0)
        assert result.ok, result
        assert sorted(result.started) == ["db.1", "web.1"] and result.completed == ["migrate.1"]


async def test_a_failed_dependency_stops_its_dependants(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        result = await _stack(ctl, 1)
        assert "web: not started: its dependency migrate failed (migrate.1: exited with code 1)" in result.failed
        assert ctl.query().replicas("web") == []
