"""What the console's ``d`` (describe) and ``y`` (the Compose text) show of one node, service,
replica or event, computed here from the read side (``Query``); the UI only shows the lines.

A describe is a few titled sections of plain lines: the resource's resolved settings, the
change from the service's previous revision, why a replica is on its node (placement.explain)
and the resource's own events. Made on demand (a key press), from memory: for a node it walks
the replicas and the node infos once, well under 50 ms at 10,000 nodes."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from tui_orch.controller.query import HOLDING, Query, allocatable
from tui_orch.controller import revisions
from tui_orch.controller.spec_text import hide_in_diff, spec_lines
from tui_orch.manifest.sections import hide_credentials
from tui_orch.model import Event, Replica, Resources, Revision
from tui_orch.units import format_bytes, format_duration

EVENTS_SHOWN = 30  # a resource's newest events
EVENTS_LOOKED = 5000  # newest events of the fleet searched for a node's or a replica's
REPLICAS_SHOWN = 200  # of a node
APPLIED = "apply "  # how a revision made by an apply names its cause (applying.commit)


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Described:
    """A describe: ``kind`` (node, service, replica, event), its name, its sections."""

    kind: str
    name: str
    sections: tuple[Section, ...]

    def section(self, title: str) -> Section | None:
        return next((s for s in self.sections if s.title.startswith(title)), None)


@dataclass(frozen=True)
class Source:
    """Where a service's Compose text comes from: ``text`` as applied (kept with the revision
    ``revision``), or None when not kept (then ``file`` is read from disk, if it is there)."""

    service: str
    file: str  # "" when no apply made it (not known)
    revision: int
    applied_at: float
    text: str | None


def stamp(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _event_lines(events: list[Event]) -> tuple[str, ...]:
    shown = events[-EVENTS_SHOWN:]
    lines = [f"{stamp(e.time)}  {e.level:<7} {e.kind:<10} {e.message}" for e in shown]
    return tuple(lines) or ("no events kept",)


def _events_of(q: Query, field: str, value: str, service: str | None = None) -> Section:
    found = [e for e in q.events(limit=EVENTS_LOOKED, service=service) if getattr(e, field) == value]
    return Section(f"Events ({min(len(found), EVENTS_SHOWN)} newest of {len(found)})", _event_lines(found))


# ---------------------------------------------------------------------- services
def previous(revisions: list[Revision], current: int, came_from: int | None = None) -> Revision | None:
    """What the service changed from: where its last rollout came from (``came_from``, an
    undo goes back to an older number), else the newest kept revision before ``current``
    (rollout_ops.previous_revision's rule)."""
    kept = {r.number: r for r in revisions}
    if came_from and came_from in kept:
        return kept[came_from]
    older = [r for r in revisions if r.number < current]
    return older[-1] if older else None


def _change(q: Query, service: str, rev: Revision) -> Section:
    ro = q.rollout(service)
    before = previous(q.revisions(service), rev.number,
                      ro.from_revision if ro is not None and ro.to_revision == rev.number else None)
    if before is None:
        return Section("Change from the previous revision", ("no earlier revision kept",))
    return Section(f"Change from revision {before.number} to {rev.number}",
                   tuple(hide_in_diff(revisions.diff(before, rev))))


def describe_service(q: Query, name: str) -> Described | None:
    rev = q.current_revision(name)
    if rev is None:
        return None
    row = next((r for r in q.service_rows() if r.name == name), None)
    head = [f"service: {name}", f"revision: {rev.number}, made {stamp(rev.created_at)} by {rev.cause or '-'}"]
    if row is not None:
        head.append(f"replicas: {row.desired} desired, {row.running} running, {row.healthy} healthy "
                    f"({row.restarts} restarts)")
        if row.paused:
            head.append("paused: its replicas are not reconciled")
    ro = q.rollout(name)
    if ro is not None:
        head.append(f"rollout: {ro.state.value}, revision {ro.from_revision} -> {ro.to_revision} ({ro.progress})")
    reps = sorted(q.replicas(name), key=lambda r: (r.slot, r.node))
    return Described("service", name, (
        Section("Service", tuple(head)),
        Section(f"Spec (revision {rev.number}, as the controller uses it)", tuple(spec_lines(rev.spec))),
        _change(q, name, rev),
        Section(f"Replicas ({len(reps)})", tuple(_replica_line(r) for r in reps) or ("none",)),
        _events_of(q, "service", name, service=name),
    ))


def _replica_line(r: Replica) -> str:
    return f"{r.key:<24} {r.node:<16} {r.state.value:<10} {r.health.value:<10} r{r.revision}  {r.restarts} restarts"


# ---------------------------------------------------------------------- nodes
def describe_node(q: Query, name: str) -> Described | None:
    node = q.node(name)
    if node is None:
        return None
    reps = q.replicas_on(name)
    held = [r for r in reps if r.state in HOLDING]
    cap = node.capacity or Resources()
    alloc = allocatable(node)
    lines = [f"node: {name}{' (simulated)' if node.simulated else ''}",
             f"state: {node.status.state.value}" + (f" since {stamp(node.status.since)}" if node.status.since else ""),
             f"reason: {node.status.reason or '-'}",
             f"availability: {q.availability(name).value}",
             f"address: {node.spec.address}", f"hostname: {node.status.hostname or '-'}",
             f"platform: {node.status.platform or '-'}",
             f"labels: {', '.join(f'{k}={v}' for k, v in node.spec.labels) or '-'}",
             f"capacity: {cap.cpus:g} cpus, {format_bytes(cap.memory)}",
             f"reserved for the host: {node.spec.reserved.cpus:g} cpus, {format_bytes(node.spec.reserved.memory)}",
             f"allocatable: {alloc.cpus:g} cpus, {format_bytes(alloc.memory)}",
             f"allocated: {sum(r.cpus for r in held):g} cpus, {format_bytes(sum(r.memory for r in held))} "
             f"to {len(held)} replica(s)"]
    m = node.metrics
    if m is not None:
        lines.append(f"in use: cpu {m.cpu_percent:.0f}%, memory {m.mem_percent:.0f}%")
    shown = sorted(reps, key=lambda r: (r.service, r.slot))[:REPLICAS_SHOWN]
    more = [f"... and {len(reps) - len(shown)} more"] if len(reps) > len(shown) else []
    return Described("node", name, (
        Section("Node", tuple(lines)),
        Section(f"Replicas ({len(reps)})", tuple(_replica_line(r) for r in shown) + tuple(more) or ("none",)),
        _events_of(q, "node", name),
    ))


# ---------------------------------------------------------------------- replicas
def _placement(q: Query, rep: Replica) -> Section:
    from tui_orch.placement.explain import explain

    spec = q.revision_spec(rep.service, rep.revision)
    infos = q.node_infos()
    info = next((i for i in infos if i.name == rep.node), None)
    if spec is None or info is None:
        why = "its revision is no longer kept" if spec is None else f"node {rep.node} is not in the fleet"
        return Section(f"Placement on {rep.node}", (f"cannot be explained: {why}",))
    counts: dict[str, int] = {}
    held = Resources()
    for r in q.replicas():
        if r.state not in HOLDING:
            continue
        if r.service == rep.service:
            counts[r.node] = counts.get(r.node, 0) + 1
        if r.node == rep.node and r.key != rep.key:
            held = Resources(held.cpus + r.cpus, held.memory + r.memory)
    fit = explain(spec, info, held, counts, infos)
    return Section(f"Placement on {rep.node} (the node as the planner sees it now)", tuple(fit.lines()))


def describe_replica(q: Query, key: str, now: float) -> Described | None:
    rep = q.replica(key)
    if rep is None:
        return None
    current = q.current_revision(rep.service)
    at = "current" if current is not None and current.number == rep.revision else "not the current one"
    up = f", up {format_duration(max(0.0, now - rep.started_at))}" if rep.started_at else ""
    lines = [f"replica: {rep.key}", f"service: {rep.service}", f"revision: {rep.revision} ({at})",
             f"node: {rep.node}", f"container: {rep.container_id or '-'}",
             f"state: {rep.state.value}{up}", f"health: {rep.health.value}",
             f"ports: {', '.join(map(str, rep.ports)) or '-'}", f"restarts: {rep.restarts}",
             f"exit code: {'-' if rep.exit_code is None else rep.exit_code}",
             f"started: {stamp(rep.started_at)}",
             f"reserves: {rep.cpus:g} cpus, {format_bytes(rep.memory)}",
             f"message: {rep.message or '-'}"]
    return Described("replica", key, (
        Section("Replica", tuple(lines)),
        _placement(q, rep),
        _events_of(q, "replica", key, service=rep.service),
    ))


# ---------------------------------------------------------------------- events
def describe_event(q: Query, ev: Event, now: float) -> Described:
    """The event, then what it is about (its replica, else service, else node) described."""
    facts = [("service", ev.service), ("replica", ev.replica), ("node", ev.node), *ev.data]
    lines = [f"time: {stamp(ev.time)}", f"level: {ev.level}", f"kind: {ev.kind}", f"message: {ev.message}",
             *(f"{k}: {v}" for k, v in facts if v)]
    about = ((describe_replica(q, ev.replica, now) if ev.replica else None)
             or (describe_service(q, ev.service) if ev.service else None)
             or (describe_node(q, ev.node) if ev.node else None))
    name = ev.replica or ev.service or ev.node or ev.kind
    rest = tuple(Section(f"{about.kind} {about.name}: {s.title}", s.lines) for s in about.sections) if about else ()
    return Described("event", name, (Section("Event", tuple(lines)), *rest))


# ---------------------------------------------------------------------- Compose text
def source(q: Query, service: str) -> Source | None:
    """Where ``service``'s Compose text is: the newest kept revision up to its current one that
    an apply made (a restart's or an undo's revision has no file of its own)."""
    current = q.current_revision(service)
    if current is None:
        return None
    for rev in reversed([r for r in q.revisions(service) if r.number <= current.number]):
        if rev.cause.startswith(APPLIED):
            text = hide_credentials(rev.compose) if rev.compose else None
            return Source(service, rev.cause[len(APPLIED):], rev.number, rev.created_at, text)
    return Source(service, "", current.number, current.created_at, None)


def read_section(src: Source) -> tuple[str | None, str]:
    """(the service's part of its file as it is on disk now, or None; why not, or where it
    came from). Reads a file: call it in a thread."""
    from tui_orch.manifest.sections import section_of

    if not src.file or src.file.startswith("<"):
        return None, "it was not applied from a file (no Compose text is kept for it)"
    try:
        with open(src.file, encoding="utf-8", errors="replace") as f:
            text = f.read(4 << 20)
    except OSError as exc:
        return None, f"{src.file} cannot be read on this machine ({exc.strerror or exc})"
    found = section_of(text, src.file, src.service)
    if found is None:
        return None, f"{src.file} has no service {src.service} any more (or is not valid YAML now)"
    return hide_credentials(found), f"read from disk now ({os.path.abspath(src.file)}): not kept when it was applied"


__all__ = ["Described", "Section", "Source", "describe_event", "describe_node", "describe_replica",
           "describe_service", "read_section", "source"]
