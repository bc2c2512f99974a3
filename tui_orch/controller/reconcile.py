"""The reconcile loop: event-driven (Docker die/oom/health_status/destroy, node changes)
plus a full pass every ``period`` seconds comparing desired state (store) with what each
Ready node actually runs (``list_owned``).

A full pass: marks replicas of nodes NotReady longer than the grace period LOST (the planner
then places them elsewhere); removes owned containers that no record stands for (superseded
revisions, services the operator removed, replicas replaced while their node was away),
never touches unlabelled ones, and keeps and reports those of services the state does not
know (unowned.py); catches deaths the events missed and records whose container vanished; then
plans every desired service and starts what is missing. Restarts follow the service's
restart_policy (see restarts.py) and each one is an event. While the loop runs it holds the
restart baton: the engine policy of its containers is ``no`` (taken at start and when a node
becomes Ready; handover.py), and a death on a node not yet taken over waits for that pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from tui_orch import placement
from tui_orch.controller import deploy, planning, unowned
from tui_orch.controller.containers import LABEL_OWNER
from tui_orch.controller.events import event
from tui_orch.controller.handover import take_over
from tui_orch.controller.restarts import RestartTracker, decide
from tui_orch.controller.rollout import retiring_containers
from tui_orch.errors import NodeError
from tui_orch.model import Health, NodeState, Replica, ReplicaState
from tui_orch.nodes.base import LABEL_REPLICA, ContainerInfo, DockerEvent
from tui_orch.nodes.fleet import NodeChange

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

DOWN = (ReplicaState.STOPPING, ReplicaState.STOPPED, ReplicaState.LOST, ReplicaState.FAILED)


T = TypeVar("T")
STAGGER = 50  # calls started per turn of the event loop by staggered()


async def staggered(calls: list[Callable[[], Awaitable[T]]]) -> list[T | BaseException]:
    """Run the calls side by side, as asyncio.gather(return_exceptions=True) does, but start
    them STAGGER at a time with a turn of the event loop between: a call that finishes at once
    (a simulated node) costs its work in the turn it starts in, and a thousand of them in one
    turn held the console's keys up for 20-30 ms. Calls that wait (a real host) still all
    wait together."""
    tasks: list[asyncio.Future[T]] = []
    try:
        for i, call in enumerate(calls):
            if i and i % STAGGER == 0:
                await asyncio.sleep(0)
            tasks.append(asyncio.ensure_future(call()))
        return await asyncio.gather(*tasks, return_exceptions=True)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


class Reconciler:
    def __init__(self, ctx: "Context"):
        self.ctx = ctx
        self.trackers: dict[str, RestartTracker] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}  # replica key -> scheduled restart
        self._oom: set[str] = set()  # container ids the engine reported OOM-killed
        self._handled: set[str] = set()  # container ids whose end was already acted on
        self._tasks: list[asyncio.Task[None]] = []
        self._watches: set[asyncio.Task[Replica]] = set()
        self._retiring: set[asyncio.Future[bool]] = set()  # replacements being removed (_adopt)
        self._watching: set[str] = set()  # container ids a wait_ready is on
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[object] | None = None
        self.passes = 0
        self.taken: set[str] = set()  # nodes where the engine policy of our containers is `no` (handover.py)
        self._taken_started: dict[str, float] = {}  # container id -> start time seen by the take-over
        self._nothing_to_do: tuple[object, ...] | None = None  # _plan_key() when the plan was last empty
        self.unowned: dict[str, set[str]] = {}  # service not in the state -> nodes it runs on (reported)
        # container id -> its record when it was marked LOST: a copy that still runs when its
        # node comes back is kept if its replacement has not passed the health gate
        self.lost_copies: dict[str, Replica] = {}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._tasks:
            return
        self.ctx.readiness.seen_ready.update(n.name for n in self.ctx.fleet.ready())
        self._queue = self.ctx.fleet.subscribe()  # type: ignore[assignment]
        async with self.ctx.lock:  # the restart baton: from now on only this controller restarts
            self.taken = await take_over(self.ctx, self.ctx.fleet.ready(), self._taken_started)
        self._tasks = [asyncio.create_task(self._events(), name="reconcile-events"),
                       asyncio.create_task(self._periodic(), name="reconcile-periodic")]

    async def close(self) -> None:
        tasks: list[asyncio.Task[object]] = [*self._tasks, *self.pending.values(), *self._watches]  # type: ignore[list-item]
        self._tasks, self.pending, self.taken = [], {}, set()
        if self._queue is not None:
            self.ctx.fleet.unsubscribe(self._queue)  # type: ignore[arg-type]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def wake(self) -> None:
        """Ask for a full pass now."""
        self._wake.set()

    async def _periodic(self) -> None:
        while True:
            try:
                await self.full_pass()
            except Exception as exc:  # noqa: BLE001 - the loop must survive; the operator sees it
                self.ctx.bus.publish(event("reconcile", f"reconcile pass failed: {exc}", level="error"))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.ctx.timeouts.period)

    async def _events(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            try:
                self.handle(item)
            except Exception as exc:  # noqa: BLE001
                self.ctx.bus.publish(event("reconcile", f"handling {item!r} failed: {exc}", level="error"))

    # ------------------------------------------------------------------ events
    def handle(self, item: object) -> None:
        if isinstance(item, NodeChange):
            self._node_change(item)
        elif isinstance(item, DockerEvent):
            self._docker_event(item)
            for waiter in self.ctx.waiters.get(item.container_id, ()):
                waiter.set()  # a waiter looks at the container now rather than at its next poll

    def _node_change(self, ch: NodeChange) -> None:
        if ch.new.state == NodeState.READY:
            self.ctx.readiness.seen_ready.add(ch.node)
            self.ctx.readiness.down_since.pop(ch.node, None)
            if ch.old.state != NodeState.READY:
                self.ctx.bus.publish(event("node", f"{ch.node} is Ready", node=ch.node))
                self.wake()
        elif ch.old.state == NodeState.READY:
            self.ctx.readiness.down_since[ch.node] = ch.new.since
            self.ctx.bus.publish(event("node", f"{ch.node} is {ch.new.state.value}: {ch.new.reason}",
                                       node=ch.node, level="warning"))
            asyncio.get_running_loop().call_later(self.ctx.timeouts.grace + 0.2, self.wake)

    def _record_for(self, ev: DockerEvent) -> Replica | None:
        key = dict(ev.labels).get(LABEL_REPLICA)
        rec = self.ctx.store.get_replica(key) if key else None
        return rec if rec is not None and rec.container_id == ev.container_id else None

    def _docker_event(self, ev: DockerEvent) -> None:
        if ev.action == "oom":
            self._oom.add(ev.container_id)
            return
        if ev.action in ("die", "destroy") and ev.node not in self.taken:
            return  # its engine may restart it: the full pass takes the node over, then catches up
        if ev.action == "die" and ev.time <= self._taken_started.get(ev.container_id, 0.0):
            return  # replayed: its engine restarted it before the take-over (same container)
        rec = self._record_for(ev)
        if rec is None or rec.state in DOWN:
            return
        if ev.action == "health_status" and ev.health in ("healthy", "unhealthy"):
            health = Health(ev.health)
            state = ReplicaState.RUNNING if rec.state == ReplicaState.STARTING and health == Health.HEALTHY else rec.state
            deploy.update_replica(self.ctx, rec.key, rec.container_id, health=health, state=state)
            if health == Health.UNHEALTHY:
                self.failed(rec, exit_code=None, unhealthy=True)
        elif ev.action in ("die", "destroy"):
            self.failed(rec, exit_code=ev.exit_code)

    # ------------------------------------------------------------------ restarts
    def failed(self, rec: Replica, *, exit_code: int | None, unhealthy: bool = False) -> None:
        """A replica died (or is unhealthy): record it, and restart it as its policy says."""
        if rec.key in self.pending or rec.state in DOWN or rec.container_id in self._handled:
            return
        if rec.container_id:
            self._handled.add(rec.container_id)
        oom = rec.container_id in self._oom
        self._oom.discard(rec.container_id or "")
        now = time.time()
        if not unhealthy:
            rec = deploy.update_replica(self.ctx, rec.key, rec.container_id, state=ReplicaState.EXITED,
                                        exit_code=exit_code) or rec
        spec = planning.revision_spec(self.ctx, rec.service, rec.revision)
        if spec is None:
            return
        tracker = self.trackers.setdefault(rec.key, RestartTracker())
        ran_for = now - rec.started_at if rec.started_at else 0.0
        d = decide(spec.restart_policy, tracker, now=now, exit_code=exit_code, unhealthy=unhealthy, ran_for=ran_for)
        why = "is unhealthy" if unhealthy else f"exited with code {exit_code}" + (" (OOM killed)" if oom else "")
        common = dict(service=rec.service, replica=rec.key, node=rec.node, exit_code=exit_code,
                      oom=oom or None, unhealthy=unhealthy or None)
        if not d.restart:
            if spec.restart_policy.condition != "none" and not d.reason.startswith("exited with code 0"):
                deploy.update_replica(self.ctx, rec.key, rec.container_id, state=ReplicaState.FAILED,
                                      message=d.reason)
            self.ctx.bus.publish(event("die", f"{rec.key} on {rec.node} {why}; not restarted: {d.reason}",
                                       level="error", **common))  # type: ignore[arg-type]
            if d.reason.startswith("gave up") and rec.slot:
                self.pending[rec.key] = asyncio.create_task(self._reschedule(rec), name=f"reschedule-{rec.key}")
            return
        self.ctx.bus.publish(event(
            "restart", f"{rec.key} on {rec.node} {why}; restart {d.attempt} in {d.delay:g} s",
            level="warning", attempt=d.attempt, delay=round(d.delay, 3), **common))  # type: ignore[arg-type]
        self.pending[rec.key] = asyncio.create_task(self._restart(rec, d.delay), name=f"restart-{rec.key}")

    async def _restart(self, old: Replica, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            async with self.ctx.lock:
                rec = self.ctx.store.get_replica(old.key)
                if rec is None or rec.container_id != old.container_id or rec.state in DOWN[:3]:
                    return
                node = self.ctx.fleet.nodes.get(rec.node)
                spec = planning.revision_spec(self.ctx, rec.service, rec.revision)
                if node is None or spec is None or node.status.state != NodeState.READY:
                    self._handled.discard(old.container_id or "")  # a later pass tries again
                    return
                if rec.container_id:
                    await deploy.remove_container(self.ctx, rec.node, rec.container_id, grace=1.0)
                new = await deploy.start_replica(self.ctx, spec, rec.revision, rec.slot, rec.node, rec.ports,
                                                 restarts=rec.restarts + 1)
        finally:
            if self.pending.get(old.key) is asyncio.current_task():
                del self.pending[old.key]
        await self.watch(new)

    async def _reschedule(self, failed: Replica) -> None:
        """A replica whose restarts ran out: place it again on another node if one fits (its
        restart history starts afresh there); else it stays failed."""
        new: Replica | None = None
        try:
            async with self.ctx.lock:
                rec = self.ctx.store.get_replica(failed.key)
                spec = planning.revision_spec(self.ctx, failed.service, failed.revision)
                if rec is None or rec.container_id != failed.container_id or spec is None:
                    return
                others = [n for n in planning.node_infos(self.ctx) if n.name != rec.node]
                current = [r for r in self.ctx.store.replicas() if r.key != rec.key]
                p = placement.place(spec, [rec.slot], others, current)
                if not p.starts:
                    why = p.unschedulable[0].reason if p.unschedulable else "no other node"
                    self.ctx.bus.publish(event("reschedule", f"{rec.key} stays failed: no other node fits ({why})",
                                               service=rec.service, replica=rec.key, node=rec.node, level="error"))
                    return
                s = p.starts[0]
                if rec.container_id:
                    await deploy.remove_container(self.ctx, rec.node, rec.container_id, grace=1.0)
                self.trackers.pop(rec.key, None)
                self.ctx.bus.publish(event("reschedule", f"{rec.key} failed on {rec.node} ({rec.message}); "
                                           f"placing it on {s.node}", service=rec.service, replica=rec.key,
                                           node=s.node, level="warning"))
                new = await deploy.start_replica(self.ctx, spec, rec.revision, rec.slot, s.node, s.ports,
                                                 restarts=rec.restarts)
        finally:
            if self.pending.get(failed.key) is asyncio.current_task():
                del self.pending[failed.key]
        if new is not None:
            await self.watch(new)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    async def watch(self, rep: Replica) -> Replica:
        """Wait for a replica just started to run; one that ended already (its die event may
        have come before its record) goes through ``failed``."""
        if rep.state == ReplicaState.STARTING and rep.container_id not in self._watching:
            self._watching.add(rep.container_id or "")
            try:
                rep = await deploy.wait_ready(self.ctx, rep, self.ctx.timeouts.start)
            finally:
                self._watching.discard(rep.container_id or "")
        if rep.state == ReplicaState.EXITED and self.running:
            self.failed(rep, exit_code=rep.exit_code)
        return rep

    # ------------------------------------------------------------------ full pass
    async def full_pass(self) -> None:
        """Compare desired and actual state and act on every difference."""
        ctx = self.ctx
        started: list[Replica] = []
        async with ctx.lock:
            self.passes += 1
            self._mark_lost()
            ready = ctx.fleet.ready()
            ctx.readiness.seen_ready.update(n.name for n in ready)
            if self.running:  # nodes Ready since the loop started: take the restart baton there
                self.taken |= await take_over(ctx, [n for n in ready if n.name not in self.taken],
                                              self._taken_started)
            listings = await staggered([n.list_owned for n in ready])
            await staggered([n.ports_in_use for n in ready])  # ports_seen, for the plan below
            actual: dict[str, list[ContainerInfo]] = {
                n.name: found for n, found in zip(ready, listings) if not isinstance(found, BaseException)
            }
            await self._remove_orphans(actual)
            await asyncio.sleep(0)  # each step is a few ms with 1,000 nodes: let the console in between
            started = self._catch_up(actual)  # STARTING ones nobody waits for (a controller died)
            await asyncio.sleep(0)
            key = self._plan_key()
            if key is None or key != self._nothing_to_do:
                desired = planning.desired(ctx)
                p = planning.plan_for(ctx, desired)
                self._nothing_to_do = key if p.empty else None
                if not p.empty:
                    started += await deploy.execute(ctx, p, desired)
        for rep in started:
            task = asyncio.create_task(self.watch(rep), name=f"watch-{rep.key}")
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)

    def _plan_key(self) -> tuple[object, ...] | None:
        """What the plan of a full pass depends on, when every node is Ready: the state in the
        store (desired services, replicas, availability) and the nodes' capacity. A plan found
        empty stays empty until one of them changes (placement starts what is missing and
        stops what is too many; it never moves replicas on its own), so the pass skips planning
        then (with 1,000 nodes planning holds the event loop ~20 ms). None (always plan) while
        a node is not Ready: its grace period makes the plan change with time alone."""
        nodes = self.ctx.fleet.nodes.values()
        if any(n.status.state != NodeState.READY for n in nodes):
            return None
        return (self.ctx.store.changes, tuple((n.name, n.capacity, n.host_id, n.ports_seen) for n in nodes))

    def _mark_lost(self) -> None:
        now = time.time()
        lost = []
        for rec in self.ctx.store.replicas():
            node = self.ctx.fleet.nodes.get(rec.node)
            if rec.state in (ReplicaState.LOST, ReplicaState.STOPPED):
                continue
            if node is None or (node.status.state != NodeState.READY
                                and (now - planning.not_ready_since(self.ctx, rec.node) >= self.ctx.timeouts.grace
                                     or rec.node not in self.ctx.readiness.seen_ready)):
                lost.append(rec)
        for rec in lost:
            if rec.container_id:
                self.lost_copies[rec.container_id] = rec
            self.ctx.store.put_replica(dataclasses.replace(rec, state=ReplicaState.LOST,
                                                           message=f"node {rec.node} is not Ready"))
            self.ctx.bus.publish(event("lost", f"{rec.key} lost with node {rec.node}; placing it elsewhere",
                                       service=rec.service, replica=rec.key, node=rec.node, level="warning"))

    async def _remove_orphans(self, actual: dict[str, list[ContainerInfo]]) -> None:
        """Remove our containers that no record wants, of services the state knows; report
        those of services it does not know as unowned and keep them (unowned.py)."""
        store = self.ctx.store
        wanted = {r.container_id for r in store.replicas() if r.container_id}
        wanted |= retiring_containers(self.ctx)  # start-first: old ones still serving
        found_unowned = unowned.unowned_records(store, store.replicas())
        jobs = []
        for node, found in actual.items():
            for c in found:
                if c.id in wanted or not c.label(LABEL_REPLICA) or c.label(LABEL_OWNER) != self.ctx.owner:
                    continue  # wanted, not made by a controller, or made by another one
                if (service := unowned.unowned_service(store, c)) is not None:
                    found_unowned.setdefault(service, set()).add(node)
                    continue  # not removed by the operator: never ours to remove
                key = c.label(LABEL_REPLICA)
                if self._adopt(c):
                    continue
                jobs.append(deploy.remove_container(self.ctx, node, c.id, grace=1.0))
                self.ctx.bus.publish(event("stop", f"removed {c.name} on {node}: no replica {key} wants it",
                                           replica=key, node=node))
        for result in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(result, NodeError):
                self.ctx.bus.publish(event("stop", str(result), level="warning"))
        unowned.report(self.ctx, self.unowned, found_unowned)

    def _adopt(self, c: ContainerInfo) -> bool:
        """Keep ``c``, the running copy of a replica that was lost with its node, when the
        node is back and the replacement has not passed the health gate: the copy stands for
        the replica again and the replacement is retired (a healthy copy is never removed for
        a replacement that does not serve)."""
        old = self.lost_copies.pop(c.id, None)
        if old is None or c.status != "running" or c.health not in ("healthy", "none"):
            return False
        cur = self.ctx.store.get_replica(old.key)
        if cur is None or cur.state == ReplicaState.RUNNING or old.service not in planning.desired(self.ctx):
            return False
        if cur.container_id:
            task = asyncio.ensure_future(deploy.remove_container(self.ctx, cur.node, cur.container_id, grace=1.0))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        self.ctx.store.put_replica(dataclasses.replace(old, state=ReplicaState.RUNNING, message="",
                                                       health=Health(c.health)))
        self.ctx.bus.publish(event("reschedule", f"{old.key} still runs on {old.node}, back: kept; its replacement "
                                   f"on {cur.node} ({cur.state.value}) retired", service=old.service,
                                   replica=old.key, node=old.node, level="warning"))
        return True

    def _catch_up(self, actual: dict[str, list[ContainerInfo]]) -> list[Replica]:
        """Deaths the events missed (e.g. while the console was closed) and vanished containers.
        Returns the replicas still STARTING that no one waits for (their starter died)."""
        by_id = {c.id: c for found in actual.values() for c in found}
        unwatched: list[Replica] = []
        for rec in self.ctx.store.replicas():
            if rec.node not in actual or rec.state in DOWN or rec.key in self.pending:
                continue
            c = by_id.get(rec.container_id or "")
            if c is None:
                if rec.state != ReplicaState.PENDING:
                    self.failed(rec, exit_code=None)
            elif c.status in ("exited", "dead"):
                if c.oom_killed:
                    self._oom.add(c.id)
                self.failed(rec, exit_code=c.exit_code)
            elif c.status == "running" and rec.state == ReplicaState.EXITED:
                deploy.update_replica(self.ctx, rec.key, rec.container_id, state=ReplicaState.RUNNING)
            elif rec.state == ReplicaState.STARTING and rec.container_id not in self._watching:
                unwatched.append(rec)
        return unwatched
