"""Rolling updates: replace a service's replicas by those of a new revision, batch by batch.

A rollout is a record in the store (``model.Rollout``), written before every step; the task
that carries it out can die at any moment and a new controller resumes it from the record:

- a batch begins by storing its replica keys (``batch_keys``); replacing one key is
  idempotent (a key whose replica is already of the target revision is only checked again),
  so a batch cut short is simply done again;
- start-first: the old replica's record goes to ``retiring`` (stored) before its replacement
  is created; the old container keeps running (the reconcile pass leaves retiring containers
  alone) until the new one passes the health gate, then it is stopped. A replacement that
  fails the gate is removed and the old record comes back, so nothing serves less;
- stop-first: the old replica is stopped, then the new one started in its slot;
- health gate: running, and healthy when it has a health check, within the start timeout;
  then ``monitor`` seconds in which it must not die, restart or turn unhealthy;
- after each batch, failed / total > max_failure_ratio triggers failure_action: pause (the
  record says why), continue (the failed keys are skipped), or rollback (a rollout back to
  ``from_revision`` with the rollback_config); a failed rollback pauses, it never loops;
- the reconcile pass never replaces replicas of an older revision itself: only rollouts do.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import time
from typing import TYPE_CHECKING, Literal

from tui_orch.controller import delivery, deploy, placing, planning
from tui_orch.controller.events import event
from tui_orch.model import (
    Health,
    Replica,
    ReplicaState,
    Rollout,
    RolloutState,
    ServiceSpec,
    UpdateConfig,
    from_dict,
    to_dict,
)

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

Kind = Literal["update", "restart", "rollback", "undo", "rebalance"]
GONE = (ReplicaState.STOPPING, ReplicaState.STOPPED)


def load(ctx: "Context", service: str) -> Rollout | None:
    data = ctx.store.get_rollout(service)
    return None if data is None else from_dict(Rollout, data)


def save(ctx: "Context", ro: Rollout) -> Rollout:
    ro = dataclasses.replace(ro, updated_at=time.time())
    ctx.store.put_rollout(ro.service, to_dict(ro))
    return ro


def config_of(ctx: "Context", ro: Rollout) -> UpdateConfig:
    """update_config of the target revision; a rollback (or undo) follows the rollback_config
    of the revision it leaves."""
    if ro.kind in ("rollback", "undo"):
        spec = (planning.revision_spec(ctx, ro.service, ro.from_revision)
                or planning.revision_spec(ctx, ro.service, ro.to_revision))
        assert spec is not None
        return spec.rollback_config
    spec = planning.revision_spec(ctx, ro.service, ro.to_revision)
    assert spec is not None
    return spec.update_config


def outdated(ctx: "Context", ro: Rollout) -> list[Replica]:
    """Replicas still to replace, by slot (then node), skipped ones left out. A rebalance's:
    its replicas still running elsewhere than the node they move to."""
    if ro.kind == "rebalance":
        to = dict(ro.moves)
        reps = [r for r in ctx.store.replicas(ro.service)
                if r.key in to and r.node != to[r.key] and r.revision == ro.to_revision
                and r.state == ReplicaState.RUNNING and r.key not in ro.skipped]
    else:
        reps = [r for r in ctx.store.replicas(ro.service)
                if r.revision != ro.to_revision and r.state not in GONE and r.key not in ro.skipped]
    return sorted(reps, key=lambda r: (r.slot, r.node))


def new_record(ctx: "Context", service: str, from_revision: int, to_revision: int, kind: Kind,
               moves: tuple[tuple[str, str], ...] = ()) -> Rollout:
    """The record of a rollout about to begin (the caller stores it). A rebalance (``moves``)
    is always start-first: a replica moves only once its copy on the new node passed the gate."""
    now = time.time()
    draft = Rollout(service, from_revision, to_revision, kind=kind, started_at=now, updated_at=now,
                    state=RolloutState.ROLLING_BACK if kind in ("rollback", "undo") else RolloutState.RUNNING,
                    moves=moves)
    cfg = config_of(ctx, draft)
    total = len(outdated(ctx, draft))
    size = cfg.parallelism or max(total, 1)
    return dataclasses.replace(draft, order="start-first" if kind == "rebalance" else cfg.order,
                               parallelism=cfg.parallelism, total=total,
                               batches=math.ceil(total / size) if total else 0)


def retired(ro: Rollout | None) -> dict[str, Replica]:
    """The old replicas a start-first rollout keeps serving for now, by replica key."""
    return {} if ro is None else {key: from_dict(Replica, json.loads(old)) for key, old in ro.retiring}


def retiring_containers(ctx: "Context") -> set[str]:
    """Ids of the old containers that start-first rollouts keep running for now."""
    return {r.container_id for data in ctx.store.rollouts().values()
            for r in retired(from_dict(Rollout, data)).values() if r.container_id}


class Rollouts:
    """Runs the rollouts of a controller: one task per service."""

    def __init__(self, ctx: "Context"):
        self.ctx = ctx
        self.tasks: dict[str, asyncio.Task[Rollout | None]] = {}
        self._halt: set[str] = set()

    # ------------------------------------------------------------------ control
    def run(self, service: str) -> asyncio.Task[Rollout | None]:
        """Carry out (or resume) the stored rollout of ``service`` in a task."""
        task = self.tasks.get(service)
        if task is not None and not task.done():
            return task
        task = asyncio.create_task(self._run(service), name=f"rollout-{service}")
        self.tasks[service] = task
        return task

    def running(self, service: str) -> bool:
        """A task of this controller carries out the rollout of ``service`` now."""
        task = self.tasks.get(service)
        return task is not None and not task.done()

    async def carry_on(self, service: str, halt: bool = False) -> Rollout | None:
        """Carry out the stored rollout of ``service`` and wait for it: to its end, or with
        ``halt`` to the end of the batch it is in (a rollout a dead command left)."""
        if halt:
            self._halt.add(service)
        try:
            return await self.run(service)
        finally:
            if halt:
                self._halt.discard(service)

    def resume_all(self) -> None:
        """Resume every rollout the store says is in progress (after a restart), and finish
        the batch a paused one was in when its controller died."""
        for service, data in self.ctx.store.rollouts().items():
            ro = from_dict(Rollout, data)
            if (ro.active or ro.batch_keys) and self.ctx.store.get_service(service) is not None:
                self.run(service)

    async def halt(self, service: str) -> None:
        """Stop the task of ``service`` at its next batch boundary and wait for it (the record
        stays as it is)."""
        task = self.tasks.get(service)
        if task is None or task.done():
            return
        self._halt.add(service)
        try:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        finally:
            self._halt.discard(service)

    async def cancel(self, service: str) -> None:
        """Stop the task of ``service`` now (a service being removed)."""
        task = self.tasks.pop(service, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        tasks = [t for t in self.tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------------ the loop
    async def _run(self, service: str) -> Rollout | None:
        ctx = self.ctx
        while True:
            ro = load(ctx, service)  # again each time: the operator may have paused it
            if ro is None:
                return ro
            rec = ctx.store.get_service(service)
            if rec is None or rec.removed or rec.revision != ro.to_revision:
                return ro  # superseded or removed: whoever did it owns the record now
            if ro.batch_keys:  # a batch begun is finished, even paused (it may hold old replicas)
                ro = self._judge(await self._batch(ro))
                cfg = config_of(ctx, ro)
                if ro.active and cfg.delay > 0 and outdated(ctx, ro):
                    await asyncio.sleep(cfg.delay)
                continue
            if not ro.active or service in self._halt:
                return ro
            todo = outdated(ctx, ro)
            if not todo:
                ro = self._finish(ro)
                async with ctx.lock:  # the old revision's secrets/configs no replica uses any more
                    await delivery.prune(ctx)
                return ro
            cfg = config_of(ctx, ro)
            keys = tuple(r.key for r in todo[: cfg.parallelism or len(todo)])
            ro = save(ctx, dataclasses.replace(ro, batch=ro.batch + 1, batches=max(ro.batches, ro.batch + 1),
                                               batch_keys=keys, message=""))
            to = dict(ro.moves)
            what = (", ".join(f"{k} to {to[k]}" for k in keys) if ro.kind == "rebalance"
                    else f"{', '.join(keys)} to revision {ro.to_revision}")
            ctx.bus.publish(event("rollout", f"{service}: batch {ro.batch} of {ro.batches} begins: "
                                  f"{what} ({ro.order})", service=service, batch=ro.batch, batches=ro.batches))

    async def _batch(self, ro: Rollout) -> Rollout:
        """Replace every key of the current batch; store the counts and clear the batch."""
        cfg = config_of(self.ctx, ro)
        spec = planning.revision_spec(self.ctx, ro.service, ro.to_revision)
        assert spec is not None
        results = await asyncio.gather(*(self._replace(ro, key, spec, cfg) for key in ro.batch_keys))
        cur = load(self.ctx, ro.service) or ro
        failed_keys = tuple(k for k, ok in zip(ro.batch_keys, results) if ok is False)
        updated = sum(1 for ok in results if ok is not None)
        skipped = cur.skipped + failed_keys if cfg.failure_action == "continue" else cur.skipped
        return save(self.ctx, dataclasses.replace(
            cur, batch_keys=(), updated=cur.updated + updated, failed=cur.failed + len(failed_keys),
            healthy=cur.healthy + sum(1 for ok in results if ok is True), skipped=skipped))

    def _judge(self, ro: Rollout) -> Rollout:
        """After a batch: the failure action when too many failed; progress event otherwise."""
        ctx = self.ctx
        cfg = config_of(ctx, ro)
        ctx.bus.publish(event("rollout", f"{ro.service}: {ro.progress}", service=ro.service,
                              batch=ro.batch, batches=ro.batches, updated=ro.updated, healthy=ro.healthy,
                              failed=ro.failed))
        if not ro.failed or ro.failed / max(ro.total, 1) <= cfg.max_failure_ratio:
            if ro.state == RolloutState.PAUSED:  # paused by the operator during the batch
                ctx.bus.publish(event("rollout", f"{ro.service}: rollout paused after batch {ro.batch}",
                                      service=ro.service))
            return ro
        why = (f"{ro.failed} of {ro.total} new replicas failed (max_failure_ratio "
               f"{cfg.max_failure_ratio:g})")
        if ro.kind == "rebalance" and cfg.failure_action != "continue":  # never a rollback: same revision
            ro = save(ctx, dataclasses.replace(ro, state=RolloutState.PAUSED, message=f"paused: {why}"))
            ctx.bus.publish(event("rollout", f"{ro.service}: rebalance paused: {why}; the old replicas kept "
                                  f"serving where they were; `tui-orch rollout resume {ro.service}` tries again",
                                  service=ro.service, level="error"))
            return ro
        if ro.kind in ("rollback", "undo") or cfg.failure_action == "pause":
            what = "rollback" if ro.kind in ("rollback", "undo") else "rollout"
            ro = save(ctx, dataclasses.replace(ro, state=RolloutState.PAUSED, message=f"paused: {why}"))
            ctx.bus.publish(event("rollback" if what == "rollback" else "rollout",
                                  f"{ro.service}: {what} to revision {ro.to_revision} paused: {why}; fix it and "
                                  f"`tui-orch rollout resume {ro.service}` or `rollout undo`",
                                  service=ro.service, level="error"))
            return ro
        if cfg.failure_action == "rollback":
            ctx.bus.publish(event("rollback", f"{ro.service}: {why}; rolling back to revision "
                                  f"{ro.from_revision}", service=ro.service, level="error"))
            return self.begin_rollback(ro, "rollback")
        return ro  # continue

    def _finish(self, ro: Rollout) -> Rollout:
        back = ro.kind in ("rollback", "undo")
        left = f"; {len(ro.skipped)} replica(s) left as they were: {', '.join(ro.skipped)}" if ro.skipped else ""
        done = (f"{ro.healthy} replica(s) moved" if ro.kind == "rebalance"
                else f"{ro.updated} replica(s) at revision {ro.to_revision}")
        ro = save(self.ctx, dataclasses.replace(
            ro, state=RolloutState.ROLLED_BACK if back else RolloutState.COMPLETED, message=f"{done}{left}"))
        what = "rolled back" if back else ("rebalance complete" if ro.kind == "rebalance" else "rollout complete")
        self.ctx.bus.publish(event("rollback" if back else "rollout", f"{ro.service}: {what}: {ro.message}",
                                   service=ro.service))
        return ro

    def begin_rollback(self, ro: Rollout, kind: Kind, to_revision: int | None = None) -> Rollout:
        """Point the service back at ``to_revision`` (default: where ``ro`` came from) and store
        the rollout that takes it there (the caller's task, or a new one, carries it out)."""
        ctx = self.ctx
        target = ro.from_revision if to_revision is None else to_revision
        with ctx.store.transaction():
            ctx.store.update_service(ro.service, revision=target)
            back = save(ctx, new_record(ctx, ro.service, ro.to_revision, target, kind))
        return back

    # ------------------------------------------------------------------ one replica
    async def _replace(self, ro: Rollout, key: str, spec: ServiceSpec, cfg: UpdateConfig) -> bool | None:
        """Replace replica ``key`` by one of ``ro.to_revision``: True when the new one passed
        the gate and the monitor period, False when it failed, None when there was nothing to do."""
        ctx = self.ctx
        # shielded: a cancelled rollout (service removed) still records what it created
        new = await asyncio.shield(self._start_new(ro, key, spec))
        if new is None:
            return None
        new = await deploy.wait_ready(ctx, new, ctx.timeouts.start) if new.state == ReplicaState.STARTING else new
        passed = new.state == ReplicaState.RUNNING and new.health in (Health.NONE, Health.HEALTHY)
        gate = time.monotonic()  # the monitor period counts from here, while the old one stops
        old = self._retiring(ro.service, key)
        if old is not None:
            await asyncio.shield(self._settle_retiring(ro, key, old, new, passed))
        if not passed:
            self._failed_event(ro, new, new.message or f"not ready ({new.state.value})")
            return False
        if cfg.monitor > 0:
            await asyncio.sleep(max(0.0, gate + cfg.monitor - time.monotonic()))
        now = ctx.store.get_replica(key)
        if (now is None or now.container_id != new.container_id or now.state != ReplicaState.RUNNING
                or now.health == Health.UNHEALTHY):
            self._failed_event(ro, new, f"failed within the monitor period of {cfg.monitor:g} s")
            return False
        healthy = (f"{key} moved to {new.node} and healthy" if ro.kind == "rebalance"
                   else f"{key} on {new.node} is revision {ro.to_revision} and healthy")
        ctx.bus.publish(event("rollout", healthy, service=ro.service, replica=key, node=new.node))
        return True

    def _failed_event(self, ro: Rollout, new: Replica, why: str) -> None:
        self.ctx.bus.publish(event("rollout", f"{new.key} (revision {ro.to_revision}) on {new.node} failed: {why}",
                                   service=ro.service, replica=new.key, node=new.node, level="error"))

    def _retiring(self, service: str, key: str) -> Replica | None:
        return retired(load(self.ctx, service)).get(key)

    def _set_retiring(self, service: str, key: str, old: Replica | None) -> None:
        ro = load(self.ctx, service)
        if ro is None:
            return
        entries = dict(ro.retiring)
        if old is None:
            entries.pop(key, None)
        else:
            entries[key] = json.dumps(to_dict(old), sort_keys=True)
        save(self.ctx, dataclasses.replace(ro, retiring=tuple(sorted(entries.items()))))

    async def _start_new(self, ro: Rollout, key: str, spec: ServiceSpec) -> Replica | None:
        """Under the controller's lock: the replica of the target revision for ``key`` (the
        one already there after a crash, or a new one)."""
        ctx = self.ctx
        async with ctx.lock:
            rec = ctx.store.get_service(ro.service)
            if rec is None or rec.removed or rec.revision != ro.to_revision:
                return None  # removed or superseded while it waited for the lock: start nothing
            cur = ctx.store.get_replica(key)
            if ro.kind == "rebalance":
                return await self._start_moved(ro, key, spec, cur)
            if cur is not None and cur.revision == ro.to_revision:
                return cur if cur.state not in GONE else None
            if cur is not None and cur.state in GONE:  # its stop was cut short: finish it (no exited leftover)
                await deploy.stop_replica(ctx, cur, f"rollout to revision {ro.to_revision}")
                cur = None
            slot, node = (cur.slot, cur.node) if cur else self._slot_of(ro, key)
            if slot is None:
                return None
            stored = load(ctx, ro.service) or ro  # other keys of this batch may retire meanwhile
            retiring = list(retired(stored).values())
            start_first = ro.order == "start-first" and cur is not None and cur.state == ReplicaState.RUNNING
            on = (node,) if slot == 0 else ()
            homed = planning.homes_for(ctx, {ro.service: (spec, ro.to_revision)})  # its data's node only
            if start_first:
                p = placing.place(ctx, spec, [slot], on=on, homes=homed, without=(key,), extra=[*retiring, cur])
                if not p.starts:
                    start_first = False
                    ctx.bus.publish(event("rollout", f"no room to start {key} beside the old one; replacing "
                                          "it stop-first", service=ro.service, replica=key, level="warning"))
            if start_first:
                assert cur is not None
                self._set_retiring(ro.service, key, cur)
            else:
                if cur is not None:
                    await deploy.stop_replica(ctx, cur, f"rollout to revision {ro.to_revision}")
                p = placing.place(ctx, spec, [slot], on=on, homes=homed, without=(key,), extra=retiring)
            if not p.starts:
                why = p.unschedulable[0].reason if p.unschedulable else "no node fits"
                ctx.bus.publish(event("rollout", f"{key} cannot be placed: {why}", service=ro.service,
                                      replica=key, level="error"))
                return Replica(ro.service, slot, ro.to_revision, node or "", ReplicaState.EXITED, message=why)
            s = p.starts[0]
            restarts = cur.restarts if cur is not None else 0
            return await deploy.start_replica(ctx, spec, ro.to_revision, s.slot, s.node, s.ports, restarts=restarts)

    async def _start_moved(self, ro: Rollout, key: str, spec: ServiceSpec, cur: Replica | None) -> Replica | None:
        """A rebalance, under the controller's lock: the copy of ``key`` on the node it moves to,
        started beside the running one (kept serving as retiring until the copy passes the gate).
        None when there is nothing to move: it is there already, it does not run (the reconcile
        pass starts it where it fits), or that node has no room for it any more (it stays)."""
        ctx = self.ctx
        target = dict(ro.moves).get(key, "")
        if cur is None or cur.revision != ro.to_revision or cur.state != ReplicaState.RUNNING:
            return None
        if cur.node == target:
            return cur  # moved before a crash: checked again, its old copy (retiring) stopped once it passes
        retiring = list(retired(load(ctx, ro.service) or ro).values())
        homed = {**planning.homes_for(ctx, {ro.service: (spec, ro.to_revision)}), key: target}
        p = placing.place(ctx, spec, [cur.slot], homes=homed, without=(key,), extra=[*retiring, cur])
        if not p.starts:
            why = p.unschedulable[0].reason if p.unschedulable else "no room"
            ctx.bus.publish(event("rollout", f"{key} stays on {cur.node}: {target} cannot take it now ({why})",
                                  service=ro.service, replica=key, level="warning"))
            return None
        self._set_retiring(ro.service, key, cur)
        s = p.starts[0]
        return await deploy.start_replica(ctx, spec, ro.to_revision, s.slot, s.node, s.ports, restarts=cur.restarts)

    def _slot_of(self, ro: Rollout, key: str) -> tuple[int | None, str]:
        """Slot and node of a key whose record is gone (its replica stopped before a crash)."""
        old = self._retiring(ro.service, key)
        if old is not None:
            return old.slot, old.node
        name, _, rest = key.partition(".")
        if rest.isdigit():
            return int(rest), ""
        return 0, rest

    async def _settle_retiring(self, ro: Rollout, key: str, old: Replica, new: Replica, passed: bool) -> None:
        """start-first: stop the old container once its replacement passed the gate; bring the
        old record back when it did not (the old container never stopped serving)."""
        ctx = self.ctx
        async with ctx.lock:
            if passed:
                if old.container_id:
                    await deploy.remove_container(ctx, old.node, old.container_id, self._grace(old))
                why = (f"moved to {new.node} (rebalance)" if ro.kind == "rebalance"
                       else f"replaced by revision {ro.to_revision} on {new.node}")
                ctx.bus.publish(event("stop", f"{key} revision {old.revision} on {old.node} stopped: {why}",
                                      service=ro.service, replica=key, node=old.node))
            else:
                cur = ctx.store.get_replica(key)
                if cur is not None and cur.container_id and cur.container_id != old.container_id:
                    await deploy.remove_container(ctx, cur.node, cur.container_id, 1.0)
                ctx.store.put_replica(old)
            self._set_retiring(ro.service, key, None)

    def _grace(self, rep: Replica) -> float:
        spec = planning.revision_spec(self.ctx, rep.service, rep.revision)
        return spec.stop_grace_period if spec is not None else 10.0
