"""The operator's rollout commands: restart, pause, resume, undo, status, history.

Each checks what the operator asked for against the stored state and answers a wrong
request with one sentence (TuiOrchError) naming the service and what to do.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from tui_orch.controller import interrupted, planning
from tui_orch.controller.context import applier
from tui_orch.controller.events import event
from tui_orch.controller.rollout import Rollouts, load, new_record, save
from tui_orch.errors import TuiOrchError
from tui_orch.model import Revision, Rollout, RolloutState

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


def status(ctx: "Context", service: str) -> Rollout | None:
    _service(ctx, service)
    return load(ctx, service)


def history(ctx: "Context", service: str) -> list[Revision]:
    _service(ctx, service)
    return ctx.store.revisions(service)
