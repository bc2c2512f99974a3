"""``rebalance``: the explicit consolidation plan that ``plan`` never makes on its own.

It tries to empty the least loaded nodes one by one (lowest dominant use first): a node is
freed when every replica on it fits, by the same best-fit scoring, on the other nodes that are
already in use (never on an empty node, never on a node freed before). Only replicas on freed
nodes move, so the plan frees as many nodes as it can with few moves. Nodes that run a global
service's replica, a replica of an unknown service, a replica whose data is there (``homes``),
or that are not schedulable are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from tui_orch.model import NodeInfo, Replica, ReplicaState, ServiceSpec
from tui_orch.placement.engine import Placer
from tui_orch.placement.pool import NodePool
from tui_orch.placement.planner import displaced
from tui_orch.placement.result import Plan, PlacementOptions, Rebalance, Start, Stop


def _exclude(fleet: NodePool, indices: Iterable[int]) -> None:
    """Make nodes unavailable as targets in this fleet (and its later copies)."""
    fleet.base = fleet.base.copy()
    fleet.base[list(indices)] = np.inf
    fleet._base_by = {}


def rebalance(
    services: Iterable[ServiceSpec],
    nodes: Sequence[NodeInfo],
    current: Iterable[Replica],
    *,
    options: PlacementOptions | None = None,
    homes: Mapping[str, str] = {},
) -> Rebalance:
    """Moves that free whole nodes, and how many nodes they free."""
    specs = {s.name: s for s in services}
    live = [r for r in current if r.state != ReplicaState.STOPPED]
    fleet = NodePool(nodes, options)
    Placer(fleet, live)
    info = {x.name: x for x in fleet.infos}
    before = fleet.nodes_in_use()
    on_node: dict[int, list[Replica]] = {}
    for r in sorted(live, key=lambda r: (r.service, r.slot, r.revision)):
        i = fleet.index.get(r.node)
        if i is not None:
            on_node.setdefault(i, []).append(r)

    def movable(i: int) -> bool:
        reps = on_node.get(i, [])
        return bool(reps) and fleet.infos[i].schedulable and all(
            r.state != ReplicaState.STOPPING
            and r.service in specs
            and specs[r.service].mode == "replicated"
            and not displaced(r, info)
            and r.key not in homes  # its data stays on the node (placement/homes.py)
            for r in reps
        )

    _exclude(fleet, [i for i in range(fleet.n) if fleet.nrep[i] == 0])
    use = np.maximum(1 - fleet.free_c * fleet.inv_c, 1 - fleet.free_m * fleet.inv_m)
    candidates = sorted((i for i in on_node if movable(i)), key=lambda i: (float(use[i]), fleet.names[i]))
    starts: list[Start] = []
    stops: list[Stop] = []
    freed: list[str] = []
    big_c = float(fleet.alloc_c.max()) if fleet.n else 1.0
    big_m = float(fleet.alloc_m.max()) if fleet.n else 1.0
    received: set[int] = set()
    for i in candidates:
        if i in received:  # it took replicas from a freed node: keep it
            continue
        trial = fleet.copy()
        _exclude(trial, [i])
        mover = Placer(trial)
        reps = on_node[i]
        for r in reps:
            mover.release(r)
        name = fleet.names[i]
        moved: list[Start] = []
        reps_by_service: dict[str, list[Replica]] = {}
        for r in reps:
            reps_by_service.setdefault(r.service, []).append(r)
        reqs = {s: mover.request(specs[s]) for s in reps_by_service}
        order = sorted(reps_by_service, key=lambda s: (-max(reqs[s].rc / big_c, reqs[s].rm / big_m), s))
        ok = True
        for service in order:
            group = reps_by_service[service]
            got, failed = mover.place(specs[service], [r.slot for r in group], [f"moved from {name}"] * len(group))
            if failed:
                ok = False
                break
            moved += got
        if not ok:
            continue
        fleet = trial
        received.update(trial.index[s.node] for s in moved)
        freed.append(name)
        starts += moved
        stops += [Stop(r.key, r.node, f"rebalance frees {name}", r.revision) for r in reps]
    plan = Plan(
        starts=tuple(sorted(starts, key=lambda s: (s.service, s.slot))),
        stops=tuple(sorted(stops, key=lambda s: (s.key, s.node))),
        keeps=tuple(sorted({r.key for r in live} - {s.key for s in stops})),
        notes=tuple(fleet.hot_notes if starts else ()),
    )
    return Rebalance(plan, before, before - len(freed), tuple(sorted(freed)))


__all__ = ["rebalance"]
