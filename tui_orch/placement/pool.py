"""The state of the nodes while a plan is made, as numpy arrays, and the best-fit score.

Cpu is counted in integer nano-cores and memory in integer bytes, both held in float64
arrays: every sum stays an exact integer (below 2**53), so "fits" is an exact comparison and
no rounding can over-commit a node.

The cost of node n for a request r (lower is better; the score is ``20 - cost``) comes in
tiers, so that no fit, however good, outweighs a tier:

    node in use:  fit = 10**fc + 10**fm            BestFit-v3 (Nomad), fc/fm = free after
                      - w * (rc/C * Fc + rm/M * Fm)  dot-product alignment, Fc/Fm = free before
    empty node:   OPEN + room(D)                   what opening it does for the demand D left
    hot node:     OPEN + (its fit or room) + hot_penalty

where every free amount is measured against the *largest* schedulable node (C, M), not
against node n itself: the fit is the absolute room left, so of two nodes in use the one left
with the least room wins, whatever their sizes (a fraction would rank a 2-cpu node left with
0.5 cpu above a 32-cpu node left with 20, and fill small nodes while a large one stands half
empty). On a fleet of identical nodes both measures are the same. ``room(D)`` ranks the empty
nodes for the batch's remaining demand D (the request alone outside a batch): the smallest
node that holds all of D (by the room it would leave), else the one that holds the most of it.
A hot node is tried after every cool node, empty ones included.

To score all nodes with two multiplications instead of two powers, ``10**fc`` is computed as
``P_c[n] * E_c(r)`` where ``P_c = 10**Fc`` is kept per node (recomputed, with numpy's power
on arrays as at the start, only for the nodes that change) and ``E_c(r) = 10**(-rc/C)``. The
fit term spans 0..20 (less the alignment, 0..2w), ``room`` 0..6, OPEN is 20.

Host ports belong to a host, not to a node: nodes with the same ``NodeInfo.host_id`` (two
Docker Engines on one machine and network namespace) form a *host group* whose members share
one set of held ports (the same ``set`` object), one dynamic-port cursor and one count of free
dynamic ports. ``mine`` remembers which member holds what, so that a port is given back only
when no member holds it any more, and a reason can name the member that holds it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from tui_orch.model import Availability, Constraint, NodeInfo, NodeState
from tui_orch.placement.request import NANO, Request, nano
from tui_orch.placement.result import PlacementOptions

INF = math.inf
_CACHE_MAX = 256
OPEN = 20.0  # the tier of an empty (or hot) node: above any fit of a node in use
_APART = 4.0  # room(D): an empty node that cannot hold all of D ranks after every one that can
_ROUGH = _APART + 2.0  # above any room(D)


def hot_note(x: NodeInfo, opts: PlacementOptions) -> str:
    """What a plan says of node ``x`` when it runs hot (schedulable, measured cpu or memory
    above the threshold: it is scored down), else ''."""
    cpu, mem, limit = x.cpu_used or 0.0, x.memory_used or 0.0, opts.hot_threshold
    if not (x.schedulable and (cpu > limit or mem > limit)):
        return ""
    return (f"{x.name} runs hot (cpu {round(cpu * 100)}%, mem {round(mem * 100)}% measured, "
            f"above {round(limit * 100)}%): scored down by {opts.hot_penalty:g}")


class NodePool:
    """Mutable free capacity, held ports and per-service replica counts of the nodes.

    Nodes are indexed in name order, so ties between equal scores go to the first name."""

    def __init__(self, nodes: Sequence[NodeInfo], options: PlacementOptions | None = None) -> None:
        opts = options or PlacementOptions()
        self.options = opts
        seen: dict[str, NodeInfo] = {}
        for node in nodes:
            seen.setdefault(node.name, node)
        self.infos: list[NodeInfo] = [seen[k] for k in sorted(seen)]
        self.names: list[str] = [n.name for n in self.infos]
        self.index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        n = self.n = len(self.infos)
        # NodeInfo.allocatable, without making a Resources per node.
        cpus = [nano(max(0.0, x.capacity.cpus - x.reserved.cpus)) for x in self.infos]
        self.alloc_c = np.array(cpus, dtype=np.float64)
        self.alloc_m = np.array([max(0, x.capacity.memory - x.reserved.memory) for x in self.infos], dtype=np.float64)
        self.inv_c = np.divide(1.0, self.alloc_c, out=np.zeros(n), where=self.alloc_c > 0)
        self.inv_m = np.divide(1.0, self.alloc_m, out=np.zeros(n), where=self.alloc_m > 0)
        self.schedulable = np.array([x.schedulable for x in self.infos], dtype=bool)
        # The scale of the score: the largest schedulable node's cpu and memory (see above).
        self.sc, self.sm = self._scale(self.alloc_c), self._scale(self.alloc_m)
        self.free_c = self.alloc_c.copy()
        self.free_m = self.alloc_m.copy()
        self.P_c = np.power(10.0, self.free_c * self.sc)
        self.P_m = np.power(10.0, self.free_m * self.sm)
        self.nrep = np.zeros(n, dtype=np.int64)  # replicas per node (nodes in use)
        self.ports: list[set[int]] = [set() for _ in range(n)]  # held on the node's host
        self.host: list[int] = list(range(n))  # node -> first node of its host group
        self.members: dict[int, list[int]] = {}  # first node -> the nodes of a group of 2+
        self.mine: dict[int, Counter[int]] = {}  # node of a group -> ports held by its own replicas
        self._group(self.infos)
        self.port_masks: dict[int, np.ndarray] = {}
        self.port_seen: set[int] = set()
        lo, hi = opts.port_range
        self.port_lo, self.port_hi = lo, hi
        self.dyn_free = np.full(n, max(0, hi - lo + 1), dtype=np.int64)
        self.dyn_next: list[int] = [lo] * n
        self.counts: dict[str, dict[int, int]] = {}  # service -> node index -> replicas
        # What changed, for the ranked candidates of the engine (engine._Ranked): a node's
        # version counts its changes, ``changes`` lists the nodes changed, in order.
        self.version = np.zeros(n, dtype=np.int64)
        self.changes: list[int] = []
        self.bound = self._bound()
        # The base cost: 0 if schedulable, the hot penalty if it runs hot, inf if unschedulable.
        self.hot_notes: list[str] = []
        self.hot = np.zeros(n, dtype=bool)  # runs hot: scored in the tier of empty nodes
        base = np.where(self.schedulable, 0.0, INF)
        for i, x in enumerate(self.infos):
            note = hot_note(x, opts)
            if note:
                base[i] += opts.hot_penalty
                self.hot[i] = opts.hot_penalty > 0
                self.hot_notes.append(note)
        self.base = base
        # Caches that depend only on the nodes, shared by copies.
        self._base_by: dict[tuple[Constraint, ...], np.ndarray] = {}
        self._cons_mask: dict[Constraint, np.ndarray] = {}
        self._codes: dict[str, np.ndarray] = {}

    def _scale(self, alloc: np.ndarray) -> float:
        """1 / the largest allocatable amount of a schedulable node (of any node if none is)."""
        pool = alloc[self.schedulable] if self.schedulable.any() else alloc
        top = float(pool.max()) if pool.size else 0.0
        return 1.0 / top if top > 0 else 0.0

    def _group(self, infos: Sequence[NodeInfo]) -> None:
        """Join the nodes that share a host_id into host groups (shared port bookkeeping)."""
        by_host: dict[str, list[int]] = {}
        for i, x in enumerate(infos):
            if x.host_id:
                by_host.setdefault(x.host_id, []).append(i)
        for group in by_host.values():
            if len(group) < 2:
                continue
            first = group[0]
            self.members[first] = group
            for i in group:
                self.host[i] = first
                self.ports[i] = self.ports[first]
                self.mine[i] = Counter()
        self.shared_notes = [
            f"{', '.join(self.names[i] for i in group)} share one host: a host port in use on one is in use on all"
            for group in self.members.values()
        ]

    def _bound(self) -> list[frozenset[int]]:
        """Hold the ports bound on each host (``NodeInfo.ports_in_use``: any process, any
        container); returns them per node. They stay held when a replica holding one of them
        is released (it still runs until it is stopped, perhaps on a node out of reach)."""
        bound: dict[int, frozenset[int]] = {}
        for i, x in enumerate(self.infos):
            first = self.host[i]
            bound[first] = bound.get(first, frozenset()) | x.ports_in_use
            for p in x.ports_in_use:
                if p not in self.ports[i]:
                    self._port(i, p, True)
        return [bound.get(self.host[i], frozenset()) for i in range(self.n)]

    def update_node(self, info: NodeInfo) -> bool:
        """Node ``info.name`` changed its state, availability or measured use (nothing else:
        its resources, labels, host and bound ports are as when the pool was made). False
        when the pool cannot follow: the largest schedulable node, the scale of every score,
        changed (make the pool again)."""
        i = self.index[info.name]
        opts = self.options
        was = bool(self.schedulable[i])
        self.schedulable[i] = info.schedulable
        if was != info.schedulable and (self._scale(self.alloc_c), self._scale(self.alloc_m)) != (self.sc, self.sm):
            self.schedulable[i] = was
            return False
        self.infos[i] = info
        note = hot_note(info, opts)
        self.hot[i] = bool(note) and opts.hot_penalty > 0
        self.base = self.base.copy()  # shared with copies of the pool
        self.base[i] = (opts.hot_penalty if note else 0.0) if info.schedulable else INF
        self._base_by = {}
        self.hot_notes = [line for line in self.hot_notes if not line.startswith(f"{info.name} runs hot ")]
        if note:
            self.hot_notes.append(note)
            self.hot_notes.sort(key=lambda line: self.index.get(line.split(" ", 1)[0], 0))
        self.touch([i])
        return True

    def rebind(self, info: NodeInfo, held: Callable[[int], bool]) -> None:
        """Node ``info.name``'s bound ports (``ports_in_use``) changed, nothing else. A port no
        longer bound is freed unless ``held(port)`` (a replica on the node holds it; on a host of
        its own: nodes that share a host count theirs in ``mine``)."""
        i = self.index[info.name]
        self.infos[i] = info
        group = self.group_of(i)
        old = self.bound[i]
        new: frozenset[int] = frozenset().union(*(self.infos[j].ports_in_use for j in group))
        for j in group:
            self.bound[j] = new
        for p in sorted(new - old):
            if p not in self.ports[i]:
                self._port(i, p, True)
        for p in sorted(old - new):
            mine = self.mine.get(i)
            kept = any(self.holds(j, p) for j in group) if mine is not None else held(p)
            if not kept and p in self.ports[i]:
                self._port(i, p, False)
        self.touch(group)

    def group_of(self, i: int) -> list[int]:
        """The nodes that share node ``i``'s host ports (``[i]`` for a host of its own)."""
        return self.members.get(self.host[i]) or [i]

    def _on_hosts(self, arr: np.ndarray) -> np.ndarray:
        """The nodes ``arr`` with every other node of their host groups (the nodes of ``arr``
        must be on distinct hosts)."""
        if not self.members:
            return arr
        return np.array([j for i in arr.tolist() for j in self.group_of(i)], dtype=np.int64)

    def holds(self, i: int, port: int) -> bool:
        """Whether a replica on node ``i`` itself (not on another node of its host) holds ``port``."""
        own = self.mine.get(i)
        return port in self.ports[i] if own is None else port in own

    def holder(self, i: int, port: int) -> str:
        """The name of a node of ``i``'s host whose replica holds ``port`` ('' if none)."""
        return next((self.names[j] for j in self.group_of(i) if self.holds(j, port)), "")

    # ------------------------------------------------------------------ state changes

    def copy(self) -> "NodePool":
        """An independent copy of the mutable state (caches are shared)."""
        other = object.__new__(NodePool)
        other.__dict__.update(self.__dict__)
        for name in ("free_c", "free_m", "P_c", "P_m", "nrep", "dyn_free", "version"):
            setattr(other, name, getattr(self, name).copy())
        other.changes = []
        other.ports = [set(s) for s in self.ports]
        for first, group in self.members.items():
            for i in group:
                other.ports[i] = other.ports[first]
        other.mine = {i: Counter(c) for i, c in self.mine.items()}
        other.port_masks = {p: m.copy() for p, m in self.port_masks.items()}
        other.port_seen = set(self.port_seen)
        other.dyn_next = list(self.dyn_next)
        other.counts = {k: dict(v) for k, v in self.counts.items()}
        return other

    def _refresh(self, idx: np.ndarray | list[int]) -> None:
        """Recompute ``P = 10**free_fraction`` of the nodes ``idx`` (numpy's power, as at start,
        so that a node's P never depends on how it was computed)."""
        self.P_c[idx] = np.power(10.0, self.free_c[idx] * self.sc)
        self.P_m[idx] = np.power(10.0, self.free_m[idx] * self.sm)

    def touch(self, idx: np.ndarray | list[int]) -> None:
        """Record that the nodes ``idx`` (distinct) changed."""
        self.version[idx] += 1
        self.changes.extend(idx.tolist() if isinstance(idx, np.ndarray) else idx)

    def reserve(self, idx: np.ndarray, rc: int, rm: int) -> None:
        """Take ``rc``/``rm`` on each of the distinct nodes ``idx`` (no ports, no counts)."""
        self.touch(idx)
        self.free_c[idx] -= rc
        self.free_m[idx] -= rm
        self._refresh(idx)

    def _port(self, i: int, port: int, held: bool) -> None:
        """Mark ``port`` held (or free) on node ``i``'s host, for every node of its group."""
        first = self.host[i]
        on = self.members.get(first) or i
        if held:
            self.ports[i].add(port)
            self.port_seen.add(port)
        else:
            self.ports[i].discard(port)
            if self.port_lo <= port < self.dyn_next[first]:
                self.dyn_next[first] = port
        mask = self.port_masks.get(port)
        if mask is not None:
            mask[on] = held
        if self.port_lo <= port <= self.port_hi:
            self.dyn_free[on] += -1 if held else 1

    def hold(self, items: Sequence[tuple[int, str | None, int, int, Sequence[int]]]) -> None:
        """Count existing replicas, each ``(node index, service, rc, rm, ports)``: their
        resources and ports are held, and they count as replicas of ``service`` unless it is
        None (a replica that is stopping holds its resources but is no longer a replica)."""
        if not items:
            return
        idx = np.array([it[0] for it in items], dtype=np.int64)
        if len(items) <= 64:  # a few (a kept placer's records): no pass over every node
            for i, _, rc, rm, _ in items:
                self.free_c[i] -= rc
                self.free_m[i] -= rm
        else:
            self.free_c -= np.bincount(idx, weights=[float(it[2]) for it in items], minlength=self.n)
            self.free_m -= np.bincount(idx, weights=[float(it[3]) for it in items], minlength=self.n)
        changed = np.unique(idx)
        self._refresh(changed)
        self.touch(changed)
        mine = self.mine
        for i, service, _, _, ports in items:
            if ports and i in mine:
                mine[i].update(ports)
            for p in ports:
                if p not in self.ports[i]:
                    self._port(i, p, True)
            if service is not None:
                self.nrep[i] += 1
                per_node = self.counts.setdefault(service, {})
                per_node[i] = per_node.get(i, 0) + 1

    def remove(self, i: int, service: str | None, rc: int, rm: int, ports: Iterable[int]) -> None:
        """Give back what ``hold`` counted for one replica (``service`` None: one that was
        held as stopping, counted as no replica)."""
        self.reserve(np.array([i]), -rc, -rm)
        own = self.mine.get(i)
        for p in ports:
            if own is not None:
                if own[p] > 1:
                    own[p] -= 1
                    continue
                own.pop(p, None)
            if p in self.bound[i]:
                continue  # bound on the host now, whoever holds it
            if own is not None and any(self.holds(j, p) for j in self.group_of(i)):
                continue  # another node of the host still holds it
            if p in self.ports[i]:
                self._port(i, p, False)
        if service is None:
            return
        self.nrep[i] -= 1
        per_node = self.counts.get(service, {})
        if per_node.get(i, 0) > 1:
            per_node[i] -= 1
        else:
            per_node.pop(i, None)

    def take(
        self, idx: list[int], req: Request, counts: np.ndarray | None
    ) -> tuple[list[tuple[int, ...]], list[float], list[float]]:
        """Place one replica of ``req`` on each of the distinct nodes ``idx``; ``counts`` is the
        service's dense count array (if one is kept), kept in step with the sparse counts. When
        ``req`` asks for host ports the nodes must be on distinct hosts. Returns each replica's
        host ports in layout order and the nodes' reserved cpu and memory fractions afterwards."""
        arr = np.array(idx, dtype=np.int64)
        self.touch(idx)
        fc = self.free_c[arr] - req.rc
        fm = self.free_m[arr] - req.rm
        self.free_c[arr] = fc
        self.free_m[arr] = fm
        xc = fc * self.inv_c[arr]
        xm = fm * self.inv_m[arr]
        self.P_c[arr] = np.power(10.0, fc * self.sc)
        self.P_m[arr] = np.power(10.0, fm * self.sm)
        self.nrep[arr] += 1
        if counts is not None:
            counts[arr] += 1
        per_node = self.counts.setdefault(req.service, {})
        for i in idx:
            per_node[i] = per_node.get(i, 0) + 1
        after = ((1.0 - xc).tolist(), (1.0 - xm).tolist())
        if not req.layout:
            return [()] * len(idx), *after
        static, layout, nd = req.static, req.layout, req.dynamic
        in_range = self.dyn_need(req)
        ports, out, host, members, mine = self.ports, [], self.host, self.members, self.mine
        if nd:
            simple = all(p is None for p in layout)
            dyn_next, seen = self.dyn_next, self.port_seen
            for i in idx:
                held = ports[i]
                held.update(static)  # first: a static port in the range is not free for dynamic ones
                first = host[i]
                p = dyn_next[first]
                dynamic = []
                while len(dynamic) < nd and p <= self.port_hi:
                    if p not in held:
                        dynamic.append(p)
                    p += 1
                dyn_next[first] = p
                held.update(dynamic)
                seen.update(dynamic)
                if simple:
                    out.append(tuple(dynamic))
                else:
                    it = iter(dynamic)
                    out.append(tuple(q if q is not None else next(it) for q in layout))
                on = members.get(first) or i
                for q in dynamic:
                    mask = self.port_masks.get(q)
                    if mask is not None:
                        mask[on] = True
                if i in mine:
                    mine[i].update(dynamic)
        else:
            fixed = tuple(layout)  # type: ignore[arg-type]
            for i in idx:
                ports[i].update(static)
            out = [fixed] * len(idx)
        if mine and static:
            for i in idx:
                if i in mine:
                    mine[i].update(static)
        self.port_seen.update(static)
        hosts = self._on_hosts(arr)
        for q in static:
            mask = self.port_masks.get(q)
            if mask is not None:
                mask[hosts] = True
        if in_range:
            self.dyn_free[hosts] -= in_range
        return out, *after

    # ------------------------------------------------------------------ queries

    def counts_array(self, service: str) -> np.ndarray:
        """Replicas of ``service`` per node, as a dense array."""
        arr = np.zeros(self.n, dtype=np.int64)
        for i, c in self.counts.get(service, {}).items():
            arr[i] = c
        return arr

    def port_mask(self, port: int) -> np.ndarray:
        """Nodes where ``port`` is held."""
        mask = self.port_masks.get(port)
        if mask is None:
            mask = np.fromiter((port in s for s in self.ports), dtype=bool, count=self.n)
            self.port_masks[port] = mask
        return mask

    def constraint_mask(self, constraint: Constraint) -> np.ndarray:
        mask = self._cons_mask.get(constraint)
        if mask is None:
            mask = np.fromiter((constraint.matches(x) for x in self.infos), dtype=bool, count=self.n)
            if len(self._cons_mask) < _CACHE_MAX:
                self._cons_mask[constraint] = mask
        return mask

    def base_for(self, constraints: tuple[Constraint, ...]) -> np.ndarray:
        """The base cost with inf on nodes failing a constraint."""
        base = self._base_by.get(constraints)
        if base is None:
            base = self.base
            for c in constraints:
                base = np.where(self.constraint_mask(c), base, INF)
            if len(self._base_by) < _CACHE_MAX:
                self._base_by[constraints] = base
        return base

    def codes(self, descriptor: str) -> np.ndarray:
        """An integer per node naming its value of a spread descriptor (missing = one group)."""
        codes = self._codes.get(descriptor)
        if codes is None:
            probe = Constraint(descriptor, "==", "")
            values = [probe.node_value(x) or "" for x in self.infos]
            numbering = {v: k for k, v in enumerate(sorted(set(values)))}
            codes = np.array([numbering[v] for v in values], dtype=np.int64)
            self._codes[descriptor] = codes
        return codes

    def _size_terms(self, rc: int, rm: int) -> tuple[float, float, float, float]:
        """``10**(-rc/C)``, ``10**(-rm/M)`` and the alignment weights of one request."""
        w = self.options.align_weight
        return 10.0 ** (-rc * self.sc), 10.0 ** (-rm * self.sm), w * rc * self.sc * self.sc, w * rm * self.sm * self.sm

    def room(self, idx: np.ndarray, demand: tuple[int, int]) -> np.ndarray:
        """``room(D)`` of the (empty) nodes ``idx`` for the demand ``D`` = (nano-cores, bytes)
        still to place: the room left once a node holds all of D, or, for a node that cannot,
        ``_APART`` plus the share of D it cannot hold (cpu and memory, 0..2)."""
        dc, dm = demand
        fc, fm = self.free_c[idx], self.free_m[idx]
        holds = (fc >= dc) & (fm >= dm)
        left = (fc - dc) * self.sc + (fm - dm) * self.sm
        short = 2.0 - (np.minimum(fc, dc) / dc if dc else 1.0) - (np.minimum(fm, dm) / dm if dm else 1.0)
        return np.where(holds, left, _APART + short)

    def cost(self, req: Request, counts: np.ndarray | None = None, demand: tuple[int, int] | None = None,
             rough: bool = False) -> np.ndarray:
        """``20 - score`` of every node for one more replica of ``req`` (``demand``: what the
        batch still places, this replica included; the replica alone if None); inf where it
        does not fit (unschedulable, constraint, resources, ports, per-node cap). ``rough``:
        every empty node costs ``OPEN + _ROUGH`` (at least its exact cost) instead of its room."""
        ec, em, ac, am = self._size_terms(req.rc, req.rm)
        out = self.P_c * ec
        out += self.P_m * em
        if self.options.align_weight and (req.rc or req.rm):
            out -= self.free_c * ac
            out -= self.free_m * am
        empty = self.nrep == 0
        if rough:
            np.copyto(out, OPEN + _ROUGH, where=empty)
        elif empty.any():
            idx = np.flatnonzero(empty)
            out[idx] = self.room(idx, demand or (req.rc, req.rm))
            out[idx] += OPEN
        if self.hot.any():
            out[self.hot & ~empty] += OPEN
        out += self.base_for(req.constraints)
        bad = self.free_c < req.rc
        bad |= self.free_m < req.rm
        for p in req.static:
            if p in self.port_seen:
                bad |= self.port_mask(p)
        if req.dynamic:
            bad |= self.dyn_free < self.dyn_need(req)
        if req.cap and counts is not None:
            bad |= counts >= req.cap
        np.copyto(out, INF, where=bad)
        return out

    def rough_cost(self, req: Request, idx: np.ndarray | slice) -> np.ndarray:
        """``cost(req, rough=True)[idx]`` without the filters that belong to one service (its
        static ports, its cap per node), with the same operations in the same order, so each
        value is the one ``cost`` gives, bit for bit (``engine._Ranked`` ranks nodes by it)."""
        ec, em, ac, am = self._size_terms(req.rc, req.rm)
        free_c, free_m = self.free_c[idx], self.free_m[idx]
        out = self.P_c[idx] * ec
        out += self.P_m[idx] * em
        if self.options.align_weight and (req.rc or req.rm):
            out -= free_c * ac
            out -= free_m * am
        empty = self.nrep[idx] == 0
        np.copyto(out, OPEN + _ROUGH, where=empty)
        hot = self.hot[idx]
        if hot.any():
            out[hot & ~empty] += OPEN
        out += self.base_for(req.constraints)[idx]
        bad = free_c < req.rc
        bad |= free_m < req.rm
        if req.dynamic:
            bad |= self.dyn_free[idx] < self.dyn_need(req)
        np.copyto(out, INF, where=bad)
        return out

    def rough_costs(self, req: Request, idx: list[int]) -> list[float]:
        """``rough_cost(req, idx)`` node by node in plain floats, for a few nodes (numpy's
        fixed cost per operation outweighs the work): the same operations in the same order,
        so the same values."""
        ec, em, ac, am = self._size_terms(req.rc, req.rm)
        align = bool(self.options.align_weight and (req.rc or req.rm))
        base = self.base_for(req.constraints)
        need = self.dyn_need(req) if req.dynamic else 0
        rc, rm = req.rc, req.rm
        free_c, free_m, P_c, P_m, nrep, hot, dyn_free = (self.free_c, self.free_m, self.P_c, self.P_m, self.nrep,
                                                         self.hot, self.dyn_free)
        out = []
        for i in idx:
            fc, fm = float(free_c[i]), float(free_m[i])
            if fc < rc or fm < rm or (need and dyn_free[i] < need):
                out.append(INF)
                continue
            if nrep[i] == 0:
                v = OPEN + _ROUGH
            else:
                v = float(P_c[i]) * ec
                v += float(P_m[i]) * em
                if align:
                    v -= fc * ac
                    v -= fm * am
                if hot[i]:
                    v += OPEN
            out.append(v + float(base[i]))
        return out

    def dyn_need(self, req: Request) -> int:
        """How many ports of the dynamic range one replica of ``req`` takes: its dynamic ports
        and its static ports that lie inside the range (they are no longer free for others)."""
        return req.dynamic + sum(1 for p in req.static if self.port_lo <= p <= self.port_hi)

    def cost_at(self, req: Request, i: int, demand: tuple[int, int] | None = None) -> float:
        """``cost(req, demand=demand)[i]`` for one node, with the same operations in the same
        order; it does not apply the feasibility filters (the caller checks them)."""
        if self.nrep[i] == 0:
            out = self.room(np.array([i]), demand or (req.rc, req.rm))[0] + OPEN
        else:
            ec, em, ac, am = self._size_terms(req.rc, req.rm)
            out = self.P_c[i] * ec + self.P_m[i] * em
            if self.options.align_weight and (req.rc or req.rm):
                out = out - self.free_c[i] * ac - self.free_m[i] * am
            if self.hot[i]:
                out += OPEN
        return float(out + self.base_for(req.constraints)[i])

    def nodes_in_use(self) -> int:
        return int(np.count_nonzero(self.nrep))

    def state_of(self, i: int) -> str:
        """Why node ``i`` is not schedulable, in a word ('' if it is)."""
        x = self.infos[i]
        if x.state != NodeState.READY:
            return x.state.value
        if x.availability != Availability.ACTIVE:
            return x.availability.value
        return ""


__all__ = ["INF", "NANO", "NodePool", "Request", "hot_note", "nano"]
