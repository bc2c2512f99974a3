"""The operator's rollout commands: restart, pause, resume, undo, status, history.

Each checks what the operator asked for against the stored state and answers a wrong
request with one sentence (TuiOrchError) naming the service and what to do.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from tui_orch.controller.events import event
from tui_orch.controller.rollout import load, new_record, save
from tui_orch.errors import TuiOrchError
from tui_orch.model import Revision, Rollout, RolloutState

if TYPE_CHECKING:
    from tui_orch.controller.core import Controller


def _service(ctl: "Controller", service: str) -> int:
    """The current revision of a deployed service."""
    rec = ctl.store.get_service(service)
    if rec is None or rec.removed:
        raise TuiOrchError(f"there is no service {service}; see `tui-orch get services`")
    return rec.revision


async def _carry_out(ctl: "Controller", ro: Rollout, wait: bool) -> Rollout:
    task = ctl.rollout_tasks.run(ro.service)
    if not wait:
        return ro
    return (await task) or ro


async def restart(ctl: "Controller", service: str, wait: bool = True) -> Rollout:
    """Replace every replica of ``service`` by a fresh one (a new revision with the same spec),
    batch by batch as its update_config says."""
    _service(ctl, service)
    await ctl.settle_rollouts(halt=[service])  # a batch a dead command left is finished first
    await ctl.rollout_tasks.halt(service)
    async with ctl.lock:
        current = _service(ctl, service)
        spec = ctl.revision_spec(service, current)
        assert spec is not None
        with ctl.store.transaction():
            rev = ctl.store.add_revision(Revision(service, 0, spec, time.time(), "rollout restart"))
            ctl.store.update_service(service, revision=rev.number)
            ro = save(ctl, new_record(ctl, service, current, rev.number, "restart"))
    ctl.bus.publish(event("rollout", f"{service}: restart as revision {rev.number}: {ro.total} replica(s) in "
                          f"{ro.batches} batch(es), {ro.order}", service=service, revision=rev.number))
    return await _carry_out(ctl, ro, wait)


def pause(ctl: "Controller", service: str) -> Rollout:
    """Stop the rollout of ``service`` after the batch in progress."""
    _service(ctl, service)
    ro = load(ctl, service)
    if ro is None or not ro.active:
        state = "none" if ro is None else ro.state.value
        raise TuiOrchError(f"service {service} has no rollout in progress (last: {state})")
    ro = save(ctl, dataclasses.replace(ro, state=RolloutState.PAUSED, message="paused by the operator"))
    ctl.bus.publish(event("rollout", f"{service}: rollout to revision {ro.to_revision} paused by the operator "
                          f"({ro.progress})", service=service, level="warning"))
    return ro


async def resume(ctl: "Controller", service: str, wait: bool = True) -> Rollout:
    """Go on with a paused rollout (or one stored as running); failures counted so far are forgiven (the operator has
    looked at them), so the failure ratio starts again from the remaining replicas."""
    _service(ctl, service)
    await ctl.settle_rollouts(halt=[service])  # its batch cut short is finished (and tidied) first
    current = _service(ctl, service)
    ro = load(ctl, service)
    if ro is not None and ro.to_revision != current:  # its revision was replaced since: never go back to it
        raise TuiOrchError(f"service {service} is at revision {current}; its last rollout went to revision "
                           f"{ro.to_revision} and was replaced: nothing to resume")
    if ro is not None and ro.active:  # stored as running (its controller stopped): carry it on
        return await _carry_out(ctl, ro, wait)
    if ro is None or ro.state != RolloutState.PAUSED:
        state = "none" if ro is None else ro.state.value
        raise TuiOrchError(f"service {service} has no paused rollout (last: {state})")
    back = ro.kind in ("rollback", "undo")
    ro = save(ctl, dataclasses.replace(ro, state=RolloutState.ROLLING_BACK if back else RolloutState.RUNNING,
                                       failed=0, skipped=(), message=""))
    ctl.bus.publish(event("rollout", f"{service}: rollout to revision {ro.to_revision} resumed ({ro.progress})",
                          service=service))
    return await _carry_out(ctl, ro, wait)


def previous_revision(ctl: "Controller", service: str, current: int) -> int:
    """What `undo` goes back to: where the last rollout came from, else the newest older
    revision in the history."""
    ro = load(ctl, service)
    if ro is not None and ro.to_revision == current and ro.from_revision and ctl.store.revision(service, ro.from_revision):
        return ro.from_revision
    older = [r.number for r in ctl.store.revisions(service) if r.number < current]
    if not older:
        raise TuiOrchError(f"service {service} has no revision before {current} to go back to")
    return max(older)


async def undo(ctl: "Controller", service: str, to_revision: int | None = None, wait: bool = True) -> Rollout:
    """Roll ``service`` back to ``to_revision`` (default: the one before), with its
    rollback_config."""
    _service(ctl, service)
    await ctl.settle_rollouts(halt=[service])
    await ctl.rollout_tasks.halt(service)
    async with ctl.lock:
        current = _service(ctl, service)
        target = previous_revision(ctl, service, current) if to_revision is None else to_revision
        if ctl.store.revision(service, target) is None:
            kept = ", ".join(str(r.number) for r in ctl.store.revisions(service))
            raise TuiOrchError(f"revision {target} of {service} is not in its history (kept: {kept}); "
                               f"see `tui-orch rollout history {service}`")
        if target == current:
            raise TuiOrchError(f"service {service} is at revision {target} already")
        base = Rollout(service, target, current, kind="update")
        ro = ctl.rollout_tasks.begin_rollback(base, "undo", to_revision=target)
    ctl.bus.publish(event("rollback", f"{service}: undo, back from revision {current} to {target}: "
                          f"{ro.total} replica(s) in {ro.batches} batch(es)", service=service))
    return await _carry_out(ctl, ro, wait)


def status(ctl: "Controller", service: str) -> Rollout | None:
    _service(ctl, service)
    return load(ctl, service)


def history(ctl: "Controller", service: str) -> list[Revision]:
    _service(ctl, service)
    return ctl.store.revisions(service)
