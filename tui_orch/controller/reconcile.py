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
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from tui_orch.controller import delivery, deploy, lost, networks, planning, unowned
from tui_orch.controller.events import event
from tui_orch.controller.handover import take_over
from tui_orch.controller.restarting import DOWN, Restarting
from tui_orch.controller.restarts import RestartTracker
from tui_orch.controller.sweep import Sweep
from tui_orch.model import Health, NodeState, Replica, ReplicaState
from tui_orch.nodes.base import LABEL_REPLICA, ContainerInfo, DockerEvent, Node
from tui_orch.waiting import wait_event
from tui_orch.nodes.fleet import NodeChange

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

T = TypeVar("T")
EVENTS_AT_ONCE = 500  # fleet events handled in one store transaction at most
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


class Reconciler(Restarting, Sweep):
    """The loop: engine and node events, and a full pass every period (module docstring);
    restarts are in restarting.py, the checks of a full pass in sweep.py."""

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
        self.unowned_containers: tuple[unowned.UnownedContainer, ...] = ()  # found by the last pass (the console)

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
            await wait_event(self._wake, self.ctx.timeouts.period)

    async def _events(self) -> None:
        """Handle the fleet's events, those queued together in one store transaction: a
        deploy of thousands of replicas brings thousands of start and health events, and a
        durable write of the state for each one held the loop for minutes."""
        queue = self._queue
        assert queue is not None
        while True:
            items = [await queue.get()]
            while len(items) < EVENTS_AT_ONCE and not queue.empty():
                items.append(queue.get_nowait())
            handled = 0
            try:
                with self.ctx.store.transaction():
                    for item in items:
                        handled += 1
                        self._handle_one(item)
            except Exception as exc:  # noqa: BLE001 - a failed commit: the loop must survive
                if handled:
                    self.ctx.bus.publish(event("reconcile", f"recording {handled} event(s) failed: {exc}",
                                               level="error"))
            for item in items[handled:]:  # no transaction at all (a store that may not write): one by one
                self._handle_one(item)
            await asyncio.sleep(0)  # the loop reads the terminal between two batches

    def _handle_one(self, item: object) -> None:
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

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    async def watch(self, rep: Replica) -> Replica:
        """Wait for a replica just started to run; one that ended already (its die event may
        have come before its record) goes through ``failed``."""
        if rep.state == ReplicaState.STARTING and rep.container_id not in self._watching:
            watched = rep.container_id or ""
            self._watching.add(watched)
            try:
                rep = await deploy.wait_ready(self.ctx, rep, self.ctx.timeouts.start)
            finally:
                self._watching.discard(watched)
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
            await delivery.prune(ctx, ready)  # secrets/configs no replica of a node uses any more
            lost.forget_seen(ctx.store, actual)
            await asyncio.sleep(0)  # each step is a few ms with 1,000 nodes: let the console in between
            self._back_home(actual)  # lost replicas that waited for the node of their data
            started = self._catch_up(actual)  # STARTING ones nobody waits for (a controller died)
            await asyncio.sleep(0)
            key = self._plan_key()
            if key != self._nothing_to_do:
                desired = planning.desired(ctx)
                p = await planning.plan_all(ctx, desired)
                self._nothing_to_do = key if p.empty else None
                if not p.empty:
                    started += await deploy.execute(ctx, p, desired)
            # last: the containers this pass removed (orphans, stops of the plan) are gone by now
            await networks.prune(ctx, ready)  # project networks nothing uses any more (as compose down)
        for rep in started:
            task = asyncio.create_task(self.watch(rep), name=f"watch-{rep.key}")
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)

    def _plan_key(self) -> tuple[object, ...]:
        """What the plan of a full pass depends on: the state in the store (desired services,
        replicas, availability), the nodes' capacity and, for a node not Ready, its state and
        whether its grace period is over (within it, the planner sees it Ready but cordoned).
        A plan found empty stays empty until one of them changes (placement starts what is
        missing and stops what is too many; it never moves replicas on its own), so the pass
        skips planning then: with 1,000 nodes planning holds the event loop ~20 ms, with
        100,000 replicas seconds; and on 10,000 nodes some node is nearly always away."""
        ctx = self.ctx
        now, grace = time.time(), ctx.timeouts.grace

        def away(n: Node) -> tuple[object, ...] | None:
            if n.status.state == NodeState.READY:
                return None
            within = now - planning.not_ready_since(ctx, n.name) < grace
            return n.status.state, within, n.name in ctx.readiness.seen_ready

        return (ctx.store.changes,
                tuple((n.name, n.capacity, n.host_id, n.ports_seen, away(n)) for n in ctx.fleet.nodes.values()))
