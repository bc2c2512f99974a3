"""Why a replica sits on its node, as the planner's filters and ranking see it now: each hard
filter the node meets (or no longer meets), its free cpu and memory without and with the
replica, and where the node stands in the spread of the service. Read-only and pure, like the
rest of the package; the console's describe screen shows its lines (``Fit.lines``).

The planner's rule, in the order it applies (see ``placement``): the filters; then the nodes
with the fewest replicas of the service (per value of each spread preference first); then the
best multi-resource fit (the fullest node that still fits, ``pool``); then the first name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tui_orch.model import Availability, Constraint, NodeInfo, NodeState, Resources, ServiceSpec
from tui_orch.placement.request import PLATFORM_KEY, constraints_of
from tui_orch.placement.result import fmt_cpus, fmt_memory

RULE = "rule: the filters, then the fewest replicas of the service (spread), then the best fit, then the first name"


@dataclass(frozen=True)
class Check:
    """One hard filter as the node meets it (``ok``), in words naming the node's own value."""

    what: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'met' if self.ok else 'NOT met'}  {self.what}: {self.detail}"


@dataclass(frozen=True)
class Fit:
    """How one replica of a service fits its node (``explain``)."""

    node: str
    checks: tuple[Check, ...]
    allocatable: Resources
    held: Resources  # what the node's other replicas reserve
    request: Resources  # what this replica reserves
    spread: tuple[str, ...]  # the node's place in the spread, one line each

    @property
    def free_before(self) -> Resources:
        return Resources(self.allocatable.cpus - self.held.cpus, self.allocatable.memory - self.held.memory)

    @property
    def free_after(self) -> Resources:
        before = self.free_before
        return Resources(before.cpus - self.request.cpus, before.memory - self.request.memory)

    def lines(self) -> list[str]:
        before, after, alloc = self.free_before, self.free_after, self.allocatable
        out = [c.line() for c in self.checks]
        out.append(f"cpu: {fmt_cpus(max(0.0, before.cpus))} of {fmt_cpus(alloc.cpus)} free without it, "
                   f"{fmt_cpus(max(0.0, after.cpus))} with it (it reserves {fmt_cpus(self.request.cpus)})")
        out.append(f"memory: {fmt_memory(max(0, before.memory))} of {fmt_memory(alloc.memory)} free without it, "
                   f"{fmt_memory(max(0, after.memory))} with it (it reserves {fmt_memory(self.request.memory)})")
        out.extend(self.spread)
        out.append(RULE)
        return out


def _constraint(c: Constraint, node: NodeInfo) -> Check:
    value = c.node_value(node)
    shown = "an unknown platform" if c.key == PLATFORM_KEY and not value else (value if value is not None else "unset")
    return Check(str(c), c.matches(node), f"{c.key} is {shown}")


def _filters(spec: ServiceSpec, node: NodeInfo, here: int) -> list[Check]:
    checks = [Check("node Ready", node.state == NodeState.READY, node.state.value),
              Check("node active", node.availability == Availability.ACTIVE, node.availability.value)]
    checks += [_constraint(c, node) for c in constraints_of(spec)]
    cap = spec.placement.max_replicas_per_node
    if cap:
        checks.append(Check(f"max_replicas_per_node {cap}", here <= cap, f"{here} of the service here"))
    return checks


def _spread(spec: ServiceSpec, node: NodeInfo, counts: Mapping[str, int], fitting: Sequence[NodeInfo]) -> list[str]:
    """The node's count of the service's replicas against the other nodes it may run on."""
    if spec.mode == "global":
        return ["spread: global service, one replica on every node that passes the filters"]
    here = counts.get(node.name, 0)
    others = [counts.get(n.name, 0) for n in fitting if n.name != node.name]
    out = [f"spread: {here} replica(s) of {spec.name} here; "
           + (f"{min(others)}-{max(others)} on each of the {len(others)} other node(s) passing the filters"
              if others else "no other node passes the filters")]
    for descriptor in spec.placement.preferences:
        key = descriptor.split("=", 1)[1] if descriptor.startswith("spread=") else descriptor
        probe = Constraint(key, "==", "")
        per_value: dict[str, int] = {}
        for n in fitting:
            value = probe.node_value(n) or ""
            per_value[value] = per_value.get(value, 0) + counts.get(n.name, 0)
        mine = probe.node_value(node) or ""
        values = ", ".join(f"{v or '(unset)'}: {c}" for v, c in sorted(per_value.items()))
        out.append(f"spread over {key}: this node's is {mine or '(unset)'}; replicas per value: {values}")
    return out


def explain(spec: ServiceSpec, node: NodeInfo, held: Resources, counts: Mapping[str, int],
            nodes: Sequence[NodeInfo]) -> Fit:
    """How a replica of ``spec`` fits ``node``: ``held`` is what the node's other replicas
    reserve, ``counts`` the service's replicas per node (this one included), ``nodes`` every
    node (the spread is counted over those passing the filters)."""
    fitting = [n for n in nodes if n.schedulable and all(c.matches(n) for c in constraints_of(spec))]
    res = spec.resources.reservations
    return Fit(node.name, tuple(_filters(spec, node, counts.get(node.name, 0))), node.allocatable, held,
               Resources(res.cpus, res.memory), tuple(_spread(spec, node, counts, fitting)))


__all__ = ["RULE", "Check", "Fit", "explain"]
