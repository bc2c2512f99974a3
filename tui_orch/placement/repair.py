"""Repair and packing: what a plan's greedy choices miss, mended by moving replicas of the
same plan (never a running, global or homed one).

The batch is placed greedily, one service at a time, so an early choice can take the room
later replicas needed: a node holds a replica that would fit elsewhere while a larger one fits
nowhere. ``repair`` takes one planned replica off a node, or two of it, or one of it and one of
another node (node by node, in name order; a replica on another node of the same host counts,
for its host ports), places the left-out replicas by the usual score, smallest first, then the
moved ones anywhere, and keeps the first exchange that leaves fewer replicas out; then it
starts again. A moved replica that fits nowhere stays out only when that places more than it
leaves out (one 3-cpu replica for two 2-cpu ones). ``pack`` empties nodes the plan opened
when their new replicas fit on the other nodes in use. Every hard rule is checked by the
filters of any placement (``NodePool.cost``: state, constraints, resources, host ports of
shared hosts, max_replicas_per_node).

Each exchange is tried on a copy of the pool, after a cheap check of the numbers (would a
left-out replica fit once the others left?), within a budget counted in units of work (about
50 ms on an idle machine for ``repair``, 150 ms for ``pack``), not in time: the same input
gives the same plan on any machine. ``pack`` starts only when the nodes it could empty are
more than the demand on them needs (a lower bound), and stops when they are not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import combinations

import numpy as np

from tui_orch.placement.engine import Placer
from tui_orch.placement.pool import INF, NodePool, Request
from tui_orch.placement.reasons import no_node_fits
from tui_orch.placement.result import Start, Unschedulable

# The budget of one plan's exchanges, in units of about 1 us of work on an idle machine (about
# 5 us measured on a machine loaded 5 times over): a copy of the pool costs _COPY plus one per
# node, scoring every node for one replica _SCORE plus one per 10 nodes, a check of the
# numbers one.
BUDGET = 50_000
PACK_BUDGET = 150_000  # packing, for batches of up to search_limit replicas: it tries more, on fewer nodes
_COPY, _SCORE = 60, 100


class _Job:
    """What the exchanges of one plan share: the batch's requests and reasons, the budget left,
    and whether a replica may join a node that has more replicas of its service than any
    node had (repair: yes, a placed replica beats spreading; packing: no)."""

    def __init__(self, requests: Mapping[str, Request], whys: Mapping[tuple[str, int], str], budget: int,
                 spread: Mapping[str, int] | None = None) -> None:
        self.requests, self.whys, self.left, self.spread = requests, whys, budget, spread

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
    job = _Job(requests, whys, budget)
    notes: list[str] = []
    out = [u for u in failed if u.node or u.service not in requests]  # global replicas: not ours
    todo = [u for u in failed if not (u.node or u.service not in requests)]
    todo.sort(key=lambda u: _size(fleet, requests[u.service]))  # the smallest first: the most fit
    before = {id(s) for s in starts}
    while todo:
        found = _exchange(fleet, starts, todo, job)
        if found is None:
            break
        fleet, starts, todo, note = found
        notes.append(note)
        todo.sort(key=lambda u: _size(fleet, requests[u.service]))
    if notes:
        starts, todo = _lowest_slots(starts, todo, whys)
        # The reasons of the services that took part in an exchange, as the pool now stands.
        touched = {s.service for s in starts if id(s) not in before} & {u.service for u in todo}
        reasons = {name: no_node_fits(fleet, requests[name], fleet.counts_array(name)) for name in touched}
        todo = [u._replace(reason=reasons[u.service]) if u.service in reasons else u for u in todo]
    return fleet, starts, out + todo, notes


def pack(
    fleet: NodePool, starts: list[Start], requests: dict[str, Request], whys: Mapping[tuple[str, int], str] = {},
    budget: int = PACK_BUDGET,
) -> tuple[NodePool, list[Start], int]:
    """Empty nodes the plan opened: the node with the least of the batch's demand first, its
    replicas onto the other nodes in use (directly, else by the same exchanges as ``repair``),
    never onto an empty node and never more replicas of a service on a node than the plan had
    put on one (spreading stays). Only nodes that run nothing but replicas of this batch, of
    services without spread preferences, are emptied. Returns the pool, the starts and how
    many nodes were emptied."""
    most = {name: max(fleet.counts.get(name, {}).values(), default=1) for name in requests}
    job = _Job(requests, whys, budget, spread=most)
    emptied = 0
    nodes = _emptiable(fleet, starts, requests)  # the least loaded first
    if len(nodes) <= _fewest(fleet, nodes):
        return fleet, starts, 0  # as few as the demand allows: nothing to gain
    for i in nodes:
        found = _empty(fleet, starts, i, job)
        if found is None:
            if job.left < 0:
                break
            continue
        fleet, starts = found
        emptied += 1
        if len(nodes) - emptied <= _fewest(fleet, nodes):
            break
    return fleet, starts, emptied


def _fewest(fleet: NodePool, nodes: list[int]) -> int:
    """A lower bound of how many of ``nodes`` must stay in use: their reserved cpu and memory,
    less the room left on the other nodes in use, on the largest of them."""
    if not nodes:
        return 0
    idx = np.array(nodes)
    others = (fleet.nrep > 0) & fleet.schedulable
    others[idx] = False
    need_c = float((fleet.alloc_c[idx] - fleet.free_c[idx]).sum() - fleet.free_c[others].sum())
    need_m = float((fleet.alloc_m[idx] - fleet.free_m[idx]).sum() - fleet.free_m[others].sum())
    k = 0
    for big, need in ((np.sort(fleet.alloc_c[idx])[::-1], need_c), (np.sort(fleet.alloc_m[idx])[::-1], need_m)):
        if need > 0:
            k = max(k, int(np.searchsorted(np.cumsum(big), need)) + 1)
    return k


def _emptiable(fleet: NodePool, starts: list[Start], requests: Mapping[str, Request]) -> list[int]:
    """The nodes ``pack`` may empty, the least loaded (by the batch's dominant share) first."""
    load: dict[int, float] = {}
    count: dict[int, int] = {}
    barred: set[int] = set()
    for s in starts:
        i = fleet.index[s.node]
        load[i] = load.get(i, 0.0) + _size(fleet, requests[s.service])[0]
        count[i] = count.get(i, 0) + 1
        if requests[s.service].prefs:
            barred.add(i)
    return sorted((i for i in load if i not in barred and count[i] == fleet.nrep[i]), key=lambda i: (load[i], i))


def _empty(fleet: NodePool, starts: list[Start], i: int, job: _Job) -> tuple[NodePool, list[Start]] | None:
    """Move every replica of the batch off node ``i`` onto other nodes in use, or None."""
    if not job.spend(_COPY + fleet.n):
        return None
    trial = fleet.copy()
    trial.base = trial.base.copy()
    trial.base[(trial.nrep == 0) | (np.arange(trial.n) == i)] = INF  # never onto an empty node, nor back
    trial._base_by = {}
    mine = [s for s in starts if trial.index[s.node] == i]
    for s in mine:
        trial.remove(i, s.service, job.requests[s.service].rc, job.requests[s.service].rm, s.ports)
    placer = Placer(trial)
    kept = [s for s in starts if trial.index[s.node] != i]
    left: list[Unschedulable] = []
    for s in sorted(mine, key=lambda s: _size(trial, job.requests[s.service]), reverse=True):  # largest first
        if not _put(placer, job.requests[s.service], s.slot, s.why, kept, job):
            left.append(Unschedulable(s.service, s.slot, ""))
    while left:
        found = _exchange(trial, kept, left, job)
        if found is None:
            return None
        trial, kept, left, _ = found
    return trial, kept


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
    fleet: NodePool, starts: list[Start], todo: list[Unschedulable], job: _Job,
) -> tuple[NodePool, list[Start], list[Unschedulable], str] | None:
    """The first exchange that leaves fewer of ``todo`` out: (pool, starts, left out, note)."""
    on: dict[int, list[int]] = {}  # node -> positions in ``starts`` of the replicas there
    for k, s in enumerate(starts):
        on.setdefault(fleet.index[s.node], []).append(k)
    requests = job.requests
    wanted = list({requests[u.service] for u in todo})
    # a node's host matters only for host ports: without any, nodes that share a host are
    # searched exactly as nodes of their own (the plan must not change with host ids alone)
    ported = any(r.layout for r in requests.values())
    host = fleet.host if ported else range(fleet.n)
    hosts = {host[i] for i in on}
    for i in (i for i in range(fleet.n) if host[i] in hosts):
        near = [k for j in (fleet.group_of(i) if ported else (i,)) for k in on.get(j, ())]
        for group in _groups(near, len(starts)):
            moved = [requests[starts[k].service] for k in group if fleet.index[starts[k].node] == i]
            if not job.spend(len(wanted)):
                return None
            if not any(_roomy(fleet, i, req, moved) for req in wanted):
                continue
            if not job.spend(_COPY + fleet.n + 2 * len(todo)):
                return None
            done = _try(fleet, starts, todo, job, group)
            if done is not None:
                return done
    return None


def _groups(near: list[int], total: int) -> Iterator[tuple[int, ...]]:
    """The replicas to move for room on one node: one of ``near`` (the node's and its host's),
    two of them, then one of them and any other of the ``total`` (which may make room for a
    replica of the second's node, which then takes the first's place)."""
    yield from combinations(near, 1)
    yield from combinations(near, 2)
    mine = set(near)
    for a in near:
        for b in range(total):
            if b not in mine:
                yield a, b


def _roomy(fleet: NodePool, i: int, req: Request, moved: Sequence[Request]) -> bool:
    """Whether node ``i`` would hold ``req`` by its resources (and constraints) once replicas
    of ``moved`` left it."""
    rc = sum(r.rc for r in moved)
    rm = sum(r.rm for r in moved)
    return (fleet.free_c[i] + rc >= req.rc and fleet.free_m[i] + rm >= req.rm
            and fleet.base_for(req.constraints)[i] < INF)


def _try(
    fleet: NodePool, starts: list[Start], todo: list[Unschedulable], job: _Job, group: tuple[int, ...],
) -> tuple[NodePool, list[Start], list[Unschedulable], str] | None:
    """On a copy: take ``group`` off their nodes, place ``todo``, then the moved ones."""
    requests = job.requests
    trial = fleet.copy()
    placer = Placer(trial)
    moved = [starts[k] for k in group]
    for s in moved:
        trial.remove(trial.index[s.node], s.service, requests[s.service].rc, requests[s.service].rm, s.ports)
    placed: list[Start] = []
    left: list[Unschedulable] = []
    freed = {j for s in moved for j in trial.group_of(trial.index[s.node])}  # room, or a host port
    full: set[str] = set()  # services a replica of which found no room: the next would not either
    for u in todo:
        req = requests[u.service]
        if u.service in full or job.left < 0 or not any(_roomy(trial, j, req, ()) for j in freed):
            left.append(u)
        elif not _put(placer, req, u.slot, job.whys.get((u.service, u.slot), ""), placed, job):
            left.append(u)
            full.add(u.service)
    if len(left) == len(todo):
        return None
    again: list[Start] = []
    for s in moved:
        if not _put(placer, requests[s.service], s.slot, s.why, again, job):
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


def _put(placer: Placer, req: Request, slot: int, why: str, out: list[Start], job: _Job) -> bool:
    """One replica of ``req`` on the best node that takes it, if any."""
    fleet = placer.fleet
    job.spend(_SCORE + fleet.n // 10)  # it ends the search at the next check when it runs out
    counts = fleet.counts_array(req.service)
    cost = fleet.cost(req, counts)
    if job.spread is not None:
        cost[counts >= job.spread.get(req.service, 1)] = INF
    j = int(cost.argmin()) if fleet.n else 0
    if not fleet.n or cost[j] >= INF:
        return False
    placer._commit(req, [j], cost[[j]], [slot], [why], counts, out)
    return True


__all__ = ["BUDGET", "PACK_BUDGET", "pack", "repair"]
