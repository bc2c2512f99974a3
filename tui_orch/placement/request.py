"""What one replica of a service asks of a node, in the units the planner counts in."""

from __future__ import annotations

from typing import NamedTuple

from tui_orch.model import Constraint, ServiceSpec

NANO = 1_000_000_000
PLATFORM_KEY = "node.platform"  # the constraint a service's platform: becomes


def constraints_of(spec: ServiceSpec) -> tuple[Constraint, ...]:
    """The service's placement constraints, and its platform as one more: a replica lands only
    on a node whose engine runs that os/arch (``Constraint.matches``; an unknown one fails)."""
    own = tuple(spec.placement.constraints)
    if spec.settings.platform:
        return (*own, Constraint(PLATFORM_KEY, "==", spec.settings.platform))
    return own


def nano(cpus: float) -> int:
    """Cores as integer nano-cores (Docker's NanoCPUs)."""
    return int(round(cpus * NANO))


class Request(NamedTuple):
    """What one replica of a service asks of a node (a named tuple: made once per service
    and plan, cheaply)."""

    service: str
    cpus: float
    memory: int
    rc: int  # nano-cores
    rm: int  # bytes
    layout: tuple[int | None, ...]  # host port per PortSpec, None = dynamic
    static: tuple[int, ...]  # distinct static host ports
    dynamic: int  # how many dynamic host ports
    constraints: tuple[Constraint, ...]
    cap: int  # max_replicas_per_node, 0 = none
    prefs: tuple[str, ...]  # spread descriptors

    @classmethod
    def of(cls, spec: ServiceSpec) -> Request:
        res = spec.resources.reservations
        place = spec.placement
        layout: tuple[int | None, ...] = ()
        static: tuple[int, ...] = ()
        if spec.ports:
            # an ingress port's replicas bind dynamic ports (the edge proxy holds the published one)
            layout = tuple(p.host_port for p in spec.ports)
            static = tuple(sorted({p for p in layout if p is not None}))
        prefs = tuple(p.split("=", 1)[1] if p.startswith("spread=") else p for p in place.preferences)
        return cls(
            spec.name, float(res.cpus), int(res.memory), nano(res.cpus), int(res.memory), layout, static,
            len(layout) - sum(1 for p in layout if p is not None), constraints_of(spec),
            max(0, place.max_replicas_per_node), prefs,
        )


__all__ = ["NANO", "PLATFORM_KEY", "Request", "constraints_of", "nano"]
