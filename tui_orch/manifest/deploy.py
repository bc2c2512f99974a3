"""A service's ``deploy:`` block: mode, replicas, resources, restart/update/rollback policies,
placement and labels. Absent settings take Docker Swarm's defaults (the model's defaults)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node

from tui_orch.manifest.decisions import (
    DEPLOY, LIMITS, PLACEMENT, RESERVATIONS, RESOURCES, RESTART_POLICY, UPDATE_CONFIG, Decision,
    known_entries,
)
from tui_orch.manifest.fields import key_values
from tui_orch.manifest.reader import Entries, Invalid, Reader, Reported, got, is_null, join, shown
from tui_orch.model import Constraint, Placement, Resources, ResourceSpec, RestartPolicy, UpdateConfig
from tui_orch.units import format_bytes

MAX_REPLICAS = 10_000
MIN_MEMORY = 6 * 1024 * 1024  # Docker refuses memory limits and reservations below 6 MiB
CONSTRAINT_KEYS = "node.hostname, node.id, node.role, node.labels.NAME"
_CONSTRAINT_RE = re.compile(r"^\s*([^\s=!]+)\s*(==|!=)\s*(\S.*?)\s*$")
_LABEL_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-/]+$")

Read = Callable[[Node, str], Any]


@dataclass
class Deploy:
    spec: dict[str, Any] = field(default_factory=dict)  # ServiceSpec keyword arguments
    labels: dict[str, str] = field(default_factory=dict)
    restart_policy_set: bool = False
    pids: int | None = None  # resources.limits.pids: read as the service's pids_limit (issue 12)


def parse_deploy(r: Reader, node: Node, path: str) -> Deploy:
    entries = known_entries(r, r.entries(node, path), DEPLOY, path)
    before = r.error_count
    readers: dict[str, Read] = {
        "mode": lambda n, p: _mode(r, n, p),
        "replicas": lambda n, p: r.whole(n, p, 0, MAX_REPLICAS),
        "resources": lambda n, p: _resources(r, n, p),
        "restart_policy": lambda n, p: _restart_policy(r, n, p),
        "update_config": lambda n, p: _update_config(r, n, p, ("pause", "continue", "rollback")),
        "rollback_config": lambda n, p: _update_config(r, n, p, ("pause", "continue")),
        "placement": lambda n, p: _placement(r, n, p),
        "labels": lambda n, p: {k: v or "" for k, v in key_values(r, n, p, "label").items()},
    }
    out = Deploy()
    for key, (_, vnode) in entries.items():
        value = None if is_null(vnode) else r.read(readers[key], vnode, join(path, key))
        if value is None:
            continue
        if key == "labels":
            out.labels = value
        elif key == "resources":
            out.spec[key], out.pids = value
        else:
            out.spec[key] = value
    out.restart_policy_set = "restart_policy" in out.spec
    if out.spec.get("mode") == "global":
        if "replicas" in out.spec:
            r.error(entries["replicas"][0], join(path, "replicas"), "replicas cannot be set with mode: global (one replica runs on every node)")
        placement = out.spec.get("placement")
        if placement is not None and placement.max_replicas_per_node:
            where = join(path, "placement.max_replicas_per_node")
            r.error(entries["placement"][1], where, "max_replicas_per_node cannot be set with mode: global (one replica runs on every node)")
    if r.error_count > before:
        raise Reported()
    return out


def _mode(r: Reader, node: Node, path: str) -> str:
    text = r.text(node, path, "replicated or global")
    if text in ("replicated-job", "global-job"):
        raise Invalid(f"{text} is not supported: use mode replicated with restart_policy condition none or on-failure", node)
    return r.choice(node, path, ("replicated", "global"))


def _fields(r: Reader, node: Node, path: str, table: dict[str, Decision], readers: dict[str, Read]) -> tuple[dict[str, Any], Entries]:
    """Read each supported key of a block with its reader; raise Reported if any failed."""
    entries = known_entries(r, r.entries(node, path), table, path)
    before = r.error_count
    values: dict[str, Any] = {}
    for key, (_, vnode) in entries.items():
        value = None if is_null(vnode) else r.read(readers[key], vnode, join(path, key))
        if value is not None:
            values[key] = value
    if r.error_count > before:
        raise Reported()
    return values, entries


# --------------------------------------------------------------------------- resources


def _resources(r: Reader, node: Node, path: str) -> tuple[ResourceSpec, int | None]:
    """The limits and reservations, and limits.pids (None when absent)."""
    entries = known_entries(r, r.entries(node, path), RESOURCES, path)
    before = r.error_count
    found: dict[str, tuple[Resources, Entries]] = {}
    pids: int | None = None
    readers: dict[str, Read] = {"cpus": r.cpus, "memory": _memory(r), "pids": lambda n, p: r.whole(n, p, -1)}
    for key, table in (("limits", LIMITS), ("reservations", RESERVATIONS)):
        if key in entries and not is_null(entries[key][1]):
            kpath = join(path, key)
            result = r.read(lambda n, p: _fields(r, n, p, table, readers), entries[key][1], kpath)
            if result is not None:
                values = dict(result[0])
                pids = values.pop("pids", pids)
                found[key] = (Resources(**values), result[1])
    limits = found.get("limits", (Resources(), {}))[0]
    reservations, res_entries = found.get("reservations", (Resources(), {}))
    if limits.memory and reservations.memory > limits.memory:
        r.error(res_entries["memory"][1], join(path, "reservations.memory"),
                f"{format_bytes(reservations.memory)} is more than limits.memory ({format_bytes(limits.memory)})")
    if limits.cpus and reservations.cpus > limits.cpus:
        r.error(res_entries["cpus"][1], join(path, "reservations.cpus"),
                f"{reservations.cpus:g} is more than limits.cpus ({limits.cpus:g})")
    if r.error_count > before:
        raise Reported()
    return ResourceSpec(limits=limits, reservations=reservations), pids


def _memory(r: Reader) -> Read:
    def read(node: Node, path: str) -> int:
        size = r.size(node, path)
        if 0 < size < MIN_MEMORY:
            hint = f"; a size without a unit is in bytes: did you mean {size}m?" if size < 1024 else ""
            raise Invalid(f"{format_bytes(size)} is below Docker's minimum of 6 MiB{hint}", node)
        return size

    return read


# --------------------------------------------------------------------------- policies


def _restart_policy(r: Reader, node: Node, path: str) -> RestartPolicy:
    values, _ = _fields(r, node, path, RESTART_POLICY, {
        "condition": lambda n, p: r.choice(n, p, ("none", "on-failure", "any")),
        "delay": r.duration,
        "max_attempts": lambda n, p: r.whole(n, p, 0),
        "window": r.duration,
    })
    return RestartPolicy(**values)


def _update_config(r: Reader, node: Node, path: str, actions: tuple[str, ...]) -> UpdateConfig:
    values, _ = _fields(r, node, path, UPDATE_CONFIG, {
        "parallelism": lambda n, p: r.whole(n, p, 0),
        "delay": r.duration,
        "failure_action": lambda n, p: r.choice(n, p, actions),
        "monitor": r.duration,
        "max_failure_ratio": lambda n, p: r.number(n, p, 0.0, 1.0),
        "order": lambda n, p: r.choice(n, p, ("stop-first", "start-first")),
    })
    return UpdateConfig(**values)


# --------------------------------------------------------------------------- placement


def _placement(r: Reader, node: Node, path: str) -> Placement:
    values, _ = _fields(r, node, path, PLACEMENT, {
        "constraints": lambda n, p: _list(r, n, p, lambda m, q: constraint(r.text(m, q, "a constraint"), m, r, q)),
        "preferences": lambda n, p: _list(r, n, p, lambda m, q: _preference(r, m, q)),
        "max_replicas_per_node": lambda n, p: r.whole(n, p, 0),
    })
    return Placement(**values)


def _list(r: Reader, node: Node, path: str, read: Read) -> tuple[Any, ...]:
    before = r.error_count
    out = [r.read(read, item, join(path, i)) for i, item in enumerate(r.items(node, path))]
    if r.error_count > before:
        raise Reported()
    return tuple(out)


def constraint(text: str, node: Node, r: Reader | None = None, path: str = "") -> Constraint:
    """``node.labels.disk == ssd`` and the like; other keys are refused, naming the supported."""
    match = _CONSTRAINT_RE.match(text)
    if not match:
        raise Invalid(f"expected a constraint such as 'node.labels.disk == ssd' (operators == and !=), got {shown(text)}", node)
    key, op, value = match.groups()
    if key.startswith("node.labels."):
        if not _LABEL_NAME_RE.match(key[len("node.labels."):]):
            raise Invalid(f"expected a label name after node.labels., got {shown(key)}", node)
    elif key.startswith("engine.labels."):
        raise Invalid(f"engine labels are not read: label nodes in the inventory and use node.labels.NAME (supported keys: {CONSTRAINT_KEYS})", node)
    elif key not in ("node.hostname", "node.id", "node.role"):
        raise Invalid(f"unsupported constraint key {shown(key)}; supported keys: {CONSTRAINT_KEYS}", node)
    if key == "node.role":
        if value not in ("manager", "worker"):
            raise Invalid(f"node.role is manager or worker, got {shown(value)}", node)
        if r is not None and (op == "==") == (value == "manager"):
            r.warn(node, path, "every tui-orch node has role worker: this constraint matches no node")
    return Constraint(key=key, op=op, value=value)  # type: ignore[arg-type]


def _preference(r: Reader, node: Node, path: str) -> str:
    if not isinstance(node, MappingNode):
        raise Invalid(f"expected {{spread: node.labels.NAME}}, got {got(node)}", node)
    entries = r.entries(node, path)
    if list(entries) != ["spread"]:
        raise Invalid("expected {spread: node.labels.NAME} (spread is the only preference)", node)
    text = r.text(entries["spread"][1], join(path, "spread"), "node.labels.NAME").strip()
    if not text.startswith("node.labels.") or not _LABEL_NAME_RE.match(text[len("node.labels."):]):
        raise Invalid(f"expected to spread over node.labels.NAME, got {shown(text)}", entries["spread"][1])
    return text


__all__ = ["Deploy", "MAX_REPLICAS", "constraint", "parse_deploy"]
