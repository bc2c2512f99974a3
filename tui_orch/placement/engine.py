"""Best-fit placement of replicas onto a ``NodePool``, exact and incremental.

The choice for each replica is the node with the lowest key

    (replicas of the service in the node's value of each spread preference, ...,
     replicas of the service on the node, 20 - score, node index)

(the score, in tiers: nodes in use by best fit, then empty nodes for the demand left, then hot
nodes: see ``pool``).

among the nodes that pass every hard filter. The replicas of one service are identical, so
they are placed in *rounds*: score every node once (a dozen numpy operations), keep the nodes
at the lowest spread level, and hand out the next replicas to the best of them in order.
Placing a replica on a node changes only that node, and moves it to a higher spread level,
so the remaining nodes of the round keep their order: each pick is exactly the one a full
rescore would make. A new round starts when the level's nodes run out. Services with spread
preferences change the level of a whole group of nodes with each pick, so they use rounds of
one replica. Nodes that share a host (``NodePool.members``) share its host ports: a round of a
service with host ports ends before a second node of one host, whose ports the first pick
changed (the next round scores it again).

At scale most replicas land on nodes already in use, and scoring every node for each service
(a dozen passes over 50,000 nodes) is what a large plan spends its time on. So the nodes in
use are also kept *ranked* per kind of request (``_Ranked``: its cpu, memory, constraints and
dynamic ports; what its cost depends on besides the node): sorted once by cost, and updated
from the pool's log of changed nodes, only those rescored. A round of a service that has no
replica on a node yet takes its nodes from that ranking when it finds enough of them below
the tier of empty nodes: they are the nodes a full rescore would pick, in the same order (the
same arithmetic gives the same costs, and ties go to the lower index in both). Anything else
(opening a node, spread preferences, shared hosts with host ports, a service already on the
best nodes) is a full round as before.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Sequence
from itertools import repeat

import numpy as np

from tui_orch.model import NodeInfo, Replica, ReplicaState, ServiceSpec
from tui_orch.placement.pool import INF, OPEN, NodePool, Request, nano
from tui_orch.placement.reasons import no_node_fits, node_does_not_fit
from tui_orch.placement.result import PlacementOptions, Start, Unschedulable

FIT_MAX = 20.0
RANKED_MIN = 5000  # fleets from this many nodes take rounds from the ranking (_Ranked); below, a
# full round (a dozen numpy passes over the nodes) costs less than keeping the rankings


def _best(cost: np.ndarray, t: int) -> list[int]:
    """Indexes of the ``t`` lowest finite costs, lowest first, ties by index."""
    if cost.shape[0] == 0:
        return []
    if t == 1:
        i = int(cost.argmin())
        return [i] if cost[i] < INF else []
    if t < cost.shape[0]:
        v = np.partition(cost, t - 1)[t - 1]
        cand = np.flatnonzero(cost <= v) if v < INF else np.flatnonzero(cost < INF)
    else:
        cand = np.flatnonzero(cost < INF)
    order = np.argsort(cost[cand], kind="stable")[:t]
    return cand[order].tolist()


def _one_per_host(picks: list[int], host: list[int]) -> list[int]:
    """The leading picks that are all on distinct hosts."""
    seen: set[int] = set()
    for k, i in enumerate(picks):
        if host[i] in seen:
            return picks[:k]
        seen.add(host[i])
    return picks


def _lowest_level(cost: np.ndarray, level: np.ndarray) -> None:
    """Keep (finite cost) only the nodes whose ``level`` is the lowest among feasible nodes."""
    finite = cost < INF
    if finite.any():
        low = level[finite].min()
        np.copyto(cost, INF, where=level != low)


class _Ranked:
    """The nodes in use on which one kind of request fits, best first (see the module's
    docstring): a sorted array, built from a full scoring, merged with a heap of the nodes
    rescored since. An entry holds while its node's version is the one it was scored at."""

    def __init__(self, fleet: NodePool, req: Request) -> None:
        self.fleet = fleet
        self.req = req
        self.base = fleet.base_for(req.constraints)
        cost = fleet.rough_cost(req, slice(None))
        cand = np.flatnonzero(cost < OPEN)
        order = cand[np.argsort(cost[cand], kind="stable")]
        self.order: list[int] = order.tolist()
        self.costs: list[float] = cost[order].tolist()
        self.vers: list[int] = fleet.version[order].tolist()
        self.at = 0  # entries before it are taken or stale
        self.heap: list[tuple[float, int, int]] = []
        self.seen = len(fleet.changes)

    def current(self) -> bool:
        """Bring the ranking up to date with the pool; False if it should be built again."""
        fleet = self.fleet
        if fleet.base_for(self.req.constraints) is not self.base:
            return False
        log = fleet.changes
        if len(log) == self.seen:
            return True
        if len(log) - self.seen > max(256, fleet.n // 8) or len(self.heap) > max(1024, 2 * len(self.order)):
            return False
        heap, vers = self.heap, fleet.version
        if len(log) - self.seen <= 32:
            few = list(dict.fromkeys(log[self.seen:]))
            self.seen = len(log)
            for c, i in zip(fleet.rough_costs(self.req, few), few):
                if c < OPEN:
                    heapq.heappush(heap, (c, i, int(vers[i])))
            return True
        changed = np.unique(np.array(log[self.seen:], dtype=np.int64))
        self.seen = len(log)
        cost = fleet.rough_cost(self.req, changed)
        keep = cost < OPEN
        for c, i, v in zip(cost[keep].tolist(), changed[keep].tolist(), vers[changed[keep]].tolist()):
            heapq.heappush(heap, (c, i, v))
        return True

    def pop(self) -> tuple[float, int, int] | None:
        """The best entry that still holds (taken out), or None when none is left."""
        vers = self.fleet.version
        order, at = self.order, self.at
        while at < len(order) and vers[order[at]] != self.vers[at]:
            at += 1
        self.at = at
        heap = self.heap
        while heap and vers[heap[0][1]] != heap[0][2]:
            heapq.heappop(heap)
        if at < len(order) and (not heap or (self.costs[at], order[at]) < heap[0][:2]):
            self.at = at + 1
            return self.costs[at], order[at], self.vers[at]
        return heapq.heappop(heap) if heap else None

    def put_back(self, entries: list[tuple[float, int, int]]) -> None:
        for entry in entries:
            heapq.heappush(self.heap, entry)


class _Empty:
    """The empty nodes that pass some constraints, grouped by their free cpu and memory (each
    group in index order). An empty node's exact cost depends only on those and on its base
    cost (``NodePool.room``), so one group shares one cost; a round that must open nodes
    merges the groups instead of scoring every node. Kept up to date from the pool's log of
    changed nodes."""

    def __init__(self, fleet: NodePool, constraints: tuple) -> None:
        self.fleet = fleet
        self.constraints = constraints
        self.base = base = fleet.base_for(constraints)
        self.groups: dict[tuple[float, float], list[int]] = {}
        self.where: dict[int, tuple[float, float]] = {}
        empty = np.flatnonzero((fleet.nrep == 0) & (base == 0.0))
        for key, i in zip(zip(fleet.free_c[empty].tolist(), fleet.free_m[empty].tolist()), empty.tolist()):
            self.groups.setdefault(key, []).append(i)
            self.where[i] = key
        self.seen = len(fleet.changes)

    def current(self) -> bool:
        """Bring the groups up to date with the pool; False if they should be built again."""
        fleet = self.fleet
        if fleet.base_for(self.constraints) is not self.base:
            return False
        log = fleet.changes
        if len(log) == self.seen:
            return True
        if len(log) - self.seen > max(256, fleet.n // 8):
            return False
        changed = sorted(set(log[self.seen:]))
        self.seen = len(log)
        nrep, free_c, free_m, base = fleet.nrep, fleet.free_c, fleet.free_m, self.base
        groups, where = self.groups, self.where
        for i in changed:
            key = (float(free_c[i]), float(free_m[i])) if nrep[i] == 0 and base[i] == 0.0 else None
            old = where.get(i)
            if old == key:
                continue
            if old is not None:
                group = groups[old]
                del group[bisect.bisect_left(group, i)]
                if not group:
                    del groups[old]
                del where[i]
            if key is not None:
                bisect.insort(groups.setdefault(key, []), i)
                where[i] = key
        return True


class Placer:
    """Places replicas one service at a time onto a fleet whose state it keeps.

    ``Placer(nodes, current)`` is also the incremental entry point for a controller that
    places single replicas often: it scores against everything placed so far."""

    def __init__(
        self,
        nodes: Sequence[NodeInfo] | NodePool,
        current: Sequence[Replica] = (),
        options: PlacementOptions | None = None,
    ) -> None:
        self.fleet = nodes if isinstance(nodes, NodePool) else NodePool(nodes, options)
        # What the batch being placed still asks for, this call's replicas included (nano-cores,
        # bytes): it ranks the empty nodes (``NodePool.room``). None: each replica alone.
        self.demand: tuple[int, int] | None = None
        self.ranked: dict[tuple, _Ranked] = {}  # kind of request -> its ranking of nodes in use
        self.empty: dict[tuple, _Empty] = {}  # constraints -> the empty nodes that pass them
        self.hold(current)

    def hold(self, replicas: Sequence[Replica]) -> None:
        """Count existing replicas (resources, ports, spread) on their nodes, where known.
        A stopping replica holds its resources and ports but no longer counts as a replica."""
        self.fleet.hold([item for r in replicas if (item := self.held_item(r)) is not None])

    def held_item(self, r: Replica) -> tuple[int, str | None, int, int, tuple[int, ...]] | None:
        """What ``NodePool.hold`` counts for replica ``r``: (node index, its service, or None when
        it is stopping, nano-cores, bytes, host ports); None when it holds nothing here (stopped,
        or on a node not in the fleet)."""
        i = self.fleet.index.get(r.node)
        if i is None or r.state == ReplicaState.STOPPED:
            return None
        return i, None if r.state == ReplicaState.STOPPING else r.service, nano(r.cpus), r.memory, tuple(r.ports)

    def release(self, replica: Replica) -> None:
        """Give back what ``hold`` counted for ``replica``."""
        i = self.fleet.index.get(replica.node)
        if i is not None:
            self.fleet.remove(i, replica.service, nano(replica.cpus), replica.memory, replica.ports)

    @staticmethod
    def request(spec: ServiceSpec) -> Request:
        return Request.of(spec)

    def place(
        self, spec: ServiceSpec | Request, slots: Sequence[int], whys: Sequence[str] | None = None
    ) -> tuple[list[Start], list[Unschedulable]]:
        """Place one replica of ``spec`` for each of ``slots`` (in order), best fit first."""
        req = spec if isinstance(spec, Request) else self.request(spec)
        fleet = self.fleet
        shared = bool(fleet.members and req.layout)
        starts: list[Start] = []
        j, n = 0, len(slots)
        if fleet.n >= RANKED_MIN and not req.prefs and not shared:
            while j < n:
                got = self._ranked_round(req, n - j)
                if not got:
                    break
                picks, costs = got
                self._commit(req, picks, np.array(costs), slots[j : j + len(picks)],
                             whys[j : j + len(picks)] if whys else None, None, starts)
                j += len(picks)
            if j == n:
                return starts, []
        counts = fleet.counts_array(req.service)
        leveled = bool(fleet.counts.get(req.service))
        while j < n:
            # First with every empty node at one cost above any node in use: the room of the
            # empty nodes (NodePool.room) is worked out only when a pick may be one of them.
            cost = fleet.cost(req, counts, self.demand, rough=True)
            picks = self._pick(req, cost, counts, leveled, shared, n - j)
            if picks and cost[picks[-1]] >= OPEN:
                cost = fleet.cost(req, counts, self.demand)
                picks = self._pick(req, cost, counts, leveled, shared, n - j)
            if not picks:
                reason = no_node_fits(fleet, req, counts)
                return starts, [Unschedulable(req.service, s, reason) for s in slots[j:]]
            self._commit(req, picks, cost[picks], slots[j : j + len(picks)], whys[j : j + len(picks)] if whys else None,
                         counts, starts)
            j += len(picks)
            leveled = True
        return starts, []

    def _ranked_round(self, req: Request, t: int) -> tuple[list[int], list[float]] | None:
        """The next round's nodes (at most ``t``, best first) and their costs, from the ranking
        of nodes in use, or None when a full round is needed: it finds no node, or a node it
        takes would be one a full round may not pick first (see the module's docstring)."""
        fleet = self.fleet
        key = (req.rc, req.rm, req.constraints, fleet.dyn_need(req) if req.dynamic else 0)
        ranked = self.ranked.get(key)
        if ranked is None or not ranked.current():
            ranked = self.ranked[key] = _Ranked(fleet, req)
        mine = fleet.counts.get(req.service) or {}
        static, ports = req.static, fleet.ports
        picks: list[int] = []
        costs: list[float] = []
        aside: list[tuple[float, int, int]] = []
        budget = 4 * t + 256
        while len(picks) < t:
            entry = ranked.pop()
            if entry is None:
                break
            cost, i, _ = entry
            aside.append(entry)
            budget -= 1
            if budget < 0:
                picks = []
                break
            if i in mine or (static and any(p in ports[i] for p in static)):
                continue  # a level above the lowest, or its port is taken: not for this round
            picks.append(i)
            costs.append(cost)
        # Entries taken and not picked go back; picked nodes change, and come back rescored.
        chosen = set(picks)
        ranked.put_back([e for e in aside if e[1] not in chosen])
        if budget >= 0 and len(picks) < t and not fleet.hot.any():
            # Every node in use that the round may take is taken: empty nodes come next (a hot
            # node would rank among them: then a full round does it).
            self._open(req, t - len(picks), budget, picks, costs)
        # Fewer picks than ``t``: the rest come from a full round, which keeps to the nodes still
        # at level 0 (if any): the nodes a full round would have picked after these.
        return (picks, costs) if picks else None

    def _open(self, req: Request, t: int, budget: int, picks: list[int], costs: list[float]) -> None:
        """Add to ``picks`` the best ``t`` empty nodes for ``req`` (fewer if fewer fit, or if
        more than ``budget`` nodes are looked at in vain), best first: by the exact cost of
        their group, then by index."""
        fleet = self.fleet
        empty = self.empty.get(req.constraints)
        if empty is None or not empty.current():
            empty = self.empty[req.constraints] = _Empty(fleet, req.constraints)
        groups = [(key, g) for key, g in empty.groups.items() if key[0] >= req.rc and key[1] >= req.rm]
        if not groups:
            return
        room = fleet.room(np.array([g[0] for _, g in groups], dtype=np.int64), self.demand or (req.rc, req.rm))
        room += OPEN
        static, ports, dyn_free = req.static, fleet.ports, fleet.dyn_free
        need = fleet.dyn_need(req) if req.dynamic else 0

        def fits(i: int) -> bool:
            return not (need and dyn_free[i] < need) and not (static and any(p in ports[i] for p in static))

        heap: list[tuple[float, int, int, int]] = []  # (cost, node, group, position in it)

        def advance(k: int, at: int) -> None:
            nonlocal budget
            group = groups[k][1]
            while at < len(group):
                i = group[at]
                if fits(i):
                    heapq.heappush(heap, (float(room[k]), i, k, at))
                    return
                budget -= 1
                if budget < 0:
                    return
                at += 1

        for k in range(len(groups)):
            advance(k, 0)
        while heap and t and budget >= 0:
            cost, i, k, at = heapq.heappop(heap)
            picks.append(i)
            costs.append(cost)
            t -= 1
            advance(k, at + 1)

    def _pick(self, req: Request, cost: np.ndarray, counts: np.ndarray, leveled: bool, shared: bool,
              t: int) -> list[int]:
        """The nodes of the next round, best first: at most ``t``, at the lowest spread level
        (``cost`` is changed in place)."""
        fleet = self.fleet
        if req.prefs:
            for descriptor in req.prefs:
                codes = fleet.codes(descriptor)
                per_value = np.bincount(codes, weights=counts)
                _lowest_level(cost, per_value[codes])
            _lowest_level(cost, counts)
            return _best(cost, 1)
        if leveled:
            _lowest_level(cost, counts)
        picks = _best(cost, t)
        return _one_per_host(picks, fleet.host) if shared else picks

    def _commit(
        self, req: Request, picks: list[int], costs: np.ndarray, slots: Sequence[int],
        whys: Sequence[str] | None, counts: np.ndarray, out: list[Start],
    ) -> None:
        """Take the distinct nodes ``picks`` (whose costs were ``costs``) for ``slots`` and
        record the starts in ``out``."""
        fleet = self.fleet
        scores = (FIT_MAX - costs).tolist()
        ports, fc, fm = fleet.take(picks, req, counts)
        names = fleet.names
        out.extend(map(Start._make, zip(
            repeat(req.service), slots, [names[i] for i in picks], ports, repeat(req.cpus), repeat(req.memory),
            scores, fc, fm, whys if whys else repeat(""),
        )))

    def place_on(self, spec: ServiceSpec | Request, node: str, why: str = "", slot: int = 0) -> Start | Unschedulable:
        """Place one replica on ``node``, if it fits there: of a global service (slot 0), or
        slot ``slot`` of a replicated one bound to the node (its data is there)."""
        req = spec if isinstance(spec, Request) else self.request(spec)
        i = self.fleet.index[node]
        reason = node_does_not_fit(self.fleet, i, req)
        if reason:
            return Unschedulable(req.service, slot, reason, "" if slot else node)
        # take() keeps a dense count array in step; none is read here: a fresh one, not the
        # service's (made from its sparse counts: O(nodes) per call, 10,000 x 10,000 for a
        # global service placed one node at a time on 10,000 nodes, 27 s)
        counts = np.zeros(self.fleet.n, dtype=np.int64)
        out: list[Start] = []
        self._commit(req, [i], np.array([self.fleet.cost_at(req, i)]), [slot], [why], counts, out)
        return out[0]


__all__ = ["Placer"]
