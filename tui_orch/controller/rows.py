"""The rows the read side (tui_orch.controller.query) answers with: plain frozen records the
console draws, one per node, service and replica, and the fleet's summary line."""

from __future__ import annotations

from dataclasses import dataclass

from tui_orch.model import Health, ReplicaState, Rollout


@dataclass(frozen=True)
class FleetSummary:
    nodes_ready: int = 0
    nodes_total: int = 0
    cpu_allocated: float = 0.0  # cores reserved by replicas on Ready nodes
    cpu_allocatable: float = 0.0  # cores of Ready nodes, minus what they keep back
    cpu_used: float = 0.0  # cores busy (metrics)
    cpu_total: float = 0.0  # cores of the nodes with metrics
    mem_allocated: int = 0
    mem_allocatable: int = 0
    mem_used: int = 0
    mem_total: int = 0
    services_healthy: int = 0
    services_total: int = 0
    rollouts_active: int = 0  # in progress or paused
    restarts_hour: int = 0


@dataclass(frozen=True)
class NodeRow:
    name: str
    simulated: bool
    state: str  # Ready, NotReady..., with " (cordoned)" / " (draining)"
    ready: bool
    reason: str  # "" when Ready
    cpu_percent: float | None
    mem_percent: float | None
    disk_percent: float | None
    load: float | None
    net_rx: float | None  # bytes per second
    net_tx: float | None
    cpu_allocated: float
    cpu_capacity: float
    mem_allocated: int
    mem_capacity: int
    replicas: int


@dataclass(frozen=True)
class ServiceRow:
    name: str
    image: str
    mode: str  # replicated | global
    desired: int
    running: int
    healthy: int
    revision: int
    rollout: Rollout | None
    restarts: int
    paused: bool
    unowned: bool = False  # not in this state: its containers run, kept; never a desired service
    # traffic (issue 13): its published ingress ports as clients name them ("8080", or
    # "10.0.0.5:8080" when bound to one address), the names the other services of its networks
    # reach it by (while a mesh proxy serves it), and its replicas in rotation / draining (a
    # service with neither has no rotation)
    ingress: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    in_rotation: int = 0
    draining: int = 0


@dataclass(frozen=True)
class ReplicaRow:
    key: str
    service: str
    slot: int
    node: str
    state: ReplicaState
    health: Health
    restarts: int
    uptime: float | None  # seconds, while it runs
    cpu_percent: float | None  # of one core
    mem_used: int | None
    ports: tuple[int, ...]
    revision: int
    message: str
    container_id: str | None
    rotation: str = ""  # "in", "draining" or "out"; "" for a service with no ingress port (issue 13)


@dataclass(frozen=True)
class RevisionRow:
    """One kept revision of a service, as `rollout history` and the console list them."""

    number: int
    created_at: float  # when it was applied (stored)
    applied_by: str  # user@host of the process that applied it; "" when not recorded (older)
    cause: str  # "apply web.yaml", "rollout restart"...
    image: str
    current: bool  # the revision the service is at
    change: str  # what it changed from the kept revision before it, in a few words
