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
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

import numpy as np

from tui_orch.model import NodeInfo, Replica, ReplicaState, ServiceSpec
from tui_orch.placement.pool import INF, OPEN, NodePool, Request, nano
from tui_orch.placement.reasons import no_node_fits, node_does_not_fit
from tui_orch.placement.result import PlacementOptions, Start, Unschedulable

FIT_MAX = 20.0


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
        self.hold(current)

    def hold(self, replicas: Sequence[Replica]) -> None:
        """Count existing replicas (resources, ports, spread) on their nodes, where known.
        A stopping replica holds its resources and ports but no longer counts as a replica."""
        index = self.fleet.index
        self.fleet.hold([
            (index[r.node], None if r.state == ReplicaState.STOPPING else r.service, nano(r.cpus), r.memory, r.ports)
            for r in replicas
            if r.node in index and r.state != ReplicaState.STOPPED
        ])

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
        counts = fleet.counts_array(req.service)
        leveled = bool(fleet.counts.get(req.service))
        shared = bool(fleet.members and req.layout)
        starts: list[Start] = []
        j, n = 0, len(slots)
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
