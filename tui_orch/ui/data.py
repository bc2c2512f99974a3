"""What the console shows, read from the controller's state (store, fleet): the fleet at a
glance and one plain row per node, service, replica. No Textual here, no I/O: everything is
read from memory, so a redraw never waits on a host."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tui_orch.model import (Availability, Health, NodeState, Replica, ReplicaState, Resources, Rollout,
                            from_dict)

if TYPE_CHECKING:
    from tui_orch.controller import Controller
    from tui_orch.nodes.base import Node

HOLDING = frozenset(s for s in ReplicaState if s not in (ReplicaState.STOPPED, ReplicaState.LOST))


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
    rollouts_active: int = 0
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
    desired: int
    running: int
    healthy: int
    revision: int
    rollout: Rollout | None
    restarts: int
    paused: bool


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


def rollouts(ctl: "Controller") -> dict[str, Rollout]:
    """Every service's rollout record (the controller's view when it has one)."""
    method = getattr(ctl, "rollouts", None)
    if callable(method):
        return dict(method())
    out: dict[str, Rollout] = {}
    for service, data in ctl.store.rollouts().items():
        with contextlib.suppress(TypeError, ValueError, KeyError):
            out[service] = from_dict(Rollout, data)
    return out


def _is_up(rep: Replica) -> bool:
    return rep.state == ReplicaState.RUNNING


def _is_healthy(rep: Replica) -> bool:
    return rep.state == ReplicaState.RUNNING and rep.health in (Health.HEALTHY, Health.NONE)


def serving_retired(ro: Rollout | None) -> set[str]:
    """start-first: the keys whose old replica still serves (healthy) while its replacement
    starts; the service counts them as running and healthy, as its clients see them."""
    keys: set[str] = set()
    for key, old in ro.retiring if ro is not None else ():
        with contextlib.suppress(TypeError, ValueError, KeyError):
            if _is_healthy(from_dict(Replica, json.loads(old))):
                keys.add(key)
    return keys


def desired_count(ctl: "Controller", name: str, replicas: int | None, revision: int) -> tuple[int, str]:
    """(replicas wanted, image) of a service; global services want one per Ready node."""
    rev = ctl.store.revision(name, revision)
    if rev is None:
        return (replicas or 0), ""
    if rev.spec.mode == "global":
        return len(ctl.fleet.ready()), rev.spec.image
    return (rev.spec.replicas if replicas is None else replicas), rev.spec.image


def service_rows(ctl: "Controller", replicas: Iterable[Replica] | None = None,
                 outs: dict[str, Rollout] | None = None) -> list[ServiceRow]:
    by_service: dict[str, list[Replica]] = {}
    for rep in ctl.store.replicas() if replicas is None else replicas:
        by_service.setdefault(rep.service, []).append(rep)
    outs = rollouts(ctl) if outs is None else outs
    rows = []
    for rec in ctl.store.services():
        if rec.removed:
            continue
        want, image = desired_count(ctl, rec.name, rec.replicas, rec.revision)
        reps = by_service.get(rec.name, [])
        serving = serving_retired(outs.get(rec.name))
        rows.append(ServiceRow(
            name=rec.name, image=image, desired=want,
            running=sum(1 for r in reps if _is_up(r) or r.key in serving),
            healthy=sum(1 for r in reps if _is_healthy(r) or r.key in serving),
            revision=rec.revision, rollout=outs.get(rec.name),
            restarts=sum(r.restarts for r in reps), paused=rec.paused))
    return rows


def allocatable(node: "Node") -> Resources:
    """What replicas may reserve on a node: its capacity minus what it keeps back (as
    NodeInfo.allocatable computes it)."""
    cap, res = node.capacity or Resources(), node.spec.reserved
    return Resources(max(0.0, cap.cpus - res.cpus), max(0, cap.memory - res.memory))


def node_rows(ctl: "Controller", replicas: Iterable[Replica] | None = None,
              only: Container[str] | None = None) -> list[NodeRow]:
    """A row per node (``only``: per node named there), in the fleet's order."""
    held: dict[str, tuple[float, int, int]] = {}
    for rep in ctl.store.replicas() if replicas is None else replicas:
        if rep.state in HOLDING:
            cpus, mem, count = held.get(rep.node, (0.0, 0, 0))
            held[rep.node] = (cpus + rep.cpus, mem + rep.memory, count + 1)
    availability = ctl.store.availability()
    rows = []
    for node in ctl.fleet.nodes.values():  # no NodeInfo per node: a thousand cost ~10 ms
        if only is not None and node.name not in only:
            continue
        m = node.metrics
        node_state = node.status.state
        ready = node_state == NodeState.READY
        state = node_state.value
        avail = availability.get(node.name, Availability.ACTIVE)
        if avail != Availability.ACTIVE:
            state += f" ({avail.value})"
        cpus, mem, count = held.get(node.name, (0.0, 0, 0))
        alloc = allocatable(node)
        fresh = m is not None and ready
        rows.append(NodeRow(
            name=node.name, simulated=node.simulated, state=state, ready=ready,
            reason="" if ready else node.status.reason,
            cpu_percent=m.cpu_percent if fresh and m else None,
            mem_percent=m.mem_percent if fresh and m else None,
            disk_percent=100.0 * m.disk_used / m.disk_total if fresh and m and m.disk_total else None,
            load=m.load[0] if fresh and m else None,
            net_rx=m.net_rx_bps if fresh and m else None, net_tx=m.net_tx_bps if fresh and m else None,
            cpu_allocated=cpus, cpu_capacity=alloc.cpus, mem_allocated=mem, mem_capacity=alloc.memory,
            replicas=count))
    return rows


def replica_rows(ctl: "Controller", now: float, replicas: Iterable[Replica] | None = None) -> list[ReplicaRow]:
    rows = []
    nodes = ctl.fleet.nodes
    for rep in ctl.store.replicas() if replicas is None else replicas:
        node: Node | None = nodes.get(rep.node)
        cm = node.container_metrics.get(rep.container_id or "") if node is not None else None
        up = rep.state == ReplicaState.RUNNING and rep.started_at is not None
        rows.append(ReplicaRow(
            key=rep.key, service=rep.service, slot=rep.slot, node=rep.node, state=rep.state, health=rep.health,
            restarts=rep.restarts, uptime=max(0.0, now - rep.started_at) if up and rep.started_at else None,
            cpu_percent=cm.cpu_percent if cm else None, mem_used=cm.mem_used if cm else None,
            ports=rep.ports, revision=rep.revision, message=rep.message, container_id=rep.container_id))
    rows.sort(key=lambda r: (r.service, r.slot, r.node))
    return rows


def summary(ctl: "Controller", restarts_hour: int, replicas: list[Replica] | None = None,
            outs: dict[str, Rollout] | None = None) -> FleetSummary:
    reps = ctl.store.replicas() if replicas is None else replicas
    outs = rollouts(ctl) if outs is None else outs
    nodes = ctl.fleet.nodes
    ready_order = [name for name, node in nodes.items() if node.status.state == NodeState.READY]
    ready = set(ready_order)
    cpu_alloc = sum(r.cpus for r in reps if r.node in ready and r.state in HOLDING)
    mem_alloc = sum(r.memory for r in reps if r.node in ready and r.state in HOLDING)
    cpu_used = cpu_total = 0.0
    mem_used = mem_total = 0
    hosts: set[str] = set()  # nodes on one machine measure the same machine: count it once
    for name in ready_order:
        m = nodes[name].metrics
        host = getattr(nodes[name], "host_id", "")
        if m is None or (host and host in hosts):
            continue
        if host:
            hosts.add(host)
        cpu_used += m.cpu_percent / 100.0 * m.cores
        cpu_total += m.cores
        mem_used += m.mem_used
        mem_total += m.mem_total
    services = service_rows(ctl, reps, outs)
    alloc = [allocatable(nodes[name]) for name in ready_order]
    return FleetSummary(
        nodes_ready=len(ready), nodes_total=len(nodes),
        cpu_allocated=cpu_alloc, cpu_allocatable=sum(a.cpus for a in alloc),
        cpu_used=cpu_used, cpu_total=cpu_total,
        mem_allocated=mem_alloc, mem_allocatable=sum(a.memory for a in alloc),
        mem_used=mem_used, mem_total=mem_total,
        services_healthy=sum(1 for s in services if s.healthy >= s.desired),
        services_total=len(services),
        rollouts_active=sum(1 for r in outs.values() if r.active),
        restarts_hour=restarts_hour)


def event_object(ev: Any) -> str:
    """What an event is about: the replica, else the service, else the node."""
    return ev.replica or ev.service or ev.node or ""
