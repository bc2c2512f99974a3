"""The reconcile loop's full pass on simulated nodes: it plans only when something the plan
depends on changed (with 1,000 nodes planning held the event loop ~20 ms every pass), yet a
replica that goes missing is still placed again; and the nodes' listings are started a few at
a time so other tasks run in between."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tui_orch.controller import planning, reconcile
from ui_support import manifest, sim_controller

TWO = """
services:
  api:
    image: tuiorch/api:1
    deploy:
      replicas: 2
      update_config: {monitor: 0s}
"""


def count_plans(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    calls = [0]
    plan = planning.placement.plan

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return plan(*args, **kwargs)

    monkeypatch.setattr(planning.placement, "plan", counted)
    return calls


async def test_a_full_pass_plans_only_when_the_state_or_the_nodes_changed(tmp_path, monkeypatch) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, sim):
        assert (await ctl.apply(manifest(TWO))).ok
        plans = count_plans(monkeypatch)
        await ctl.reconciler.full_pass()
        assert plans[0] == 1  # the first pass plans
        for _ in range(3):
            await ctl.reconciler.full_pass()
        assert plans[0] == 1  # nothing changed: no plan

        # a replica's record goes missing (and its container with it): the store changed, the
        # next pass plans and places it again
        gone = ctl.query().replicas("api")[0]
        node = ctl.query().node(gone.node)
        node.containers.pop(gone.container_id)  # type: ignore[attr-defined]
        ctl.ctx.store.remove_replica(gone.key)
        await ctl.reconciler.full_pass()
        assert plans[0] == 2
        assert len(ctl.query().replicas("api")) == 2

        # a node that is not Ready: a pass plans when it goes away, and again when its grace
        # period runs out (with time alone), not in between (on 10,000 nodes one nearly
        # always is away, and a plan of 100,000 replicas takes seconds)
        await ctl.reconciler.full_pass()
        count = plans[0]
        ctl.query().node("sim-3").fail()  # type: ignore[attr-defined]
        await sim.advance(1)
        await ctl.reconciler.full_pass()
        await ctl.reconciler.full_pass()
        assert plans[0] == count + 1
        monkeypatch.setattr(planning, "not_ready_since", lambda ctx, name: 0.0)  # the grace period is over
        await ctl.reconciler.full_pass()
        await ctl.reconciler.full_pass()
        assert plans[0] == count + 2
        monkeypatch.undo()
        plans = count_plans(monkeypatch)
        ctl.query().node("sim-3").recover()  # type: ignore[attr-defined]
        await sim.advance(1)
        await ctl.reconciler.full_pass()
        count = plans[0]
        await ctl.reconciler.full_pass()
        assert plans[0] == count  # all Ready and nothing changed again


async def test_staggered_runs_every_call_and_lets_other_tasks_in(monkeypatch) -> None:
    monkeypatch.setattr(reconcile, "STAGGER", 10)
    order: list[str] = []

    async def other() -> None:
        for _ in range(5):
            order.append("other")
            await asyncio.sleep(0)

    def call(i: int):  # type: ignore[no-untyped-def]
        async def run() -> int:
            order.append("call")
            if i == 7:
                raise ValueError("seven")
            return i
        return run

    task = asyncio.ensure_future(other())
    results = await reconcile.staggered([call(i) for i in range(35)])
    await task
    assert [r for r in results if not isinstance(r, BaseException)] == [i for i in range(35) if i != 7]
    assert isinstance(results[7], ValueError)  # in its place, as gather(return_exceptions=True)
    first, last = order.index("call"), len(order) - 1 - order[::-1].index("call")
    assert "other" in order[first:last]  # the other task ran between the calls


async def test_staggered_cancels_what_it_started_when_cancelled() -> None:
    started: list[asyncio.Event] = []

    def call():  # type: ignore[no-untyped-def]
        async def run() -> None:
            done = asyncio.Event()
            started.append(done)
            await asyncio.sleep(3600)
        return run

    job = asyncio.ensure_future(reconcile.staggered([call() for _ in range(120)]))
    while len(started) < 60:
        await asyncio.sleep(0)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in pending if "run" in repr(t.get_coro())]


async def test_a_big_fleet_is_planned_in_a_thread(tmp_path, monkeypatch) -> None:
    """From PLAN_IN_THREAD replicas the full pass plans in a thread (the console keeps
    answering keys): the same plan, carried out."""
    monkeypatch.setattr(planning, "PLAN_IN_THREAD", 0)
    threads: list[str] = []
    plan = planning.placement.plan

    def where(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return plan(*args, **kwargs)

    monkeypatch.setattr(planning.placement, "plan", where)
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(TWO))).ok
        gone = ctl.query().replicas("api")[0]
        node = ctl.query().node(gone.node)
        node.containers.pop(gone.container_id)  # type: ignore[attr-defined]
        ctl.ctx.store.remove_replica(gone.key)
        threads.clear()
        await ctl.reconciler.full_pass()
        assert threads and threading.main_thread().name not in threads
        assert len(ctl.query().replicas("api")) == 2
