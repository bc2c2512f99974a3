"""``apply`` in two steps: ``plan_apply`` reads the state and says what the manifest changes
(new revisions, rollouts, placement moves) without writing anything; ``commit`` writes the
plan to the store and carries out its moves. A dry run is the plan alone, so what it shows is
what the real apply does. Both run under the controller's lock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tui_orch.controller import deploy, ordering, planning
from tui_orch.controller.context import applier
from tui_orch.controller.events import event
from tui_orch.controller.results import ApplyResult
from tui_orch.controller.rollout import load, new_record, outdated, save
from tui_orch.manifest import Manifest
from tui_orch.model import Replica, Revision, Rollout, ServiceSpec
from tui_orch.placement import Plan

if TYPE_CHECKING:
    from tui_orch.controller.context import Context


@dataclass(frozen=True)
class Change:
    """A service whose spec the manifest changes (or adds): it gets ``revision``."""

    spec: ServiceSpec
    previous: int  # the revision it is at now (0: new, or removed)
    revision: int
    outdated: int  # replicas of another revision, for its rollout to replace

    def describe_rollout(self) -> str:
        """What the rollout of this change will do (the dry run's line)."""
        u = self.spec.update_config
        return (f"rolling update of {self.outdated} replica(s) to revision {self.revision}: "
                f"batches of {u.parallelism or self.outdated}, {u.order}, monitor {u.monitor:g} s, "
                f"on failure {u.failure_action}")


@dataclass(frozen=True)
class ApplyPlan:
    source: str  # the manifest's file, named in the revisions and events
    unchanged: tuple[str, ...]
    changes: tuple[Change, ...]
    reset_scale: tuple[str, ...]  # unchanged services whose scale override the manifest's count replaces
    carried: dict[str, str]  # unchanged service whose rollout is in progress -> how far it is
    desired: planning.Desired  # every desired service as it will be, at its revision
    moves: Plan  # the placement moves of the manifest's services
    sections: dict[str, str] = field(default_factory=dict)  # service -> its part of the file (Revision.compose)

    def result(self, dry_run: bool = False) -> ApplyResult:
        """What the plan says before anything is done (all of a dry run's answer)."""
        rollouts = dict(self.carried)
        if dry_run:
            rollouts.update({c.spec.name: c.describe_rollout() for c in self.changes if c.outdated})
        mine = set(self.unchanged) | {c.spec.name for c in self.changes}  # the manifest's services
        steps = ordering.order(s for s, _ in self.desired.values() if s.name in mine)
        plan = "\n".join(x for x in (self.moves.describe(), steps) if x)
        return ApplyResult(dry_run=dry_run, plan=plan, unchanged=list(self.unchanged),
                           unschedulable=[str(u) for u in self.moves.unschedulable], rollouts=rollouts)


def _next_revision(ctx: Context, name: str) -> int:
    """The number the store gives the next revision of ``name`` (store.add_revision's rule)."""
    rec = ctx.store.get_service(name)
    return max([r.number for r in ctx.store.revisions(name)] + [rec.revision if rec else 0]) + 1


def _in_progress(ctx: Context, name: str, revision: int) -> str | None:
    """An unchanged service whose rollout to its revision is still in progress (halted, or
    left by a dead command): this apply carries it on and waits for it."""
    ro = load(ctx, name)
    if ro is None or not ro.active or ro.to_revision != revision:
        return None
    return f"rollout to revision {revision} in progress ({ro.progress})"


def plan_apply(ctx: Context, manifest: Manifest) -> ApplyPlan:
    """What applying ``manifest`` changes; reads the store, writes nothing."""
    wanted = planning.desired(ctx)
    unchanged: list[str] = []
    reset: list[str] = []
    carried: dict[str, str] = {}
    changes: list[Change] = []
    for spec in manifest.services:
        rec = ctx.store.get_service(spec.name)
        cur = ctx.store.current_revision(spec.name)
        if rec and cur and not rec.removed and cur.digest == spec.digest():
            unchanged.append(spec.name)
            if rec.replicas is not None and rec.replicas != spec.replicas:
                reset.append(spec.name)  # the manifest's count wins
            wanted[spec.name] = (spec, rec.revision)
            if (line := _in_progress(ctx, spec.name, rec.revision)) is not None:
                carried[spec.name] = line
            continue
        previous = rec.revision if rec is not None and not rec.removed else 0
        number = _next_revision(ctx, spec.name)
        wanted[spec.name] = (spec, number)
        todo = outdated(ctx, Rollout(spec.name, previous, number))
        changes.append(Change(spec, previous, number, len(todo)))
    # the manifest's services are the state's from now on, even those it had lost (unowned.py)
    moves = planning.plan_for(ctx, wanted, manifest.names, adopting=manifest.names)
    return ApplyPlan(manifest.file, tuple(unchanged), tuple(changes), tuple(reset), carried, wanted, moves,
                     dict(manifest.sections))


async def commit(ctx: Context, plan: ApplyPlan) -> tuple[ApplyResult, list[Replica], list[str]]:
    """Store the plan (revisions, and the rollout records that replace replicas of an older
    revision, before acting), then carry out its moves. Returns the result so far, the
    replicas started (to wait for) and the services whose rollout is to be carried out."""
    result = plan.result()
    rolling = list(plan.carried)
    with ctx.store.transaction():
        for name in plan.reset_scale:
            ctx.store.update_service(name, replicas=None)
        for change in plan.changes:
            name = change.spec.name
            rev = ctx.store.add_revision(Revision(name, change.revision, change.spec, time.time(),
                                                  f"apply {plan.source}", applier(), plan.sections.get(name, "")))
            ctx.store.put_service(name, rev.number)
            result.revisions[name] = rev.number
            ro = new_record(ctx, name, change.previous, rev.number, "update")
            if ro.total:
                save(ctx, ro)
                rolling.append(name)
                result.rollouts[name] = f"rolling update of {ro.total} replica(s) in {ro.batches} batch(es), {ro.order}"
    for name, number in result.revisions.items():
        ctx.bus.publish(event("deploy", f"{name}: revision {number} from {plan.source}", service=name,
                              revision=number))
    started = await deploy.execute(ctx, plan.moves, plan.desired, result)
    return result, started, rolling
