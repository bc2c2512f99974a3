"""Restarts of the reconcile loop (a mixin of ``Reconciler``, reconcile.py): a replica that
died or turned unhealthy is recorded and restarted as its service's restart_policy says
(restarts.py decides when), each restart an event; one whose restarts ran out is placed on
another node if one fits."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from tui_orch.controller import binds, deploy, placing, planning
from tui_orch.controller.events import event
from tui_orch.controller.restarts import RestartTracker, decide
from tui_orch.model import NodeState, Replica, ReplicaState
from tui_orch.placement.homes import data_line

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

DOWN = (ReplicaState.STOPPING, ReplicaState.STOPPED, ReplicaState.LOST, ReplicaState.FAILED)


class Restarting:
    """The restart half of the Reconciler; its state is declared (and set up) there."""

    ctx: Context
    trackers: dict[str, RestartTracker]
    pending: dict[str, asyncio.Task[None]]  # replica key -> scheduled restart
    _oom: set[str]
    _handled: set[str]

    if TYPE_CHECKING:
        async def watch(self, rep: Replica) -> Replica: ...

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
            if spec.one_shot and exit_code == 0:  # a job that ran to success: not a failure
                deploy.update_replica(self.ctx, rec.key, rec.container_id, message=deploy.COMPLETED)
                self.ctx.bus.publish(event("complete", f"{rec.key} on {rec.node} completed (exit 0)",
                                           **common))  # type: ignore[arg-type]
                return
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
                # a replica that could not bind its ports gets others, or another node (binds.py)
                node_name, ports = await binds.next_start(self.ctx, rec, spec) or (rec.node, rec.ports)
                if rec.container_id:
                    await deploy.remove_container(self.ctx, rec.node, rec.container_id, grace=1.0)
                new = await deploy.start_replica(self.ctx, spec, rec.revision, rec.slot, node_name, ports,
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
                if planning.homes_for(self.ctx, {spec.name: (spec, rec.revision)}).get(rec.key) == rec.node:
                    self.ctx.bus.publish(event("reschedule", f"{rec.key} stays failed on {rec.node}: {data_line(spec)}",
                                               service=rec.service, replica=rec.key, node=rec.node, level="error"))
                    return  # started empty elsewhere, it would lose its data's writes
                # its node cordoned for this placement: its replicas still hold their host ports
                p = placing.place(self.ctx, spec, [rec.slot], without=(rec.key,), avoid=(rec.node,))
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
