"""Cordon, drain and uncordon a node: the operator's say on where replicas may run.

The store keeps each node's availability; the planner reads it. Cordoned: the node keeps
its replicas and gets no new ones. Draining: it gets nothing new and its replicas move to
other nodes (``drain`` carries that out at once: stop on the node, then start elsewhere;
a global service's replica there is only stopped). Active (uncordon): schedulable again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tui_orch.controller import deploy, planning
from tui_orch.controller.events import event
from tui_orch.controller.results import ApplyResult
from tui_orch.errors import TuiOrchError
from tui_orch.model import Availability, Replica, ReplicaState
from tui_orch.placement import Plan

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

GONE = (ReplicaState.STOPPING, ReplicaState.STOPPED, ReplicaState.LOST)


def unknown_node(node: str, names: Iterable[str]) -> TuiOrchError:
    known = ", ".join(sorted(names)) or "none"
    return TuiOrchError(f"there is no node {node} in the inventory; known nodes: {known}")


def check_node(ctx: "Context", node: str) -> None:
    """A node of the inventory, or one sentence naming the known ones."""
    if node not in ctx.fleet.nodes:
        raise unknown_node(node, ctx.fleet.nodes)


def _replicas_on(ctx: "Context", node: str) -> int:
    return sum(1 for r in ctx.store.replicas() if r.node == node and r.state not in GONE)


def _plural(n: int) -> str:
    return f"{n} replica{'s' if n != 1 else ''}"


async def cordon(ctx: "Context", node: str) -> str:
    """The node keeps what it runs and gets nothing new; returns the event's sentence."""
    check_node(ctx, node)
    async with ctx.lock:
        ctx.store.set_availability(node, Availability.CORDONED)
        message = f"{node} cordoned: it keeps its {_plural(_replicas_on(ctx, node))} and gets no new ones"
        ctx.bus.publish(event("node", message, node=node))
    return message


async def uncordon(ctx: "Context", node: str) -> str:
    """The node is schedulable again (the caller wakes the reconcile loop to place what
    waits for room)."""
    check_node(ctx, node)
    async with ctx.lock:
        ctx.store.set_availability(node, Availability.ACTIVE)
        message = f"{node} uncordoned: new replicas may be placed there again"
        ctx.bus.publish(event("node", message, node=node))
    return message


def drain_plan(full: Plan, node: str, staying: Iterable[str] = ()) -> Plan:
    """The moves of ``full`` that take replicas off ``node``: its stops, and the starts that
    replace them (same slot) elsewhere; the replicas ``staying`` there (keys: their data is on
    the node, so they wait for it) are said as unschedulable."""
    stops = tuple(s for s in full.stops if s.node == node)
    moved = {s.key for s in stops} | set(staying)
    starts = tuple(s for s in full.starts if s.slot and f"{s.service}.{s.slot}" in moved)
    unschedulable = tuple(u for u in full.unschedulable if u.slot and f"{u.service}.{u.slot}" in moved)
    return Plan(starts=starts, stops=stops, unschedulable=unschedulable)


async def drain(ctx: "Context", node: str) -> tuple[ApplyResult, list[Replica]]:
    """Mark the node draining and move its replicas to other nodes now: each is stopped on
    the node, then started elsewhere (stop-first); returns the result so far and the
    replicas started, for the caller to wait for."""
    check_node(ctx, node)
    result = ApplyResult()
    async with ctx.lock:
        ctx.store.set_availability(node, Availability.DRAINING)
        count = _replicas_on(ctx, node)
        ctx.bus.publish(event("node", f"{node} draining: its {_plural(count)} move to other nodes", node=node))
        wanted = planning.desired(ctx)
        homed = planning.homes_for(ctx, wanted)
        staying = [r.key for r in ctx.store.replicas() if r.node == node and homed.get(r.key) == node]
        p = drain_plan(planning.plan_for(ctx, wanted), node, staying)
        result.plan = p.describe()
        result.unschedulable = [str(u) for u in p.unschedulable]
        for u in p.unschedulable:
            if u.key in staying:  # its data is on the node: it stays, and the operator may move it
                ctx.bus.publish(event("node", f"{u.key} stays on draining {node}: it {u.reason}", service=u.service,
                                      replica=u.key, node=node, level="warning"))
        started = await deploy.execute(ctx, p, wanted, result)
    return result, started
