"""The operator's rollout commands: restart, pause, resume, undo, status, history, rebalance.

Each checks what the operator asked for against the stored state and answers a wrong
request with one sentence (TuiOrchError) naming the service and what to do.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from tui_orch import placement
from tui_orch.controller import interrupted, planning
from tui_orch.controller.context import applier
from tui_orch.controller.events import event
from tui_orch.controller.results import RebalanceResult
from tui_orch.controller.rollout import Rollouts, load, new_record, save
from tui_orch.errors import TuiOrchError
from tui_orch.controller.unowned import owned_replicas
from tui_orch.model import Revision, Rollout, RolloutState, from_dict
from tui_orch.placement import Rebalance

if TYPE_CHECKING:
    from tui_orch.controller.context import Context


def _service(ctx: "Context", service: str) -> int:
    """The current revision of a deployed service."""
    rec = ctx.store.get_service(service)
    if rec is None or rec.removed:
        raise TuiOrchError(f"there is no service {service}; see `tui-orch get services`")
    return rec.revision


async def _carry_out(rollouts: Rollouts, ro: Rollout, wait: bool) -> Rollout:
    task = rollouts.run(ro.service)
    if not wait:
        return ro
    return (await task) or ro


async def restart(ctx: "Context", rollouts: Rollouts, service: str, wait: bool = True) -> Rollout:
    """Replace every replica of ``service`` by a fresh one (a new revision with the same spec),
    batch by batch as its update_config says."""
    _service(ctx, service)
    await interrupted.settle(ctx, rollouts, halt=[service])  # a batch a dead command left is finished first
    await rollouts.halt(service)
    async with ctx.lock:
        current = _service(ctx, service)
        spec = planning.revision_spec(ctx, service, current)
        assert spec is not None
        with ctx.store.transaction():
            rev = ctx.store.add_revision(Revision(service, 0, spec, time.time(), "rollout restart", applier()))
            ctx.store.update_service(service, revision=rev.number)
            ro = save(ctx, new_record(ctx, service, current, rev.number, "restart"))
    ctx.bus.publish(event("rollout", f"{service}: restart as revision {rev.number}: {ro.total} replica(s) in "
                          f"{ro.batches} batch(es), {ro.order}", service=service, revision=rev.number))
    return await _carry_out(rollouts, ro, wait)


def pause(ctx: "Context", service: str) -> Rollout:
    """Stop the rollout of ``service`` after the batch in progress."""
    _service(ctx, service)
    ro = load(ctx, service)
    if ro is None or not ro.active:
        state = "none" if ro is None else ro.state.value
        raise TuiOrchError(f"service {service} has no rollout in progress (last: {state})")
    ro = save(ctx, dataclasses.replace(ro, state=RolloutState.PAUSED, message="paused by the operator"))
    ctx.bus.publish(event("rollout", f"{service}: rollout to revision {ro.to_revision} paused by the operator "
                          f"({ro.progress})", service=service, level="warning"))
    return ro


async def resume(ctx: "Context", rollouts: Rollouts, service: str, wait: bool = True) -> Rollout:
    """Go on with a paused rollout (or one stored as running); failures counted so far are forgiven (the operator has
    looked at them), so the failure ratio starts again from the remaining replicas."""
    _service(ctx, service)
    await interrupted.settle(ctx, rollouts, halt=[service])  # its batch cut short is finished (and tidied) first
    current = _service(ctx, service)
    ro = load(ctx, service)
    if ro is not None and ro.to_revision != current:  # its revision was replaced since: never go back to it
        raise TuiOrchError(f"service {service} is at revision {current}; its last rollout went to revision "
                           f"{ro.to_revision} and was replaced: nothing to resume")
    if ro is not None and ro.active:  # stored as running (its controller stopped): carry it on
        return await _carry_out(rollouts, ro, wait)
    if ro is None or ro.state != RolloutState.PAUSED:
        state = "none" if ro is None else ro.state.value
        raise TuiOrchError(f"service {service} has no paused rollout (last: {state})")
    back = ro.kind in ("rollback", "undo")
    ro = save(ctx, dataclasses.replace(ro, state=RolloutState.ROLLING_BACK if back else RolloutState.RUNNING,
                                       failed=0, skipped=(), message=""))
    ctx.bus.publish(event("rollout", f"{service}: rollout to revision {ro.to_revision} resumed ({ro.progress})",
                          service=service))
    return await _carry_out(rollouts, ro, wait)


def previous_revision(ctx: "Context", service: str, current: int) -> int:
    """What `undo` goes back to: where the last rollout came from, else the newest older
    revision in the history."""
    ro = load(ctx, service)
    if (ro is not None and ro.to_revision == current and ro.from_revision
            and ctx.store.revision(service, ro.from_revision)):
        return ro.from_revision
    older = [r.number for r in ctx.store.revisions(service) if r.number < current]
    if not older:
        raise TuiOrchError(f"service {service} has no revision before {current} to go back to")
    return max(older)


async def undo(ctx: "Context", rollouts: Rollouts, service: str, to_revision: int | None = None,
               wait: bool = True) -> Rollout:
    """Roll ``service`` back to ``to_revision`` (default: the one before), with its
    rollback_config."""
    _service(ctx, service)
    await interrupted.settle(ctx, rollouts, halt=[service])
    await rollouts.halt(service)
    async with ctx.lock:
        current = _service(ctx, service)
        target = previous_revision(ctx, service, current) if to_revision is None else to_revision
        if ctx.store.revision(service, target) is None:
            kept = ", ".join(str(r.number) for r in ctx.store.revisions(service))
            raise TuiOrchError(f"revision {target} of {service} is not in its history (kept: {kept}); "
                               f"see `tui-orch rollout history {service}`")
        if target == current:
            raise TuiOrchError(f"service {service} is at revision {target} already")
        base = Rollout(service, target, current, kind="update")
        ro = rollouts.begin_rollback(base, "undo", to_revision=target)
    ctx.bus.publish(event("rollback", f"{service}: undo, back from revision {current} to {target}: "
                          f"{ro.total} replica(s) in {ro.batches} batch(es)", service=service))
    return await _carry_out(rollouts, ro, wait)


def rebalance_plan(ctx: "Context") -> Rebalance:
    """The moves that would free whole nodes (placement/rebalance.py): replicas on the least
    used nodes go, by the same best fit, to nodes already in use. Only desired services'
    running replicas move; global, homed (their data) and unowned ones never do."""
    wanted = planning.desired(ctx)
    return placement.rebalance([spec for spec, _ in wanted.values()], planning.node_infos(ctx, wanted),
                               owned_replicas(ctx.store, ()), homes=planning.homes_for(ctx, wanted))


async def rebalance(ctx: "Context", rollouts: Rollouts) -> RebalanceResult:
    """Carry out a rebalance: per service (one after another), a rollout of kind rebalance at
    its current revision that moves its replicas start-first, batch by batch as its
    update_config says (parallelism, monitor, delay), each old replica stopped only once its
    copy on the new node passed the health gate. A service with a rollout in progress is
    refused: one sentence, nothing moved. A failed move pauses that service's rebalance
    (the old replica kept serving) and the services after it are left where they are."""
    await interrupted.settle(ctx, rollouts)
    async with ctx.lock:
        plan = rebalance_plan(ctx)
        moves: dict[str, list[tuple[str, str]]] = {}
        for s in plan.plan.starts:
            moves.setdefault(s.service, []).append((f"{s.service}.{s.slot}", s.node))
        # while any rollout runs, room moves under the plan's feet: it waits for them to end
        busy = sorted(name for name, data in ctx.store.rollouts().items()
                      if from_dict(Rollout, data).active and (rec := ctx.store.get_service(name)) is not None
                      and not rec.removed)
        if busy:
            raise TuiOrchError(f"{', '.join(busy)} {'has' if len(busy) == 1 else 'have'} a rollout in progress; "
                               f"wait for it to end (tui-orch rollout status {busy[0]}) and rebalance again")
    if moves:
        ctx.bus.publish(event("rollout", f"rebalance: {plan.nodes_before} -> {plan.nodes_after} node(s) in use, "
                              f"moving {len(plan.plan.starts)} replica(s) of {len(moves)} service(s) start-first; "
                              f"frees {', '.join(plan.freed)}"))
    done: list[Rollout] = []
    for name in sorted(moves):  # each record stored at its turn: one a failure stops before never runs
        async with ctx.lock:
            current = _service(ctx, name)
            began = load(ctx, name)
            if began is not None and began.active:  # an apply or restart of it began meanwhile
                ctx.bus.publish(event("rollout", f"{name}: a rollout began meanwhile; the rebalance stops here "
                                      f"(run it again once it ends)", service=name, level="warning"))
                break
            ro = save(ctx, new_record(ctx, name, current, current, "rebalance", tuple(sorted(moves[name]))))
        ctx.bus.publish(event("rollout", f"{name}: rebalance: {ro.total} replica(s) in {ro.batches} "
                              f"batch(es), start-first", service=name))
        ro = await _carry_out(rollouts, ro, True)
        done.append(ro)
        if ro.state != RolloutState.COMPLETED:
            break  # the services after it stay where they are
    return RebalanceResult(plan.nodes_before, plan.nodes_after, tuple(plan.freed), len(plan.plan.starts), tuple(done))


def status(ctx: "Context", service: str) -> Rollout | None:
    _service(ctx, service)
    return load(ctx, service)


def history(ctx: "Context", service: str) -> list[Revision]:
    _service(ctx, service)
    return ctx.store.revisions(service)
