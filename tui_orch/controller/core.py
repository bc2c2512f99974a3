"""``Controller(store, fleet)``: deploys (apply, remove, scale) and runs the reconcile loop.

The Controller owns the store and the fleet and is the one place that knows every helper:
it builds one ``Context`` (context.py: the shared handles) and hands it to the helper modules
(planning, deploy, reconcile, rollout, rollout_ops, availability, observe, interrupted,
handover), none of which imports this module."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from tui_orch.controller import (
    applying, availability, building, delivery, deploy, handover, homes, interrupted, networks, observe, ordering,
    planning, rollout_ops, traffic, volume_move, volume_ops,
)
from tui_orch.controller.claims import PortClaims
from tui_orch.controller.context import (
    DEFAULT_GRACE,
    DEFAULT_IMAGE_TIMEOUT,
    DEFAULT_PERIOD,
    DEFAULT_START_TIMEOUT,
    Context,
    Timeouts,
    owner_id,
)
from tui_orch.controller.events import EventBus, event
from tui_orch.controller.query import Query
from tui_orch.controller.reconcile import Reconciler
from tui_orch.controller.results import ApplyResult, RebalanceResult
from tui_orch.controller.rollout import Rollouts, retired
from tui_orch.controller.rollout import load as load_rollout
from tui_orch.controller.volume_move import MoveResult
from tui_orch.errors import PlanOutdated, TuiOrchError
from tui_orch.manifest.deploy import MAX_REPLICAS
from tui_orch.manifest import Manifest
from tui_orch.manifest.localtree import Tree
from tui_orch.model import NodeState, Replica, ReplicaState, Revision, Rollout, RolloutState, ServiceSpec, from_dict
from tui_orch.nodes.fleet import Fleet
from tui_orch.placement import Plan, Rebalance
from tui_orch.store import Store

T = TypeVar("T")

__all__ = ["ApplyResult", "Controller", "DEFAULT_GRACE", "DEFAULT_PERIOD", "DEFAULT_START_TIMEOUT", "owner_id"]


class Controller:
    where = "this console"  # the header's word on which controller acts (control/attached.py: another)

    def __init__(self, store: Store, fleet: Fleet, *, start_timeout: float = DEFAULT_START_TIMEOUT,
                 grace: float | None = None, period: float = DEFAULT_PERIOD,
                 image_timeout: float = DEFAULT_IMAGE_TIMEOUT):
        self._store = store
        self._fleet = fleet
        # the inventory's node_grace unless given
        timeouts = Timeouts(start=start_timeout, grace=fleet.inventory.node_grace if grace is None else grace,
                            period=period, image=image_timeout)
        self.ctx = Context(store=store, fleet=fleet, bus=EventBus(store), lock=asyncio.Lock(),
                           owner=owner_id(store), timeouts=timeouts, claims=PortClaims())
        self.bus = self.ctx.bus
        self.lock = self.ctx.lock
        self.reconciler = Reconciler(self.ctx)
        self.rollout_tasks = Rollouts(self.ctx)
        self._traffic: asyncio.Task[None] | None = None

    @property
    def grace(self) -> float:
        return self.ctx.timeouts.grace

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the reconcile loop (event-driven plus a full pass every ``period``); from now
        on the controller, not the engine, restarts its replicas (handover.py)."""
        await self.reconciler.start()
        self._traffic_loop()
        self.rollout_tasks.resume_all()

    def _traffic_loop(self) -> None:
        """The edge proxies follow the records while this controller runs (traffic.py)."""
        if self._traffic is None or self._traffic.done():
            self._traffic = asyncio.get_running_loop().create_task(traffic.run(self.ctx))

    async def close(self) -> None:
        """Stop the loop and hand the restarts of the wanted replicas to their engines."""
        await self.rollout_tasks.close()
        await self.reconciler.close()
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._traffic
            self._traffic = None
        await handover.hand_back(self.ctx)

    def query(self) -> Query:
        """The read side: what the console and the CLI show (query.py)."""
        reconciler, ctx = self.reconciler, self.ctx
        return Query(self._store, self._fleet, unowned=lambda: reconciler.unowned_containers,
                     rotation=lambda: traffic.rotation_now(ctx), served=lambda: traffic.served_now(ctx))

    # ------------------------------------------------------------------ commands
    async def catch_up(self) -> dict[str, str]:
        """Bring the replica records in line with what the nodes run (observe.py), then deal
        with the containers no record stands for as a full pass does (sweep.py: a copy left on
        a node that was cut off is removed, or kept when its replacement does not serve);
        returns the nodes that could not be listed, with why."""
        listed, unreachable = await observe.catch_up(self.ctx)
        await self.reconciler.tidy(listed)
        return unreachable

    def basis(self, names: Iterable[str]) -> dict[str, list[int]]:
        """What the desired state says of ``names`` now (ApplyResult.basis)."""
        out = {}
        for name in names:
            rec = self._store.get_service(name)
            out[name] = [0, -1, 0] if rec is None else [
                rec.revision, -1 if rec.replicas is None else rec.replicas, int(rec.removed)]
        return out

    def _check_basis(self, expect: dict[str, list[int]] | None) -> None:
        """PlanOutdated when a service changed since the plan ``expect`` came from."""
        if expect is None:
            return
        now = self.basis(expect)
        changed = [name for name in sorted(expect) if list(expect[name]) != now[name]]
        if not changed:
            return
        lines = []
        for name in changed:
            rec = self._store.get_service(name)
            if rec is None:
                lines.append(f"{name} was removed")
                continue
            rev = self._store.revision(name, rec.revision) if expect[name][0] != rec.revision else None
            if expect[name][0] == rec.revision:  # the same revision: scaled or being removed since
                what = "was scaled" if expect[name][1] != now[name][1] else "is being removed"
            else:
                what = f"is at revision {rec.revision}" + (f" ({rev.cause})" if rev and rev.cause else "")
            when = time.strftime("%H:%M:%S", time.localtime(rev.created_at if rev else rec.updated_at))
            lines.append(f"{name} {what}, changed at {when}")
        raise PlanOutdated(f"the plan is out of date: since it was made, {'; '.join(lines)}. Nothing was "
                           f"done; look at the new plan before deploying")

    async def apply(self, manifest: Manifest, dry_run: bool = False, *, build_on: str | None = None,
                    output: building.Output | None = None, expect: dict[str, list[int]] | None = None,
                    shipped: tuple[dict[str, bytes], dict[str, Tree]] | None = None) -> ApplyResult:
        """Deploy the manifest's services: a new revision for each whose spec changed (the
        desired state, and the rollout that replaces running replicas of an older revision, are
        stored before acting), then place and start what is missing, and carry out the
        rollouts (waiting for them). A dry run is the plan alone (applying.py).

        Services with ``build:`` are built first, on ``build_on`` or as building.py chooses;
        the build log goes to ``output``. A failed build raises BuildFailed with nothing
        changed. A dry run builds nothing: it plans with the image last built (building.py).

        A dry run's result has the ``basis`` it was planned on; given as ``expect``, an apply
        raises PlanOutdated, doing nothing, when one of those services changed since (another
        operator's apply, scale or remove).

        ``shipped``: the manifest was read on another machine (control/shipping.py), its bound
        files' bytes and folders are these, and their digests are in its specs already: no
        path of this machine is read."""
        self._check_basis(expect)
        if shipped is not None:
            self.ctx.held.update(shipped[0])
            self.ctx.trees.update(shipped[1])
        else:  # files of this machine bound by a relative path: their digests (a change rolls out)
            manifest = await asyncio.to_thread(delivery.with_local_digests, manifest, self.ctx.held,
                                               self.ctx.trees)
        if dry_run:
            async with self.lock:
                result = applying.plan_apply(self.ctx, building.as_last_built(self.ctx, manifest)).result(dry_run=True)
            result.plan = "\n".join(filter(None, [result.plan, *building.dry_run_notes(manifest)]))
            result.basis = self.basis(manifest.names)
            return result
        manifest = await building.build_services(self.ctx, manifest, build_on, output)
        # a rollout a dead command left is finished first (those of the manifest's services
        # to the end of their batch: this apply may replace them)
        self.ctx.held.update(manifest.values)  # secrets/configs: kept in this process's memory (delivery.py)
        await self.settle_rollouts(halt=manifest.names)
        self._traffic_loop()
        for name in manifest.names:  # a rollout in progress stops at its batch boundary
            await self.rollout_tasks.halt(name)
        await self.prefetch(manifest.services)
        async with self.lock:
            self._check_basis(expect)  # again: another command may have changed them meanwhile
            result, started, rolling = await applying.commit(self.ctx, applying.plan_apply(self.ctx, manifest))
        await self._wait(started, result)
        await self._start_dependants(manifest, result)
        for name, ro in zip(rolling, await asyncio.gather(*(self.rollout_tasks.run(n) for n in rolling))):
            self._rollout_result(name, ro, result)
        await traffic.sync_all(self.ctx)  # the edge proxies in line before the command ends
        return result

    async def _start_dependants(self, manifest: Manifest, result: ApplyResult) -> None:
        """depends_on: start, step by step, the replicas held back until their dependencies
        reached their condition (ordering.py); those still held back at the end (a dependency
        failed or did not get there in time) are reported with why."""
        if not any(s.depends_on for s in manifest.services):
            return
        while True:
            async with self.lock:
                desired = planning.desired(self.ctx)
                p = planning.plan_for(self.ctx, desired, manifest.names)
                held = ordering.held_back(self.ctx, desired)
                started = await deploy.execute(self.ctx, Plan(starts=p.starts), desired, result)
            if not started:
                break
            await self._wait(started, result)
        for name in sorted({s.service for s in p.starts if s.service in held}):
            result.failed.append(f"{name}: not started: {held[name]}")

    async def settle_rollouts(self, halt: Iterable[str] = (), skip: Iterable[str] = ()) -> None:
        """Carry on the rollouts a dead command left in progress (controller/interrupted.py);
        every command that changes the state calls it first."""
        await interrupted.settle(self.ctx, self.rollout_tasks, halt=halt, skip=skip)

    def _rollout_result(self, name: str, ro: Rollout | None, result: ApplyResult) -> None:
        if ro is None:
            return
        began = result.rollouts.get(name, "rollout")
        result.rollouts[name] = f"{began}: {ro.state.value}: {ro.message or ro.progress}"
        if ro.state != RolloutState.COMPLETED:
            result.failed.append(f"{name}: rollout to revision {ro.to_revision} {ro.state.value}: "
                                 f"{ro.message or ro.progress}")

    async def prefetch(self, specs: Iterable[ServiceSpec]) -> None:
        """Bring the images of ``specs`` to the nodes that will need them (where a plan puts
        new replicas, and where their replicas run now, for a rollout) without holding the
        lock, so that copying an image never holds up restarts and other commands. Failures
        are left for the start itself to report."""
        specs = list(specs)
        async with self.lock:  # planning only: no I/O
            desired = planning.desired(self.ctx)
            desired.update({spec.name: (spec, 0) for spec in specs})
            p = planning.plan_for(self.ctx, desired, [spec.name for spec in specs])
            wanted = {(s.node, desired[s.service][0].image) for s in p.starts}
            wanted |= {(r.node, desired[r.service][0].image) for spec in specs for r in self._store.replicas(spec.name)}
        jobs = [deploy.bring_image(self.ctx, self._fleet.nodes[node], image) for node, image in sorted(wanted)
                if node in self._fleet.nodes and self._fleet.nodes[node].status.state == NodeState.READY]
        await asyncio.gather(*jobs, return_exceptions=True)

    async def remove(self, service: str) -> ApplyResult:
        """Stop every replica of ``service`` and forget it."""
        result = ApplyResult()
        await self.settle_rollouts(skip=[service])
        await self.rollout_tasks.cancel(service)  # its state is stored; nothing of it is wanted now
        async with self.lock:
            # a service the state lost (unowned.py): its containers without a record go too
            leftovers = [] if self._store.known(service) else await observe.unowned_containers(self.ctx, service)
            if self._store.get_service(service) is None and not self._store.replicas(service) and not leftovers:
                raise TuiOrchError(f"there is no service {service}; see `tui-orch get services`")
            if self._store.get_service(service) is not None:
                self._store.update_service(service, removed=True)
            reps = self._store.replicas(service)
            ro = load_rollout(self.ctx, service)
            retiring = retired(ro).values()
            await asyncio.gather(*(deploy.stop_replica(self.ctx, r, f"service {service} removed") for r in reps),
                                 *(deploy.remove_container(self.ctx, r.node, r.container_id, 1.0)
                                   for r in retiring if r.container_id))
            result.stopped = [r.key for r in reps]
            # and those no record stands for (a replacement whose starter died before recording it)
            await asyncio.gather(*(deploy.remove_container(self.ctx, node, c.id, 1.0)
                                   for node, c in await deploy.owned_containers(self.ctx, service)))
            self._store.remove_replicas([r.key for r in self._store.replicas(service)])
            self._store.remove_service(service)  # with its revisions and rollout
            homes.forget_service(self.ctx, service)  # its volumes stay on the nodes; it pins nothing now
            await delivery.prune(self.ctx)  # its secrets and configs leave the nodes
            self.bus.publish(event("remove", f"service {service} removed ({len(reps)} replicas stopped)",
                                   service=service))
        await traffic.sync_all(self.ctx)  # its ports leave the edge proxies (the last one: the proxies go)
        async with self.lock:  # after its mesh proxies went (sync_all): its networks nothing else uses
            await networks.prune(self.ctx)
        return result

    async def scale(self, service: str, replicas: int) -> ApplyResult:
        """Set the replica count of a deployed service (until the next apply of its manifest).
        From 0 to the most a manifest may ask (MAX_REPLICAS), whoever asks."""
        if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= MAX_REPLICAS:
            raise TuiOrchError(f"{service}: {replicas} replicas is out of range; scale takes 0 to {MAX_REPLICAS}")
        result = ApplyResult()
        await self.settle_rollouts()
        self._traffic_loop()
        async with self.lock:
            rec = self._store.get_service(service)
            if rec is None or rec.removed:
                raise TuiOrchError(f"there is no service {service}; deploy it with `tui-orch apply -f FILE`")
            spec = planning.revision_spec(self.ctx, service, rec.revision)
            if spec is not None and spec.mode == "global":
                raise TuiOrchError(f"service {service} is global (one replica per node); it cannot be scaled")
            self._store.update_service(service, replicas=replicas)
            self.bus.publish(event("scale", f"{service} scaled to {replicas}", service=service))
            desired = planning.desired(self.ctx)
            p = planning.plan_for(self.ctx, desired, [service])
            result.plan = p.describe()
            result.unschedulable = [str(u) for u in p.unschedulable]
            started = await deploy.execute(self.ctx, p, desired, result)
        await self._wait(started, result)
        await traffic.sync_all(self.ctx)  # the edge proxies in line before the command ends
        return result

    # ------------------------------------------------------------------ rollouts
    async def rollout_restart(self, service: str, wait: bool = True) -> Rollout:
        """Replace every replica by a fresh one, batch by batch (a new revision, same spec)."""
        self._traffic_loop()
        return await self._synced(rollout_ops.restart(self.ctx, self.rollout_tasks, service, wait))

    async def _synced(self, command: Awaitable[T]) -> T:
        """A command's result once the edge proxies are in line with what it did (traffic.py)."""
        out = await command
        await traffic.sync_all(self.ctx)
        return out

    def rollout_pause(self, service: str) -> Rollout:
        """Pause the rollout of ``service`` after its current batch."""
        return rollout_ops.pause(self.ctx, service)

    async def rollout_resume(self, service: str, wait: bool = True) -> Rollout:
        self._traffic_loop()
        return await self._synced(rollout_ops.resume(self.ctx, self.rollout_tasks, service, wait))

    async def rollout_undo(self, service: str, to_revision: int | None = None, wait: bool = True) -> Rollout:
        """Roll back to ``to_revision`` (default: the previous one) with the rollback_config."""
        self._traffic_loop()
        return await self._synced(rollout_ops.undo(self.ctx, self.rollout_tasks, service, to_revision, wait))

    def rebalance_plan(self) -> Rebalance:
        """What a rebalance would move and how many nodes it would free (nothing changes)."""
        return rollout_ops.rebalance_plan(self.ctx)

    async def rebalance(self) -> RebalanceResult:
        """Move replicas start-first, service by service and batch by batch, to free whole
        nodes (rollout_ops.rebalance): what it freed and each service's rollout."""
        self._traffic_loop()
        return await self._synced(rollout_ops.rebalance(self.ctx, self.rollout_tasks))

    def rollout_status(self, service: str) -> Rollout | None:
        return rollout_ops.status(self.ctx, service)

    def rollout_history(self, service: str) -> list[Revision]:
        return rollout_ops.history(self.ctx, service)

    def rollouts(self) -> dict[str, Rollout]:
        """The rollout record of every service that has one (in progress or last finished)."""
        return {name: from_dict(Rollout, data) for name, data in self._store.rollouts().items()}

    # ------------------------------------------------------------------ carrying out a plan
    async def _wait(self, started: list[Replica], result: ApplyResult) -> None:
        done = await asyncio.gather(*(self.reconciler.watch(r) for r in started))
        for rep in done:
            if ordering.completed(rep):
                result.completed.append(rep.key)
            elif rep.state == ReplicaState.RUNNING:
                result.started.append(rep.key)
            else:
                result.failed.append(f"{rep.key} on {rep.node}: {rep.message or rep.state.value}")

    # ------------------------------------------------------------------ volumes
    async def volume_move(self, replica: str, node: str,
                          progress: Callable[[str, str, int, float], None] | None = None) -> MoveResult:
        """Move ``SERVICE[.SLOT]`` to ``node`` with its named volumes (volume_move.py);
        ``progress(volume, phase, bytes, seconds)`` while copying. TuiOrchError before
        anything changed, MoveFailed (a TuiOrchError) once undone."""
        await self.settle_rollouts()
        service, slot = volume_move.parse_replica(replica)
        return await volume_move.move(self.ctx, self.reconciler.watch, service, slot, node, progress)

    async def volume_remove(self, name: str, node: str | None = None) -> str:
        """Remove a volume no replica uses (volume_ops.py); returns one sentence."""
        return await volume_ops.remove(self.ctx, name, node)

    # ------------------------------------------------------------------ node availability
    async def cordon(self, node: str) -> str:
        """``node`` keeps its replicas and gets no new ones; returns what happened (one sentence)."""
        await self.settle_rollouts()
        return await availability.cordon(self.ctx, node)

    async def drain(self, node: str) -> ApplyResult:
        """``node`` gets nothing new and its replicas move to other nodes (stopped there first)."""
        await self.settle_rollouts()
        result, started = await availability.drain(self.ctx, node)
        await self._wait(started, result)
        self.reconciler.wake()
        return result

    async def uncordon(self, node: str) -> str:
        """``node`` is schedulable again; a running reconcile loop places what waits for room."""
        await self.settle_rollouts()
        message = await availability.uncordon(self.ctx, node)
        self.reconciler.wake()
        return message
