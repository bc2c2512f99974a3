"""The read side of the controller: what the console and the CLI's read verbs (get, events,
rollout status) show, computed from the state store and, when there is one, the connected
fleet. Callers never reach into the store or the fleet themselves; everything here reads
memory only (no I/O but the store's own files), so a redraw never waits on a host.

``get_replicas`` and ``get_services`` are the rows of ``tui-orch get`` (plain dicts: its table
and its JSON), from the records as the nodes show them when the caller looked (``Live``).

Counts follow what the operator means:
- running: a replica whose container runs on a node that is Ready (a NotReady node's
  replicas are not known to run), or an old replica still serving during a start-first
  rollout;
- desired of a global service: one per node that may run it (Ready and not drained with a
  fleet; each inventory node not drained for the CLI, which connects to no node).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Container, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from tui_orch.controller.ordering import completed
from tui_orch.model import (Availability, Event, Health, NodeInfo, NodeState, Replica, ReplicaState, Resources,
                            Revision, Rollout, RolloutState, ServiceSpec, from_dict, to_dict)

from tui_orch.controller.containers import LABEL_OWNER
from tui_orch.controller.forwards import Forward, Forwards
from tui_orch.controller.context import owner_id
from tui_orch.nodes.base import LABEL_REPLICA, LABEL_REVISION, LABEL_SERVICE, ContainerInfo
from tui_orch.controller.unowned import UnownedContainer
from tui_orch.controller import revisions, usage
from tui_orch.controller.rows import FleetSummary, NodeRow, ReplicaRow, RevisionRow, ServiceRow
from tui_orch.controller.reach import ingress_ports, names_of, rotation_counts, routed

if TYPE_CHECKING:
    from tui_orch.controller.describe import Described, Source
    from tui_orch.nodes.base import Node
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.nodes.hostkeys import Offer
    from tui_orch.store import Store

Live = tuple[dict[str, list[ContainerInfo]], dict[str, str]]  # node -> containers listed, node -> why not
Row = dict[str, Any]
IDLE = ("pending", "stopping", "stopped", "lost", "failed")  # replica states with no container expected to run
HOLDING = frozenset(s for s in ReplicaState if s not in (ReplicaState.STOPPED, ReplicaState.LOST))
# a rollout that still owes work: running, or stopped by the operator half-way
UNFINISHED = frozenset(s for s in RolloutState if s not in (RolloutState.COMPLETED, RolloutState.ROLLED_BACK))


def _is_healthy(rep: Replica) -> bool:
    return rep.state == ReplicaState.RUNNING and rep.health in (Health.HEALTHY, Health.NONE)


T = TypeVar("T")


def serving_retired(ro: Rollout | None) -> set[str]:
    """start-first: the keys whose old replica still serves (healthy) while its replacement
    starts; the service counts them as running and healthy, as its clients see them."""
    keys: set[str] = set()
    for key, old in ro.retiring if ro is not None else ():
        with contextlib.suppress(TypeError, ValueError, KeyError):
            if _is_healthy(from_dict(Replica, json.loads(old))):
                keys.add(key)
    return keys


def held_by_node(replicas: Iterable[Replica]) -> dict[str, tuple[float, int, int]]:
    """Node -> (cpus, memory, replicas) reserved by ``replicas`` in a HOLDING state."""
    held: dict[str, tuple[float, int, int]] = {}
    for rep in replicas:
        if rep.state in HOLDING:
            cpus, mem, count = held.get(rep.node, (0.0, 0, 0))
            held[rep.node] = (cpus + rep.cpus, mem + rep.memory, count + 1)
    return held


def _count(reps: list[Replica], ready: set[str], serving: set[str]) -> tuple[int, int, int]:
    """(running, healthy, restarts) of a service's replicas: a one-shot job that ran to exit 0
    counts as up and healthy."""
    up = [r for r in reps if (r.state == ReplicaState.RUNNING and r.node in ready) or r.key in serving]
    done = sum(1 for r in reps if completed(r))
    healthy = sum(1 for r in up if _is_healthy(r) or r.key in serving) + done
    return len(up) + done, healthy, sum(r.restarts for r in reps)


def allocatable(node: "Node") -> Resources:
    """What replicas may reserve on a node (NodeInfo.allocatable's rule)."""
    return NodeInfo(node.name, node.capacity or Resources(), node.spec.reserved).allocatable


class Query:
    """Read-only questions about the state; ``fleet`` None for the CLI (no node connected),
    whose global services count the ``inventory`` nodes instead."""

    def __init__(self, store: "Store", fleet: "Fleet | None" = None, inventory_nodes: Iterable[str] = (),
                 unowned: Callable[[], Sequence[UnownedContainer]] = tuple,
                 rotation: Callable[[], dict[str, str]] = dict,
                 served: Callable[[], Iterable[str]] | None = None):
        self._store = store
        self._fleet = fleet
        self._inventory_nodes = tuple(inventory_nodes)
        self._unowned = unowned  # the containers of unknown services the last reconcile pass found
        self._rotation = rotation  # container id[:12] -> "in" | "draining", as the proxies were told
        # the services reached by name that a mesh proxy serves (None: those with a replica in
        # the rotation, as the proxies report it: a server they hold in any state)
        self._served = served
        self._addresses: dict[str, str | None] = {}  # node -> its advertised address (_advertised)
        self._memos: dict[str, tuple[object, Any]] = {}  # what was made of the replicas, by state version (_memo)
        # the port-forwards this reader's console opened (forwards.py): listed, stopped, checked
        # every redraw, all closed when the console quits
        self.forwards = Forwards(store, fleet, self.spec)

    def _memo(self, name: str, key: object, make: Callable[[], T]) -> T:
        """``make()``, kept while ``key`` (with the store's version: its count of changes) is
        the same. The header, the nodes and the services views each went over every replica
        record once a second: with 100,000 of them, ~100 ms a second whether anything changed
        or not; now once per change of the state (a commit)."""
        version = (self._store.changes, key)
        hit = self._memos.get(name)
        if hit is not None and hit[0] == version:
            return hit[1]  # type: ignore[no-any-return]
        value = make()
        self._memos[name] = (version, value)
        return value

    def _by_service(self) -> dict[str, list[Replica]]:
        def make() -> dict[str, list[Replica]]:
            out: dict[str, list[Replica]] = {}
            for rep in self._store.replicas():
                out.setdefault(rep.service, []).append(rep)
            return out
        return self._memo("by_service", None, make)

    def _held(self) -> dict[str, tuple[float, int, int]]:
        """Node -> (cpus, memory, replicas) its replicas in a HOLDING state reserve."""
        def make() -> dict[str, tuple[float, int, int]]:
            return held_by_node(self._store.replicas())
        return self._memo("held", None, make)

    # ------------------------------------------------------------------ traffic (traffic.py)
    def rotation(self) -> dict[str, str]:
        """container id[:12] -> "in" or "draining" (absent: out of rotation)."""
        return self._rotation()

    def addresses(self, service: str, simulated: bool = False) -> list[str]:
        """Where clients reach the service (its ingress ports on every Ready node). ``simulated``:
        on the Ready simulated nodes instead, each named (no edge proxy runs there: a console
        on simulated nodes shows where the port would answer, labelled as such)."""
        from tui_orch.controller.traffic import addresses_of

        spec = self.spec(service)
        if spec is None or self._fleet is None:
            return []
        nodes = {n.name: n.name if simulated else self._advertised(n) for n in self._fleet.ready()
                 if n.simulated == simulated}
        return addresses_of(spec, {k: v for k, v in nodes.items() if v})

    def names(self, service: str) -> tuple[list[str], list[str]]:
        """(the names the other services of its networks reach the service by, those networks'
        names) while a mesh proxy serves it; empty otherwise (no other service of its networks
        runs, or it has no port to be reached on)."""
        spec = self.spec(service)
        if spec is None or not spec.networks or service not in self._served_services():
            return [], []
        return names_of(spec), [n.name for n in spec.networks]

    def _advertised(self, node: "Node") -> str | None:
        """The node's address (traffic.advertised), looked up once: it may resolve a host name,
        and the console asks every second."""
        from tui_orch.controller.traffic import advertised

        if node.name not in self._addresses:
            self._addresses[node.name] = advertised(node.spec)
        return self._addresses[node.name]

    # ------------------------------------------------------------------ port-forwards (forwards.py)
    async def forward(self, replica: str, container_port: int, local_port: int) -> Forward:
        """Forward 127.0.0.1:``local_port`` (0: a free one) to ``container_port`` of the running
        ``replica`` through its node's connection; the handle's ``close()`` stops it. Raises
        TuiOrchError with one sentence (simulated, not running, no address, port in use)."""
        return await self.forwards.open(replica, container_port, local_port)

    # ------------------------------------------------------------------ plain records
    @property
    def readonly(self) -> bool:
        return self._store.readonly

    @property
    def problem(self) -> str | None:
        """Why the state shown may be stale or cannot be changed here (an etcd state), or None."""
        return self._store.problem

    def pending(self) -> bool:
        """Has a change come that ``refresh`` would take in (an etcd state's watch)?"""
        return self._store.pending()

    def refresh(self) -> None:
        """Reread the state files (a read-only reader follows another process's writes)."""
        self._store.refresh()

    def replicas(self, service: str | None = None) -> list[Replica]:
        return self._store.replicas(service)

    def replica(self, key: str) -> Replica | None:
        return self._store.get_replica(key)

    def replicas_on(self, node: str) -> list[Replica]:
        return [r for r in self._store.replicas() if r.node == node]

    def service_names(self) -> list[str]:
        """The services deployed (removed ones left out), in the state's order."""
        return [rec.name for rec in self._store.services() if not rec.removed]

    def spec(self, service: str) -> ServiceSpec | None:
        """The current spec of a deployed service (None when there is none)."""
        rev = self.current_revision(service)
        return rev.spec if rev is not None else None

    def revision_rows(self, service: str) -> list[RevisionRow]:
        """The kept revisions of ``service``, oldest first, each with what it changed from the
        one before; [] when there is no such service."""
        rec = self._store.get_service(service)
        if rec is None or rec.removed:
            return []
        revs = self._store.revisions(service)
        return [RevisionRow(r.number, r.created_at, r.applied_by, r.cause, r.spec.image, r.number == rec.revision,
                            revisions.summary(before, r))
                for before, r in zip([None, *revs], revs)]

    def revision_diff(self, service: str, number: int) -> list[str]:
        """The unified diff of revision ``number``'s spec against the kept revision before it
        (secrets by name only); [] when it is not kept."""
        revs = self._store.revisions(service)
        for before, r in zip([None, *revs], revs):
            if r.number == number:
                return revisions.diff(before, r)
        return []

    def current_revision(self, service: str) -> Revision | None:
        rec = self._store.get_service(service)
        return self._store.revision(service, rec.revision) if rec is not None and not rec.removed else None

    def revision_spec(self, service: str, number: int) -> ServiceSpec | None:
        rev = self._store.revision(service, number)
        return rev.spec if rev is not None else None

    def revisions(self, service: str) -> list[Revision]:
        """The kept revisions of a service, oldest first."""
        return self._store.revisions(service)

    def availability(self, node: str) -> Availability:
        return self._store.availability().get(node, Availability.ACTIVE)

    def node_infos(self) -> list[NodeInfo]:
        """Every node as the planner sees it (describe.py explains a placement with them: ~0.1 s
        at 10,000 nodes, on a key press)."""
        return self._fleet.node_infos(self._store.availability()) if self._fleet is not None else []

    # what the console's d and y show (describe.py): made on a key press, from memory
    def describe(self, kind: str, key: str, now: float) -> "Described | None":
        """The node, service or replica ``key`` described (None when it is gone)."""
        from tui_orch.controller import describe as d

        if kind == "node":
            return d.describe_node(self, key)
        if kind == "service":
            return d.describe_service(self, key)
        return d.describe_replica(self, key, now)

    def describe_event(self, ev: Event, now: float) -> "Described":
        from tui_orch.controller.describe import describe_event

        return describe_event(self, ev, now)

    def compose_source(self, service: str) -> "Source | None":
        """Where ``service``'s Compose text is (kept with a revision, or its file's path)."""
        from tui_orch.controller.describe import source

        return source(self, service)

    def events(self, limit: int | None = None, service: str | None = None, since: float | None = None) -> list[Event]:
        return self._store.events(limit=limit, service=service, since=since)

    def rollouts(self) -> dict[str, Rollout]:
        out: dict[str, Rollout] = {}
        for service, doc in self._store.rollouts().items():
            with contextlib.suppress(TypeError, ValueError, KeyError):
                out[service] = from_dict(Rollout, doc)
        return out

    def rollout(self, service: str) -> Rollout | None:
        doc = self._store.get_rollout(service)
        return from_dict(Rollout, doc) if doc else None

    def node(self, name: str) -> "Node | None":
        return self._fleet.nodes.get(name) if self._fleet is not None else None

    def node_warnings(self) -> dict[str, tuple[str, ...]]:
        """node -> what its connection warned about while going on (a missing identity file)."""
        nodes = self._fleet.nodes.values() if self._fleet is not None else ()
        return {node.name: node.warnings for node in nodes if node.warnings}

    def node_names(self) -> list[str]:
        return list(self._fleet.nodes) if self._fleet is not None else list(self._inventory_nodes)

    def shell_argv(self, node: str, container_id: str) -> list[str]:
        assert self._fleet is not None
        return self._fleet.shell_argv(node, container_id)

    # the node's SSH host key: read, and trusted when the operator saw it (nodes/trust.py)
    async def host_key(self, name: str) -> "Offer":
        """The first key not trusted yet on the node's route: its own or a jump host's (``jump``)."""
        assert self._fleet is not None
        return await self._fleet.host_key(name)

    async def trust(self, name: str, fingerprint: str) -> str:
        assert self._fleet is not None
        return await self._fleet.trust(name, fingerprint)

    # ------------------------------------------------------------------ counts
    def ready_nodes(self) -> set[str]:
        """Nodes whose replicas count as running."""
        if self._fleet is None:
            return set(self._inventory_nodes)
        return {name for name, node in self._fleet.nodes.items() if node.status.state == NodeState.READY}

    def _global_desired(self, ready: set[str]) -> int:
        """One replica per node that may run it: Ready (or of the inventory) and not draining."""
        drained = {n for n, a in self._store.availability().items() if a == Availability.DRAINING}
        return len(ready - drained)

    def service_rows(self, replicas: Iterable[Replica] | None = None,
                     outs: dict[str, Rollout] | None = None) -> list[ServiceRow]:
        if replicas is None:
            by_service = self._by_service()
        else:
            by_service = {}
            for rep in replicas:
                by_service.setdefault(rep.service, []).append(rep)
        outs = self.rollouts() if outs is None else outs
        ready = self.ready_nodes()
        counted = self._memo("counted", frozenset(ready), lambda: {}) if replicas is None else {}
        rows = []
        rot: dict[str, str] | None = None
        served: set[str] | None = None  # the services reached by name a mesh proxy serves, read once
        for rec in self._store.services():
            rev = self._store.revision(rec.name, rec.revision)
            if rec.removed:
                continue
            spec = rev.spec if rev is not None else None
            if spec is not None and spec.mode == "global":
                want = self._global_desired(ready)
            else:
                want = rec.replicas if rec.replicas is not None else (spec.replicas if spec else 0)
            reps = by_service.get(rec.name, [])
            serving = serving_retired(outs.get(rec.name))
            count = counted.get((rec.name, frozenset(serving)))
            if count is None:
                count = counted[(rec.name, frozenset(serving))] = _count(reps, ready, serving)
            running, healthy, restarts = count
            ingress = ingress_ports(spec) if spec is not None else ()
            names = tuple(names_of(spec)) if spec is not None else ()
            if (ingress or names) and rot is None:
                rot = self.rotation()  # once per call, and only when a service has a rotation
            if names and served is None:
                served = self._served_services(rot or {})
            names = names if served is not None and rec.name in served else ()  # shown where a proxy serves it
            has = bool(ingress or names)
            ins, draining = rotation_counts(reps, outs.get(rec.name), rot) if has and rot is not None else (0, 0)
            rows.append(ServiceRow(
                name=rec.name, image=spec.image if spec else "", mode=spec.mode if spec else "", desired=want,
                running=running, healthy=healthy, revision=rec.revision, rollout=outs.get(rec.name),
                restarts=restarts, paused=rec.paused,
                ingress=ingress, names=names, in_rotation=ins, draining=draining))
        return rows

    def unowned_containers(self) -> list[UnownedContainer]:
        """Containers of services the state does not know that have no replica record."""
        return list(self._unowned())

    def unowned_service_rows(self) -> list[ServiceRow]:
        """A row per service the state does not know whose replica records or containers are
        found (unowned.py): what runs of it; nothing desired, nothing counted healthy."""
        running: dict[str, set[str]] = {}
        images: dict[str, str] = {}
        ready = self.ready_nodes()
        for rep in self._store.replicas():
            if not self._store.known(rep.service):
                up = rep.state == ReplicaState.RUNNING and rep.node in ready
                running.setdefault(rep.service, set()).update([rep.key] if up else [])
        for c in self._unowned():
            running.setdefault(c.service, set()).update([c.container_id] if c.running else [])
            images.setdefault(c.service, c.image)
        return [ServiceRow(name=name, image=images.get(name, ""), mode="", desired=0, running=len(up), healthy=0,
                           revision=0, rollout=None, restarts=0, paused=False, unowned=True)
                for name, up in sorted(running.items())]

    def node_rows(self, replicas: Iterable[Replica] | None = None,
                  only: Container[str] | None = None) -> list[NodeRow]:
        """A row per node (``only``: per node named there), in the fleet's order."""
        held = self._held() if replicas is None else held_by_node(replicas)
        availability = self._store.availability()
        nodes = self._fleet.nodes.values() if self._fleet is not None else ()
        return [self._node_row(node, held.get(node.name, (0.0, 0, 0)), availability.get(node.name))
                for node in nodes if only is None or node.name in only]

    @staticmethod
    def _node_row(node: "Node", held: tuple[float, int, int], avail: Availability | None) -> NodeRow:
        m = node.metrics
        ready = node.status.state == NodeState.READY
        state = node.status.state.value
        if avail is not None and avail != Availability.ACTIVE:
            state += f" ({avail.value})"
        cpus, mem, count = held
        alloc = allocatable(node)
        f = m if m is not None and ready else None
        return NodeRow(
            name=node.name, simulated=node.simulated, state=state, ready=ready,
            reason="" if ready else node.status.reason,
            cpu_percent=f.cpu_percent if f else None, mem_percent=f.mem_percent if f else None,
            disk_percent=100.0 * f.disk_used / f.disk_total if f and f.disk_total else None,
            load=f.load[0] if f else None, net_rx=f.net_rx_bps if f else None, net_tx=f.net_tx_bps if f else None,
            cpu_allocated=cpus, cpu_capacity=alloc.cpus, mem_allocated=mem, mem_capacity=alloc.memory,
            replicas=count)

    def usage_now(self) -> dict[str, tuple[float, float]]:
        """What the usage history records (controller/usage.py): per Ready node its cpu and
        memory percent, per service the cpu (cores) and memory (GiB) its running replicas use,
        from the latest samples (their mean over the 10 s took 30 ms a call with 1,000 nodes on a busy machine,
        the latest 3 ms: the plot averages what falls in one column anyway)."""
        out: dict[str, tuple[float, float]] = {}
        services: dict[str, list[float]] = {}
        for node in self._fleet.nodes.values() if self._fleet is not None else ():
            m = node.metrics
            if m is not None and node.status.state == NodeState.READY:
                out[usage.node_key(node.name)] = (m.cpu_percent, m.mem_percent)
        for rep in self._store.replicas():
            node = self.node(rep.node) if rep.state == ReplicaState.RUNNING else None
            cm = node.container_metrics.get(rep.container_id or "") if node is not None else None
            if cm is not None:
                used = services.setdefault(rep.service, [0.0, 0.0])
                used[0] += cm.cpu_percent / 100.0
                used[1] += cm.mem_used / usage.GIB
        out.update((usage.service_key(name), (cpu, mem)) for name, (cpu, mem) in services.items())
        return out

    def replica_rows(self, now: float, replicas: Iterable[Replica] | None = None) -> list[ReplicaRow]:
        rows = []
        reps = list(self._store.replicas() if replicas is None else replicas)
        maybe = {n for n in {r.service for r in reps} if (spec := self.spec(n)) is not None and routed(spec)}
        rot = self.rotation() if maybe else {}  # once per call, and only when a service has a rotation
        has = self._routed_services(maybe, rot) if maybe else set()
        for rep in reps:
            rotation = rot.get((rep.container_id or "")[:12], "out") if rep.service in has else ""
            node = self.node(rep.node)
            cm = node.container_metrics.get(rep.container_id or "") if node is not None else None
            up = rep.state == ReplicaState.RUNNING and rep.started_at is not None
            rows.append(ReplicaRow(
                key=rep.key, service=rep.service, slot=rep.slot, node=rep.node, state=rep.state, health=rep.health,
                restarts=rep.restarts, uptime=max(0.0, now - rep.started_at) if up and rep.started_at else None,
                cpu_percent=cm.cpu_percent if cm else None, mem_used=cm.mem_used if cm else None,
                ports=rep.ports, revision=rep.revision, message=rep.message, container_id=rep.container_id,
                rotation=rotation))
        rows.sort(key=lambda r: (r.service, r.slot, r.node))
        return rows

    def _routed_services(self, names: Iterable[str], rot: dict[str, str]) -> set[str]:
        """Those of the services whose replicas have a rotation: a published ingress port, or
        reached by name (on networks) and served by a mesh proxy (another service of its
        networks runs: a service no one calls has no rotation to show, not one "out")."""
        specs = {name: spec for name in names if (spec := self.spec(name)) is not None and routed(spec)}
        if all(ingress_ports(spec) for spec in specs.values()):
            return set(specs)
        served = self._served_services(rot)
        return {name for name, spec in specs.items() if ingress_ports(spec) or name in served}

    def _served_services(self, rot: dict[str, str] | None = None) -> set[str]:
        """The services reached by name a mesh proxy serves; with no ``served`` source, those with
        a replica in ``rot`` (read here when not given)."""
        if self._served is not None:
            return set(self._served())
        rot = self.rotation() if rot is None else rot
        return {r.service for r in self._store.replicas() if r.container_id and r.container_id[:12] in rot}

    def summary(self, restarts_hour: int) -> FleetSummary:
        reps = self._store.replicas()
        outs = self.rollouts()
        nodes = self._fleet.nodes if self._fleet is not None else {}
        ready_order = [name for name, node in nodes.items() if node.status.state == NodeState.READY]
        ready = set(ready_order)
        cpu_used = cpu_total = 0.0
        mem_used = mem_total = 0
        # nodes on one machine measure the same machine: count it once (the machine is the host
        # id's boot id; network namespaces of one machine share its cpus and memory)
        hosts: set[str] = set()
        for name in ready_order:
            m, host = nodes[name].metrics, nodes[name].host_id.split("/net:")[0]
            if m is None or (host and host in hosts):
                continue
            if host:
                hosts.add(host)
            cpu_used += m.cpu_percent / 100.0 * m.cores
            cpu_total += m.cores
            mem_used += m.mem_used
            mem_total += m.mem_total
        services = self.service_rows(None, outs)
        alloc = [allocatable(nodes[name]) for name in ready_order]
        held = [h for name, h in self._held().items() if name in ready]
        return FleetSummary(
            nodes_ready=len(ready), nodes_total=len(nodes),
            cpu_allocated=sum(h[0] for h in held),
            cpu_allocatable=sum(a.cpus for a in alloc), cpu_used=cpu_used, cpu_total=cpu_total,
            mem_allocated=sum(h[1] for h in held),
            mem_allocatable=sum(a.memory for a in alloc), mem_used=mem_used, mem_total=mem_total,
            services_healthy=sum(1 for s in services if s.healthy >= s.desired),
            services_total=len(services),
            rollouts_active=sum(1 for r in outs.values() if r.state in UNFINISHED),
            restarts_hour=restarts_hour)

    # ------------------------------------------------------------------ `tui-orch get`
    def get_replicas(self, live: Live | None, rotation: dict[str, str] | None = None) -> list[Row]:
        """A row per replica record, as the nodes show it when ``live``; then the containers of
        this state's owner whose service the state does not know (``unowned``). ``rotation``
        (as the proxies report it) adds whether each replica of a service with a rotation (a
        published ingress port, or reached by name) is in rotation: "in", "draining" or "out"."""
        listed, _ = live if live is not None else ({}, {})
        by_id = {c.id: c for found in listed.values() for c in found}
        rotation = self.rotation() if rotation is None else rotation
        has = self._routed_services([rec.name for rec in self._store.services()], rotation)
        rows = []
        for r in self._store.replicas():
            row = {**to_dict(r), "key": r.key, "container_id": (r.container_id or "")[:12]}
            if r.service in has:
                row["rotation"] = rotation.get(row["container_id"], "out")
            if live is not None and row["state"] not in IDLE:
                row.update(_as_found(r.node in listed, by_id.get(r.container_id or "")))
            if completed(r) and row["state"] == "exited":
                row["state"] = "completed"  # a one-shot job's success, not a death
            rows.append(row)
        return rows + (self._unowned_rows(listed) if live is not None else [])

    def _unowned_rows(self, listed: dict[str, list[ContainerInfo]]) -> list[Row]:
        owner, rows = owner_id(self._store), []
        for node, found in sorted(listed.items()):
            for c in found:
                service = c.label(LABEL_SERVICE) or ""
                if c.label(LABEL_OWNER) != owner or self._store.known(service):
                    continue
                rows.append({"key": c.label(LABEL_REPLICA) or c.name, "service": service, "node": node,
                             "state": "unowned", "health": c.health, "revision": c.label(LABEL_REVISION) or "",
                             "restarts": 0, "ports": [], "container_id": c.id[:12], "image": c.image,
                             "running": c.status == "running"})
        return rows

    def get_services(self, replicas: list[Row], nodes: dict[str, str] | None = None) -> list[Row]:
        """A row per service of the state, counted from ``replicas`` (``get_replicas``); then one
        per service the rows show that the state does not know. ``nodes`` (name -> address of
        the Ready nodes) adds each service's addresses (its published ingress ports)."""
        by_service: dict[str, list[Row]] = {}
        for r in replicas:
            by_service.setdefault(r["service"], []).append(r)
        ready = self.ready_nodes()
        rows = []
        for rec in self._store.services():
            rev = self._store.revision(rec.name, rec.revision)
            mine = by_service.pop(rec.name, [])
            want = rec.replicas if rec.replicas is not None else (rev.spec.replicas if rev else 0)
            if rev and rev.spec.mode == "global" and ready:
                want = self._global_desired(ready)
            rows.append({
                "name": rec.name, "revision": rec.revision, "image": rev.spec.image if rev else "",
                "mode": rev.spec.mode if rev else "", "desired": want,
                "running": sum(1 for r in mine if r["state"] == "running"),
                "healthy": sum(1 for r in mine if r["state"] == "running" and r["health"] in ("healthy", "none")),
                "restarts": sum(r["restarts"] for r in mine), "rollout": _rollout_cell(self.rollout(rec.name)),
                "removed": rec.removed,
                "addresses": addresses_of(rev.spec, nodes) if rev and nodes and not rec.removed else [],
                "in_rotation": sum(1 for r in mine if r.get("rotation") == "in"),
                # reached by name (issue 13): its name and aliases, on its networks
                "names": names_of(rev.spec) if rev and not rec.removed else [],
                "networks": [n.name for n in rev.spec.networks] if rev else [],
            })
        for name, mine in sorted(by_service.items()):  # records or containers of services not in the state
            rows.append({
                "name": name, "revision": "", "image": next((r.get("image", "") for r in mine), ""), "mode": "",
                "desired": "", "running": sum(1 for r in mine if r["state"] == "running" or r.get("running")),
                "healthy": 0, "restarts": sum(r["restarts"] for r in mine), "removed": False,
                "rollout": "unowned: not in this state, kept (restore the state or `tui-orch rm`)",
            })
        return rows


def addresses_of(spec: ServiceSpec, nodes: dict[str, str]) -> list[str]:
    from tui_orch.controller.traffic import addresses_of as of

    return of(spec, nodes)


def _as_found(listed: bool, c: ContainerInfo | None) -> Row:
    """What a replica's row shows of its container as its node listed it."""
    if not listed:
        return {"state": "unknown", "health": "unknown"}
    if c is None:
        return {"state": "gone", "health": "none"}
    if c.status != "running":
        return {"state": c.status, "health": "none"}
    return {"health": c.health} if c.health != "none" else {}


def _rollout_cell(ro: Rollout | None) -> str:
    if ro is None:
        return "-"
    if ro.state in (RolloutState.COMPLETED, RolloutState.ROLLED_BACK):
        return ro.state.value
    return f"{ro.state.value} {ro.batch}/{ro.batches} ({ro.updated}/{ro.total} updated)"
