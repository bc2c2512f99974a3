"""Repair: place replicas the greedy left out by moving one or two replicas of the same plan.

The batch is placed greedily, one service at a time, so an early choice can take the room
later replicas needed: a node holds two small replicas and a large one fits nowhere, while the
small ones would fit elsewhere. The repair frees a node of one planned replica, then of two
(node by node, in name order; a replica on another node of its host counts, for its host
ports), places the left-out replicas by the usual score, smallest
first (they can only go where room was freed), then the moved ones anywhere; it keeps the first exchange that
leaves fewer replicas out, and starts again until none does. A moved replica that fits
nowhere else stays out only when that places more replicas than it leaves out (one 3-cpu
replica for two 2-cpu ones). Only replicas this plan starts move (never a running, global or
homed one), and every hard rule is checked by the same filters as any placement
(``NodePool.cost``: state, constraints, resources, host ports of shared hosts,
max_replicas_per_node).

Each exchange is tried on a copy of the pool, after a cheap check of the numbers (would a
left-out replica fit once the others left?), within a budget of node visits (about 50 ms
with 1,000 nodes): the same input gives the same plan on any machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from tui_orch.placement.engine import Placer
from tui_orch.placement.pool import INF, NodePool, Request
from tui_orch.placement.reasons import no_node_fits
from tui_orch.placement.result import Start, Unschedulable

BUDGET = 400_000  # node visits (a copy or a scoring of the pool costs one per node)


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total

    def spend(self, amount: int) -> bool:
        self.left -= amount
        return self.left >= 0


def repair(
    fleet: NodePool, starts: list[Start], failed: list[Unschedulable], requests: dict[str, Request],
    whys: Mapping[tuple[str, int], str] = {}, budget: int = BUDGET,
) -> tuple[NodePool, list[Start], list[Unschedulable], list[str]]:
    """Try to place ``failed`` by moving planned ``starts``; returns the pool, starts, the
    replicas still unplaced (with reasons as they stand), and a note per exchange made.
    ``whys``: (service, slot) -> what the slot's replica replaces, for the slots of the batch."""
    money = _Budget(budget)
    notes: list[str] = []
    out = [u for u in failed if u.node or u.service not in requests]  # global replicas: not ours
    todo = [u for u in failed if not (u.node or u.service not in requests)]
    changed = False
    while todo:
        found = _exchange(fleet, starts, todo, requests, money)
        if found is None:
            break
        fleet, starts, todo, note = found
        notes.append(note)
        changed = True
    if changed:
        starts, todo = _lowest_slots(starts, todo, whys)
        todo = [u._replace(reason=no_node_fits(fleet, requests[u.service], fleet.counts_array(u.service)))
                for u in todo]
    return fleet, starts, out + todo, notes


def _lowest_slots(
    starts: list[Start], left: list[Unschedulable], whys: Mapping[tuple[str, int], str]
) -> tuple[list[Start], list[Unschedulable]]:
    """Give a service's placed replicas its lowest slots, as a greedy plan does (a replica left
    out by an exchange may have had a lower one): the replicas of a service are alike, so only
    the numbers, and the reasons that go with them, change hands."""
    short = {u.service for u in left}
    slots: dict[str, list[int]] = {}
    for x in (*starts, *left):
        if x.service in short:
            slots.setdefault(x.service, []).append(x.slot)
    given: dict[str, list[int]] = {name: sorted(got) for name, got in slots.items()}
    placed = sorted((s for s in starts if s.service in short), key=lambda s: (s.service, s.slot))
    renumbered: dict[int, Start] = {}
    for s in placed:
        slot = given[s.service].pop(0)
        renumbered[id(s)] = s._replace(slot=slot, why=whys.get((s.service, slot), ""))
    rest = [u._replace(slot=given[u.service].pop(0)) for u in sorted(left, key=lambda u: (u.service, u.slot))]
    return [renumbered.get(id(s), s) for s in starts], rest


def _exchange(
    fleet: NodePool, starts: list[Start], todo: list[Unschedulable], requests: dict[str, Request],
    money: _Budget,
) -> tuple[NodePool, list[Start], list[Unschedulable], str] | None:
    """The first exchange that leaves fewer of ``todo`` out: (pool, starts, left out, note)."""
    on: dict[int, list[int]] = {}  # node -> positions in ``starts`` of the replicas there
    for k, s in enumerate(starts):
        on.setdefault(fleet.index[s.node], []).append(k)
    wanted = [requests[u.service] for u in todo]
    hosts = {fleet.host[i] for i in on}
    for i in (i for i in range(fleet.n) if fleet.host[i] in hosts):
        near = [k for j in fleet.group_of(i) for k in on.get(j, ())]  # the node's, and its host's (ports)
        for size in (1, 2):
            for group in combinations(near, size):
                moved = [requests[starts[k].service] for k in group if fleet.index[starts[k].node] == i]
                if not any(_roomy(fleet, i, req, moved) for req in wanted):
                    continue
                if not money.spend(fleet.n * (1 + len(todo) + size)):
                    return None
                done = _try(fleet, starts, todo, requests, group)
                if done is not None:
                    return done
    return None


def _roomy(fleet: NodePool, i: int, req: Request, moved: Sequence[Request]) -> bool:
    """Whether node ``i`` would hold ``req`` by its resources (and constraints) once replicas
    of ``moved`` left it."""
    rc = sum(r.rc for r in moved)
    rm = sum(r.rm for r in moved)
    return (fleet.free_c[i] + rc >= req.rc and fleet.free_m[i] + rm >= req.rm
            and fleet.base_for(req.constraints)[i] < INF)


def _try(
    fleet: NodePool, starts: list[Start], todo: list[Unschedulable], requests: dict[str, Request],
    group: tuple[int, ...],
) -> tuple[NodePool, list[Start], list[Unschedulable], str] | None:
    """On a copy: take ``group`` off their nodes, place ``todo``, then the moved ones."""
    trial = fleet.copy()
    placer = Placer(trial)
    moved = [starts[k] for k in group]
    for s in moved:
        trial.remove(trial.index[s.node], s.service, requests[s.service].rc, requests[s.service].rm, s.ports)
    placed: list[Start] = []
    left: list[Unschedulable] = []
    for u in sorted(todo, key=lambda u: _size(fleet, requests[u.service])):  # the smallest first: the most fit
        if not _put(placer, requests[u.service], u.slot, "", placed):
            left.append(u)
    if len(left) == len(todo):
        return None
    again: list[Start] = []
    for s in moved:
        if not _put(placer, requests[s.service], s.slot, s.why, again):
            left.append(Unschedulable(s.service, s.slot, ""))
    if len(left) >= len(todo):
        return None
    kept = [s for k, s in enumerate(starts) if k not in group]
    where = {(s.service, s.slot): s.node for s in again}
    note = ", ".join(f"{s.key} on {s.node}" for s in placed) + " by moving " + ", ".join(
        f"{s.key} to {where[s.service, s.slot]}" if (s.service, s.slot) in where else f"{s.key} off {s.node}"
        for s in moved)
    return trial, kept + placed + again, left, f"placed {note}"


def _size(fleet: NodePool, req: Request) -> tuple[float, float]:
    """A replica's dominant share of the largest node, then its other share."""
    c, m = req.rc * fleet.sc, req.rm * fleet.sm
    return max(c, m), min(c, m)


def _put(placer: Placer, req: Request, slot: int, why: str, out: list[Start]) -> bool:
    """One replica of ``req`` on the best node that takes it, if any."""
    fleet = placer.fleet
    counts = fleet.counts_array(req.service)
    cost = fleet.cost(req, counts)
    j = int(cost.argmin()) if fleet.n else 0
    if not fleet.n or cost[j] >= INF:
        return False
    placer._commit(req, [j], cost[[j]], [slot], [why], counts, out)
    return True


__all__ = ["BUDGET", "repair"]
