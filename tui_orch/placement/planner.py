"""``plan``: from desired services, nodes and current replicas to the moves between them.

What is kept, stopped and started:

- a replica on a Ready node that is active or cordoned is kept, whatever its revision (the
  rollout replaces old revisions, not the planner); a replica is never moved to pack better;
- a replica on a node that is not Ready, draining or gone, or that is lost, is stopped and its
  slot placed again on a healthy node (a global replica is only stopped);
- a replicated service keeps exactly ``replicas`` distinct slots: extra slots are stopped
  (those on unhealthy nodes first, then the highest), missing ones get the lowest free numbers;
- a global service gets one replica (slot 0) on every schedulable node passing its constraints;
- replicas of services no longer desired are stopped; stopped replicas are ignored; stopping
  ones still hold their resources and ports but no longer count as replicas;
- host ports held on a node are held on every node of its host (same ``NodeInfo.host_id``);
- ``replace`` lists replica keys to place anew for a rollout: ``stop-first`` frees the old
  replica before placing, ``start-first`` places while the old one still holds its resources;
- ``homes`` maps replica keys to the node that holds their data (named volumes, homes.py): a
  homed slot is placed only there; while that node is not Ready, draining, cordoned or gone,
  the slot waits (unschedulable, saying why): its replica there is not stopped and nothing
  starts elsewhere (an empty copy elsewhere would look healthy and lose the data's writes).

Placement of a batch: global replicas first (each is bound to its node), then the services,
largest replica first (see ``orderings``). A second ordering is tried for batches of up to
``options.retry_limit`` replicas, and a few more for up to ``options.search_limit``; the plan
with fewer unschedulable replicas, then fewer nodes in use, wins (the first one on ties). A
replica it still leaves out is placed when moving one or two replicas of the same plan makes
room for it (``repair``; the plan notes each such exchange); when it leaves none out and the
orderings were searched, nodes it opened are emptied again when their new replicas fit on the
other nodes in use (``pack``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Literal

from tui_orch.container_settings import platform_matches
from tui_orch.manifest.volumes import is_docker_socket
from tui_orch.model import Availability, NodeInfo, NodeState, Replica, ReplicaState, ServiceSpec
from tui_orch.placement.engine import Placer
from tui_orch.placement.homes import waits_line
from tui_orch.placement.pool import NodePool, Request
from tui_orch.placement.repair import pack, repair
from tui_orch.placement.request import constraints_of
from tui_orch.placement.orderings import orderings
from tui_orch.placement.result import Plan, PlacementOptions, Start, Stop, Unschedulable


@dataclass
class _Work:
    """What the diff of desired and current state leaves to do."""

    stops: list[Stop]
    keeps: set[str]
    held: list[Replica]  # replicas whose resources count while placing
    groups: dict[str, tuple[list[int], list[str]]]  # service -> slots to place, why
    pinned: list[tuple[str, str, str]]  # (service, node, why) for global services
    homed: list[tuple[str, int, str, str]] = field(default_factory=list)  # (service, slot, home, why)
    waiting: list[Unschedulable] = field(default_factory=list)  # homed slots whose node is away
    notes: list[str] = field(default_factory=list)  # what the plan should say about the choice


def displaced(replica: Replica, nodes: dict[str, NodeInfo]) -> str:
    """Why ``replica`` must leave its node ('' if it may stay)."""
    node = nodes.get(replica.node)
    if node is None:
        return f"node {replica.node} is gone"
    if replica.state == ReplicaState.LOST:
        return f"lost on {replica.node}"
    if node.state != NodeState.READY:
        return f"{replica.node} is {node.state.value}"
    if node.availability == Availability.DRAINING:
        return f"{replica.node} is draining"
    return ""


def away(node: str, nodes: Mapping[str, NodeInfo]) -> str:
    """Why nothing can start on ``node`` now ('' if it is Ready and active)."""
    info = nodes.get(node)
    if info is None:
        return f"{node} is gone"
    if info.state != NodeState.READY:
        return f"{node} is {info.state.value}"
    return "" if info.availability == Availability.ACTIVE else f"{node} is {info.availability.value}"


def _route(work: _Work, spec: ServiceSpec, slots: list[int], whys: list[str], homes: Mapping[str, str],
           nodes: Mapping[str, NodeInfo]) -> None:
    """Slots to place: a homed one goes to its home, or waits for it; the others are placed."""
    todo: list[int] = []
    reasons: list[str] = []
    for slot, why in zip(slots, whys):
        home = homes.get(f"{spec.name}.{slot}")
        if home is None:
            todo.append(slot)
            reasons.append(why)
        elif gone := away(home, nodes):
            work.waiting.append(Unschedulable(spec.name, slot, waits_line(spec, home, gone)))
        else:
            work.homed.append((spec.name, slot, home, f"{why}; its data is on {home}" if why else
                               f"its data is on {home}"))
    if todo:
        work.groups[spec.name] = (todo, reasons)


def _diff(
    specs: dict[str, ServiceSpec], fleet: NodePool, current: Iterable[Replica], replace: set[str], order: str,
    homes: Mapping[str, str] = {},
) -> _Work:
    nodes = {x.name: x for x in fleet.infos}
    work = _Work([], set(), [], {}, [])
    by_service: dict[str, list[Replica]] = {}
    for r in sorted(current, key=attrgetter("service", "slot", "node", "revision")):
        if r.state == ReplicaState.STOPPED:
            continue
        if r.state == ReplicaState.STOPPING:
            work.held.append(r)
        else:
            by_service.setdefault(r.service, []).append(r)

    def stop(r: Replica, reason: str) -> None:
        work.stops.append(Stop(r.key, r.node, reason, r.revision))

    def replace_or_keep(r: Replica) -> bool:
        """Keep a healthy replica unless a rollout replaces it; True if it is replaced."""
        if r.key in replace:
            stop(r, f"replaced ({order})")
            if order == "start-first":
                work.held.append(r)
            return True
        work.held.append(r)
        return False

    for name in sorted(set(by_service) | set(specs)):
        reps, spec = by_service.get(name, []), specs.get(name)
        if spec is None:
            for r in reps:
                stop(r, f"service {name} is no longer deployed")
            continue
        if spec.mode == "global":
            eligible = [
                x.name for x in fleet.infos if x.schedulable and all(c.matches(x) for c in constraints_of(spec))
            ]
            covered: set[str] = set()
            for r in reps:
                why = "service is now global" if r.slot else displaced(r, nodes)
                if why:
                    stop(r, why)
                elif replace_or_keep(r):
                    work.pinned.append((name, r.node, f"replaces {r.key} (rollout)"))
                    covered.add(r.node)
                else:
                    work.keeps.add(r.key)
                    covered.add(r.node)
            new = [(name, node, "") for node in eligible if node not in covered]
            work.pinned += new
            if new or not eligible:  # said when the plan places some, or can place none
                work.notes += _other_platforms(spec, fleet)
            continue
        desired = max(0, spec.replicas)
        if not reps:
            if desired:
                _route(work, spec, list(range(1, desired + 1)), [""] * desired, homes, nodes)
            continue
        slots: dict[int, list[tuple[Replica, str]]] = {}  # slot -> (replica, why it must leave)
        for r in reps:
            if r.slot <= 0:
                stop(r, "service is now replicated")
            else:
                slots.setdefault(r.slot, []).append((r, displaced(r, nodes)))
        healthy = {s: any(not why for _, why in rs) for s, rs in slots.items()}
        survivors = set(sorted(sorted(slots), key=lambda s: not healthy[s])[:desired])
        todo: list[int] = []
        whys: list[str] = []
        for s in sorted(slots):
            if s not in survivors:
                for r, _ in slots[s]:
                    stop(r, f"scale down to {desired}")
                continue
            replaced = ""
            home = homes.get(f"{name}.{s}")
            waits = bool(home) and bool(away(home, nodes))  # type: ignore[arg-type]
            for r, why in slots[s]:
                if why and waits and r.node == home:
                    continue  # left as it is on its home, not stopped: the slot waits there (_route)
                if why:
                    stop(r, why)
                    replaced = replaced or f"replaces {r.key} on {r.node} ({why})"
                elif replace_or_keep(r):
                    replaced = f"replaces {r.key} on {r.node} (rollout)"
                    healthy[s] = False
                else:
                    work.keeps.add(r.key)
            if not healthy[s]:
                todo.append(s)
                whys.append(replaced)
        free = (k for k in range(1, desired + len(slots) + 1) if k not in slots)
        for _ in range(desired - len(survivors)):
            todo.append(next(free))
            whys.append("")
        if todo:
            order_ = sorted(range(len(todo)), key=todo.__getitem__)
            _route(work, spec, [todo[k] for k in order_], [whys[k] for k in order_], homes, nodes)
    return work


def _place_batch(
    fleet: NodePool, groups: list[tuple[Request, list[int], list[str]]], opts: PlacementOptions
) -> tuple[list[Start], list[Unschedulable], list[str]]:
    """Place the groups in each candidate ordering; keep the best plan, and repair it when it
    leaves replicas out (``repair``)."""
    candidates = list(orderings(groups, fleet, opts))
    best: tuple[tuple[int, int], list[Start], list[Unschedulable], str, NodePool] | None = None
    first = (0, 0)
    for k, (label, ordered) in enumerate(candidates):
        trial = fleet if len(candidates) == 1 else fleet.copy()
        placer = Placer(trial)
        starts: list[Start] = []
        failed: list[Unschedulable] = []
        left_c = sum(req.rc * len(slots) for req, slots, _ in ordered)
        left_m = sum(req.rm * len(slots) for req, slots, _ in ordered)
        for req, slots, whys in ordered:
            placer.demand = (left_c, left_m)
            left_c -= req.rc * len(slots)
            left_m -= req.rm * len(slots)
            s, u = placer.place(req, slots, whys)
            starts += s
            failed += u
        rank = (len(failed), trial.nodes_in_use())
        if k == 0:
            first = rank
        if best is None or rank < best[0]:
            best = (rank, starts, failed, label, trial)
    if best is None:
        return [], [], []
    notes = []
    (unplaced, used), starts, failed, label, trial = best
    if unplaced < first[0]:
        notes.append(f"placed {label}: {unplaced} unschedulable instead of {first[0]}")
    elif used < first[1]:
        notes.append(f"placed {label}: {used} nodes in use instead of {first[1]}")
    searched = len(candidates) > 1 and len(starts) <= opts.search_limit
    return _mend(trial, starts, failed, notes, groups, used if searched else 0)


def _mend(
    trial: NodePool, starts: list[Start], failed: list[Unschedulable], notes: list[str],
    groups: list[tuple[Request, list[int], list[str]]], used: int,
) -> tuple[list[Start], list[Unschedulable], list[str]]:
    """Repair the chosen plan when it leaves replicas out; else, when ``used`` (the nodes in
    use, 0 for a batch too large to search), pack it."""
    if not failed and not used:
        return starts, failed, notes
    whys = {(req.service, slot): why for req, slots, reasons in groups for slot, why in zip(slots, reasons)}
    requests = {req.service: req for req, _, _ in groups}
    if failed:
        trial, starts, failed, moves = repair(trial, starts, failed, requests, whys)
        return starts, failed, notes + moves
    trial, starts, emptied = pack(trial, starts, requests, whys)
    if emptied:
        notes.append(f"packed: {used - emptied} nodes in use instead of {used}, replicas moved off {emptied} "
                     f"node(s) the plan had opened")
    return starts, failed, notes


def plan(
    services: Iterable[ServiceSpec],
    nodes: Sequence[NodeInfo],
    current: Iterable[Replica] = (),
    *,
    replace: Iterable[str] = (),
    replace_order: Literal["stop-first", "start-first"] = "stop-first",
    options: PlacementOptions | None = None,
    homes: Mapping[str, str] = {},
) -> Plan:
    """The moves from ``current`` replicas to the desired ``services`` on ``nodes``; ``homes``:
    replica key -> the node its data is on (see the module's docstring).

    Pure and deterministic: the same arguments give the same plan."""
    opts = options or PlacementOptions()
    specs = {s.name: s for s in services}
    fleet = NodePool(nodes, opts)
    work = _diff(specs, fleet, current, set(replace), replace_order, homes)
    placer = Placer(fleet, work.held)
    starts: list[Start] = []
    failed: list[Unschedulable] = list(work.waiting)
    for name, node, why in sorted(work.pinned):
        result = placer.place_on(specs[name], node, why)
        (starts if isinstance(result, Start) else failed).append(result)  # type: ignore[arg-type]
    for name, slot, node, why in sorted(work.homed):
        result = placer.place_on(specs[name], node, why, slot)
        (starts if isinstance(result, Start) else failed).append(result)  # type: ignore[arg-type]
    notes: list[str] = []
    if work.groups:
        groups = [(placer.request(specs[n]), slots, whys) for n, (slots, whys) in sorted(work.groups.items())]
        s, u, notes = _place_batch(fleet, groups, opts)
        starts += s
        failed += u
    if work.groups or work.pinned or work.homed:
        placed = set(work.groups) | {name for name, _, _ in work.pinned} | {name for name, *_ in work.homed}
        shared = fleet.shared_notes if any(specs[name].ports for name in placed) else []
        notes = fleet.hot_notes + shared + notes + _privileged_notes(specs, placed) + _mount_notes(specs, placed)
        notes += _ingress_notes(specs, placed)
    notes += work.notes
    return Plan(
        starts=tuple(starts),  # in placement order, which the "after" fractions follow
        stops=tuple(sorted(work.stops, key=lambda s: (s.key, s.node, s.revision))),
        keeps=tuple(sorted(work.keeps)),
        unschedulable=tuple(sorted(failed, key=lambda u: (u.service, u.slot, u.node))),
        notes=tuple(notes),
    )


def _other_platforms(spec: ServiceSpec, fleet: NodePool) -> list[str]:
    """For a global service with a platform: the ready nodes it leaves out, and why."""
    wanted = spec.settings.platform
    left = [x for x in fleet.infos if x.schedulable and wanted and not platform_matches(wanted, x.platform)]
    if not left:
        return []
    names = ", ".join(f"{x.name} ({x.platform or 'unknown'})" for x in left)
    return [f"{spec.name} runs on {wanted} nodes only (its platform): none on {names}"]


def _privileged_notes(specs: dict[str, ServiceSpec], placed: set[str]) -> list[str]:
    """A line for each privileged service the plan starts, and for each that mounts the Docker
    socket: such a container controls its node."""
    notes = []
    for name in sorted(placed):
        if specs[name].settings.privileged:
            notes.append(f"{name} runs privileged: its containers control the node they run on (every device and capability)")
        for mount in specs[name].mounts:
            if is_docker_socket(mount):
                notes.append(f"{name} mounts the Docker socket ({mount.source}): its containers control the Docker "
                             "engine of the node they run on")
    return notes


def _ingress_notes(specs: dict[str, ServiceSpec], placed: set[str]) -> list[str]:
    """A line for each service the plan starts with ports the edge proxy serves: where
    clients reach it, and why its replicas show other (dynamic) ports."""
    notes = []
    for name in sorted(placed):
        mesh = [str(p) for p in specs[name].ports if p.ingress]
        if mesh:
            notes.append(f"{name} answers on {', '.join(mesh)} through the edge proxy; its replicas bind dynamic "
                         "host ports")
    return notes


def _mount_notes(specs: dict[str, ServiceSpec], placed: set[str]) -> list[str]:
    """A line for each service the plan starts that mounts the volumes of another service (only
    on the same node: its start fails where that one has none). The socket: _privileged_notes."""
    notes = []
    for name in sorted(placed):
        for ref in specs[name].volumes_from:
            source = ref.partition(":")[0]
            notes.append(f"{name} mounts the volumes of {source} (volumes_from): a replica starts only on a node "
                         f"where {source} has one")
    return notes


def place(
    service: ServiceSpec,
    slots: Sequence[int],
    nodes: Sequence[NodeInfo],
    current: Iterable[Replica] = (),
    *,
    on: Sequence[str] = (),
    options: PlacementOptions | None = None,
    homes: Mapping[str, str] = {},
) -> Plan:
    """Place new replicas of one service for ``slots`` (or, for a global service, on the nodes
    ``on``) given what ``current`` replicas already hold; nothing else moves. A rollout uses it
    start-first with the old replica in ``current``, stop-first with it left out. A slot with a
    home (``homes``: replica key -> node) goes there only, or waits (unschedulable)."""
    return place_with(Placer(nodes, list(current), options), service, slots, on=on, homes=homes)


def place_with(placer: Placer, service: ServiceSpec, slots: Sequence[int], *, on: Sequence[str] = (),
               homes: Mapping[str, str] = {}) -> Plan:
    """``place`` onto the fleet ``placer`` holds (``live.LivePlacement`` keeps one current)."""
    if service.mode == "global":
        results = [placer.place_on(service, node) for node in on]
    else:
        free = [s for s in slots if f"{service.name}.{s}" not in homes]
        starts, failed = placer.place(service, free)
        results = [*starts, *failed]
        if len(free) < len(slots):
            infos = {x.name: x for x in placer.fleet.infos}
            results += [_place_home(placer, service, s, homes[f"{service.name}.{s}"], infos)
                        for s in slots if s not in free]
    starts = [r for r in results if isinstance(r, Start)]
    failed = [r for r in results if isinstance(r, Unschedulable)]
    fleet = placer.fleet
    notes = fleet.hot_notes + (fleet.shared_notes if service.ports else []) if (starts or failed) else []
    return Plan(starts=tuple(starts), unschedulable=tuple(failed), notes=tuple(notes))


def _place_home(placer: Placer, spec: ServiceSpec, slot: int, home: str,
                infos: Mapping[str, NodeInfo]) -> Start | Unschedulable:
    """Slot ``slot`` of ``spec`` on its home node, or why it waits for it."""
    gone = away(home, infos)
    if gone:
        return Unschedulable(spec.name, slot, waits_line(spec, home, gone))
    return placer.place_on(spec, home, f"its data is on {home}", slot)


__all__ = ["away", "displaced", "place", "place_with", "plan"]
