"""What a full pass of the reconcile loop checks against the nodes (a mixin of
``Reconciler``, reconcile.py): replicas of nodes NotReady past the grace period are LOST;
containers that no record stands for are removed (those of services the state does not know
are kept and reported: unowned.py), a lost replica's copy that still runs when its node comes
back is adopted again; deaths the events missed and vanished containers are caught up."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING

from tui_orch.controller import deploy, homes, lost, planning, unowned
from tui_orch.controller.containers import LABEL_OWNER
from tui_orch.controller.events import event
from tui_orch.controller.restarting import DOWN
from tui_orch.controller.rollout import retiring_containers
from tui_orch.errors import NodeError
from tui_orch.model import Health, NodeState, Replica, ReplicaState
from tui_orch.nodes.base import LABEL_REPLICA, ContainerInfo

if TYPE_CHECKING:
    from tui_orch.controller.context import Context


class Sweep:
    """The checks of a full pass; the Reconciler declares (and sets up) the state below."""

    ctx: Context
    pending: dict[str, asyncio.Task[None]]
    _oom: set[str]
    _retiring: set[asyncio.Future[bool]]
    _watching: set[str]
    unowned: dict[str, set[str]]
    unowned_containers: tuple[unowned.UnownedContainer, ...]

    if TYPE_CHECKING:
        def failed(self, rec: Replica, *, exit_code: int | None, unhealthy: bool = False) -> None: ...

    async def tidy(self, actual: dict[str, list[ContainerInfo]]) -> None:
        """What a command does before it acts (Controller.catch_up), with the nodes' listings
        ``actual``: the containers no record stands for are removed or adopted as by a full
        pass, and the replacements an adoption retires are gone before it returns."""
        async with self.ctx.lock:
            await self._remove_orphans(actual)
            lost.forget_seen(self.ctx.store, actual)
            self._back_home(actual)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)

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
            # a copy that still runs when its node comes back is kept if its replacement has not
            # passed the health gate: its record is kept in the store, for any controller (lost.py)
            self.ctx.store.put_lost_copy(rec)
            # one whose data is on that node waits there (the planner does not place it elsewhere)
            waits = homes.waiting(self.ctx, rec, planning.revision_spec(self.ctx, rec.service, rec.revision))
            message, said = waits or (f"node {rec.node} is not Ready",
                                      f"{rec.key} lost with node {rec.node}; placing it elsewhere")
            self.ctx.store.put_replica(dataclasses.replace(rec, state=ReplicaState.LOST, message=message))
            self.ctx.bus.publish(event("lost", said, service=rec.service, replica=rec.key, node=rec.node,
                                       level="warning"))

    async def _remove_orphans(self, actual: dict[str, list[ContainerInfo]]) -> None:
        """Remove our containers that no record wants, of services the state knows; report
        those of services it does not know as unowned and keep them (unowned.py)."""
        store = self.ctx.store
        wanted = {r.container_id for r in store.replicas() if r.container_id}
        wanted |= retiring_containers(self.ctx)  # start-first: old ones still serving
        found_unowned = unowned.unowned_records(store, store.replicas())
        found_containers: list[unowned.UnownedContainer] = []
        jobs = []
        for node, found in actual.items():
            for c in found:
                if c.id in wanted or not c.label(LABEL_REPLICA) or c.label(LABEL_OWNER) != self.ctx.owner:
                    continue  # wanted, not made by a controller, or made by another one
                if (service := unowned.unowned_service(store, c)) is not None:
                    found_unowned.setdefault(service, set()).add(node)
                    found_containers.append(unowned.UnownedContainer.of(service, node, c))
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
        self.unowned_containers = tuple(found_containers)

    def _adopt(self, c: ContainerInfo) -> bool:
        """Keep ``c``, the running copy of a replica that was lost with its node, when the
        node is back and the replacement has not passed the health gate: the copy stands for
        the replica again and the replacement is retired (a healthy copy is never removed for
        a replacement that does not serve)."""
        old = self.ctx.store.take_lost_copy(c.id)
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

    def _back_home(self, actual: dict[str, list[ContainerInfo]]) -> None:
        """A replica that waited, lost, for the node of its data (homes.py) runs again as it was
        when its container still runs there, healthy: a database is not restarted for nothing."""
        by_id = {c.id: c for found in actual.values() for c in found}
        for rec in self.ctx.store.replicas():
            c = by_id.get(rec.container_id or "") if rec.state == ReplicaState.LOST and rec.node in actual else None
            if c is None or c.status != "running" or c.health not in ("healthy", "none"):
                continue
            if homes.waiting(self.ctx, rec, planning.revision_spec(self.ctx, rec.service, rec.revision)) is None:
                continue  # not one that waited: the planner replaced it or places it anew
            self.ctx.store.put_replica(dataclasses.replace(rec, state=ReplicaState.RUNNING, message="",
                                                           health=Health(c.health)))
            self.ctx.bus.publish(event("reschedule", f"{rec.key} is back with {rec.node}, where its data is: its "
                                       "container still runs there, kept", service=rec.service, replica=rec.key,
                                       node=rec.node))

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
