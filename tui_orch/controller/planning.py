"""The desired state and the plan that reaches it, read from a Context: pure reads of the
store and the fleet (no I/O), shared by commands, the reconcile loop and rollouts."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable

from tui_orch import placement
from tui_orch.controller import homes
from tui_orch.controller.context import Context
from tui_orch.controller.unowned import owned_replicas
from tui_orch.model import Availability, NodeInfo, NodeState, ServiceSpec
from tui_orch.placement import Plan

Desired = dict[str, tuple[ServiceSpec, int]]  # service -> (spec, revision)
PLAN_IN_THREAD = 5000  # replicas held from which the full pass plans in a thread (plan_all)


def restrict(p: Plan, services: set[str]) -> Plan:
    """The moves of ``p`` that concern ``services``."""
    return Plan(
        starts=tuple(s for s in p.starts if s.service in services),
        stops=tuple(s for s in p.stops if s.key.split(".", 1)[0] in services),
        keeps=tuple(k for k in p.keeps if k.split(".", 1)[0] in services),
        unschedulable=tuple(u for u in p.unschedulable if u.service in services),
        notes=p.notes,
    )


def revision_spec(ctx: Context, service: str, number: int) -> ServiceSpec | None:
    rev = ctx.store.revision(service, number)
    return rev.spec if rev else None


def desired(ctx: Context) -> Desired:
    """Each desired service: its spec (scale override applied) and revision."""
    out: Desired = {}
    for rec in ctx.store.services():
        rev = ctx.store.revision(rec.name, rec.revision)
        if rec.removed or rev is None:
            continue
        spec = rev.spec if rec.replicas is None else dataclasses.replace(rev.spec, replicas=rec.replicas)
        out[rec.name] = (spec, rec.revision)
    return out


def not_ready_since(ctx: Context, name: str) -> float:
    """When node ``name`` stopped being Ready. Its status's ``since`` counts from its latest
    state only, and NotReady -> Unreachable (after 3 failed reconnects) is the same outage:
    the grace period counts from its beginning."""
    status = ctx.fleet.nodes[name].status
    return min(ctx.readiness.down_since.get(name, status.since), status.since)


def ingress_ports(wanted: Desired) -> frozenset[int]:
    """The published ingress ports of ``wanted``: every node's edge proxy listens on them, so
    no replica may be given one as its host port (issue 13)."""
    return frozenset(p.published for spec, _rev in wanted.values() for p in spec.ports
                     if p.ingress and p.published is not None)


def node_infos(ctx: Context, wanted: Desired | None = None) -> list[NodeInfo]:
    """Nodes as the planner sees them. A node NotReady for less than the grace period
    is shown Ready but cordoned: it keeps its replicas and gets nothing new. The ingress ports
    of the desired services (``wanted``, else the store's) count as bound on every node."""
    now = time.time()
    infos = []
    edge = ingress_ports(desired(ctx) if wanted is None else wanted)
    for info in ctx.fleet.node_infos(ctx.store.availability()):
        if edge:
            info = dataclasses.replace(info, ports_in_use=info.ports_in_use | edge)
        if (info.state != NodeState.READY and now - not_ready_since(ctx, info.name) < ctx.timeouts.grace
                and info.name in ctx.readiness.seen_ready):
            availability = Availability.CORDONED if info.availability == Availability.ACTIVE else info.availability
            info = dataclasses.replace(info, state=NodeState.READY, availability=availability)
        infos.append(info)
    return infos


def homes_for(ctx: Context, wanted: Desired) -> dict[str, str]:
    """Replica key -> the node its data is on, for the services of ``wanted`` (homes.py):
    the planner places such a replica there only, or lets it wait."""
    return homes.homes(ctx, {name: spec for name, (spec, _) in wanted.items()})


def plan_for(ctx: Context, wanted: Desired, services: Iterable[str] | None = None,
             adopting: Iterable[str] = ()) -> Plan:
    """Plan all desired services (missing replicas start at the desired revision; replicas
    of an older one are kept: only a rollout replaces them); the moves returned concern
    ``services`` (all when None). ``adopting``: services about to be stored (an apply)."""
    # replicas of services the state does not know are not planned: never stopped (unowned.py)
    held = owned_replicas(ctx.store, adopting)
    full = placement.plan([s for s, _ in wanted.values()], node_infos(ctx, wanted), held, homes=homes_for(ctx, wanted))
    return full if services is None else restrict(full, set(services))


async def plan_all(ctx: Context, wanted: Desired) -> Plan:
    """``plan_for(ctx, wanted)`` for the reconcile loop's full pass. Its inputs are read here;
    the planning itself (pure: frozen specs, node infos and replica records) runs in a thread
    once the fleet holds PLAN_IN_THREAD replicas or more: with 100,000 replicas on 10,000
    nodes a plan takes seconds, and the console (sharing this event loop) answered no key
    meanwhile. The thread takes turns with the loop (the console sets a short switch
    interval), so keys are answered while it plans."""
    held = owned_replicas(ctx.store)
    args = ([s for s, _ in wanted.values()], node_infos(ctx, wanted), held)
    homes = homes_for(ctx, wanted)
    if len(held) < PLAN_IN_THREAD:
        return placement.plan(*args, homes=homes)
    return await asyncio.to_thread(placement.plan, *args, homes=homes)
