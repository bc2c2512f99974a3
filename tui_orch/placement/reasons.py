"""Why a replica fits nowhere, filter by filter, in one sentence an operator can act on.

Each node is charged to the first filter it fails, in this order: not ready, cordoned,
draining, each constraint, max_replicas_per_node, each static port, dynamic ports, cpu,
memory. The counts are then listed largest first, e.g.

    no node fits: 2 lack memory (largest free 1.2 GiB < 2 GiB), 1 fails node.labels.disk==ssd

A static port held on another node of the same host (``NodeInfo.host_id``) is charged as

    1 shares a host with node1, where port 8080 is in use
"""

from __future__ import annotations

import numpy as np

from tui_orch.model import Availability, Constraint, NodeState
from tui_orch.placement.pool import NANO, NodePool, Request
from tui_orch.placement.request import PLATFORM_KEY
from tui_orch.placement.result import fmt_cpus, fmt_memory


def _verb(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _holders(fleet: NodePool, hit: np.ndarray, port: int) -> str:
    """The nodes whose replicas hold ``port`` on the hosts of the nodes ``hit``."""
    names = sorted({fleet.holder(int(i), port) for i in np.flatnonzero(hit)} - {""})
    return " or ".join(names) or "another node"


def _fails(fleet: NodePool, hit: np.ndarray, n: int, c: Constraint) -> str:
    """``2 fail node.labels.disk==ssd``; for a platform: ``2 run linux/amd64, not linux/arm64``."""
    if c.key != PLATFORM_KEY:
        return f"{_verb(n, 'fails', 'fail')} {c}"
    seen = sorted({fleet.infos[i].platform for i in np.flatnonzero(hit)}, key=lambda p: (not p, p))
    seen = [p or "an unknown platform" for p in seen]
    return f"{_verb(n, 'runs', 'run')} {' or '.join(seen)}, not {c.value} (the service's platform)"


def no_node_fits(fleet: NodePool, req: Request, counts: np.ndarray | None = None) -> str:
    """The reason text for a replica of ``req`` that no node of ``fleet`` can take."""
    if fleet.n == 0:
        return "no node fits: there are no nodes"
    left = np.ones(fleet.n, dtype=bool)
    found: list[tuple[int, int, str]] = []  # (count, filter order, text)

    def charge(failing: np.ndarray, text: str) -> None:
        hit = failing & left
        count = int(np.count_nonzero(hit))
        if count:
            found.append((count, len(found), text(count, hit) if callable(text) else f"{count} {text}"))
            left[hit] = False

    states = np.array([x.state != NodeState.READY for x in fleet.infos], dtype=bool)
    charge(states, "not ready")
    for availability in (Availability.CORDONED, Availability.DRAINING):
        charge(np.array([x.availability == availability for x in fleet.infos], dtype=bool), availability.value)
    for c in req.constraints:
        charge(~fleet.constraint_mask(c), lambda n, hit, c=c: _fails(fleet, hit, n, c))
    if req.cap and counts is not None:
        charge(counts >= req.cap, f"at max_replicas_per_node {req.cap}")
    for p in req.static:
        held = fleet.port_mask(p)
        if fleet.members:
            own = np.fromiter((fleet.holds(i, p) for i in range(fleet.n)), dtype=bool, count=fleet.n)
            charge(held & own, f"with port {p} in use")
            charge(held, lambda n, hit, p=p: f"{_verb(n, 'shares', 'share')} a host with "
                                             f"{_holders(fleet, hit, p)}, where port {p} is in use")
        else:
            charge(held, f"with port {p} in use")
    if req.dynamic:
        charge(fleet.dyn_free < fleet.dyn_need(req), f"out of dynamic ports ({fleet.port_lo}-{fleet.port_hi})")

    def lack_cpu(n: int, hit: np.ndarray) -> str:
        best = float(fleet.free_c[hit].max()) / NANO
        return f"{_verb(n, 'lacks', 'lack')} cpu (largest free {fmt_cpus(best)} < {fmt_cpus(req.cpus)} cpus)"

    def lack_memory(n: int, hit: np.ndarray) -> str:
        best = float(fleet.free_m[hit].max())
        return f"{_verb(n, 'lacks', 'lack')} memory (largest free {fmt_memory(best)} < {fmt_memory(req.memory)})"

    charge(fleet.free_c < req.rc, lack_cpu)
    charge(fleet.free_m < req.rm, lack_memory)
    if not found:  # cannot happen when called for a replica that did not fit; say so plainly
        return "no node fits"
    found.sort(key=lambda f: (-f[0], f[1]))
    return "no node fits: " + ", ".join(text for _, _, text in found)


def node_does_not_fit(fleet: NodePool, i: int, req: Request) -> str:
    """Why node ``i`` cannot take a replica of ``req`` (for global services), or ''."""
    name = fleet.names[i]
    # The node may have changed since it was chosen (a rollout places on the old replica's node).
    x = fleet.infos[i]
    if x.state != NodeState.READY:
        return f"{name} is not ready ({x.state.value})"
    if x.availability != Availability.ACTIVE:
        return f"{name} is {x.availability.value}"
    for c in req.constraints:
        if not c.matches(x):
            if c.key == PLATFORM_KEY:
                return f"{name} runs {x.platform or 'an unknown platform'}, not {c.value} (the service's platform)"
            return f"{name} fails {c}"
    for p in req.static:
        if p in fleet.ports[i]:
            if fleet.holds(i, p):
                return f"{name} has port {p} in use"
            return f"{name} shares a host with {fleet.holder(i, p) or 'another node'}, where port {p} is in use"
    if req.dynamic and fleet.dyn_free[i] < fleet.dyn_need(req):
        return f"{name} is out of dynamic ports ({fleet.port_lo}-{fleet.port_hi})"
    if fleet.free_c[i] < req.rc:
        free = float(fleet.free_c[i]) / NANO
        return f"{name} lacks cpu (free {fmt_cpus(free)} < {fmt_cpus(req.cpus)} cpus)"
    if fleet.free_m[i] < req.rm:
        return f"{name} lacks memory (free {fmt_memory(float(fleet.free_m[i]))} < {fmt_memory(req.memory)})"
    return ""


__all__ = ["no_node_fits", "node_does_not_fit"]
