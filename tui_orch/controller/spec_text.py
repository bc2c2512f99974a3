"""A resolved ServiceSpec as the describe screen shows it, and the change between two of them.

The spec is shown as the controller uses it (every default filled in), most telling fields
first, empty ones left out. Secrets and configs appear by name and target only: never a
digest (a hash of a short secret gives it away), never where the bytes came from, never a
value. An environment variable whose name says it holds a credential shows as hidden."""

from __future__ import annotations

import re
from typing import Any

from tui_orch.manifest.sections import CREDENTIAL, HIDDEN
from tui_orch.model import ServiceSpec, to_dict
from tui_orch.units import format_bytes, format_duration

FIRST = ("image", "mode", "replicas", "command", "entrypoint", "resources", "ports", "networks", "expose",
         "mounts", "volumes", "tmpfs", "secrets", "configs", "healthcheck", "update_config", "rollback_config",
         "restart_policy", "placement", "environment", "labels")
DURATIONS = frozenset({"interval", "timeout", "start_period", "start_interval", "monitor", "delay", "window",
                       "stop_grace_period"})
MAX_DIFF = 200  # lines of a change shown


def _pairs(pairs: Any) -> dict[str, Any]:
    return {str(k): v for k, v in pairs}


def shown_dict(spec: ServiceSpec) -> dict[str, Any]:
    """The spec as plain data, secrets and credentials left out, in FIRST's order."""
    d = to_dict(spec)
    d["secrets"] = [f"{s.name} -> {s.target}" for s in spec.secrets]
    d["configs"] = [f"{c.name} -> {c.target}" for c in spec.configs]
    d["environment"] = {k: HIDDEN if CREDENTIAL.search(k) else v for k, v in spec.environment}
    d["labels"] = _pairs(spec.labels)
    d["tmpfs"] = _pairs(spec.tmpfs)
    d["placement"]["constraints"] = [str(c) for c in spec.placement.constraints]
    d.pop("name", None)
    return {k: d[k] for k in (*FIRST, *sorted(set(d) - set(FIRST)))}


def _empty(value: Any) -> bool:
    return value is None or value is False or value in ("", 0, 0.0) or (hasattr(value, "__len__") and not len(value))


def _scalar(key: str, value: Any) -> str:
    if key == "memory" and isinstance(value, int) and not isinstance(value, bool):
        return format_bytes(value)
    if key in DURATIONS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(float(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _inline(key: str, value: Any) -> str | None:
    """A short list or mapping on one line, or None when it needs lines of its own."""
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return "[" + ", ".join(_scalar(key, v) for v in value) + "]"
    kept = {k: v for k, v in value.items() if not _empty(v)} if isinstance(value, dict) else None
    if kept is not None and all(not isinstance(v, (dict, list)) for v in kept.values()):
        text = "{" + ", ".join(f"{k}: {_scalar(k, v)}" for k, v in kept.items()) + "}"
        return text if len(text) <= 90 else None
    return None


def nested_lines(data: dict[str, Any], indent: str = "", keep: frozenset[str] = frozenset({"replicas"})) -> list[str]:
    """``data`` as indented ``key: value`` lines, empty values left out (but those in ``keep``)."""
    out: list[str] = []
    for key, value in data.items():
        if _empty(value) and key not in keep:
            continue
        if not isinstance(value, (dict, list)):
            out.append(f"{indent}{key}: {_scalar(key, value)}")
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            out.append(f"{indent}{key}:")
            for item in value:
                inline = _inline(key, item) if isinstance(item, dict) else _scalar(key, item)
                out.append(f"{indent}  - {inline}" if inline is not None else f"{indent}  -")
                if inline is None:
                    out.extend(nested_lines(item, indent + "    "))
        elif (inline := _inline(key, value)) is not None and isinstance(value, list):
            out.append(f"{indent}{key}: {inline}")
        else:
            inner = (nested_lines(value, indent + "  ") if isinstance(value, dict)
                     else [f"{indent}  - {_scalar(key, v)}" for v in value])
            if inner:  # a mapping of empty values only (settings left at their defaults) is left out
                out += [f"{indent}{key}:", *inner]
    return out


def spec_lines(spec: ServiceSpec) -> list[str]:
    return nested_lines(shown_dict(spec))


def _flat(value: Any, path: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _flat(v, f"{path}[{i}]", out)
    elif not _empty(value):
        out[path] = _scalar(path.rsplit(".", 1)[-1], value)


def flat(spec: ServiceSpec) -> dict[str, str]:
    """Every set field of the shown spec by its path (``resources.limits.memory``)."""
    out: dict[str, str] = {}
    _flat(shown_dict(spec), "", out)
    return out


def spec_change(old: ServiceSpec, new: ServiceSpec) -> list[str]:
    """What changed from ``old`` to ``new``: ``- path: value`` / ``+ path: value`` lines; a
    secret or config whose bytes changed (same name) is said so, its value never shown."""
    a, b = flat(old), flat(new)
    out: list[str] = []
    for path in sorted(set(a) | set(b), key=lambda p: (_order(p), p)):
        if a.get(path) == b.get(path):
            continue
        if path in a:
            out.append(f"- {path}: {a[path]}")
        if path in b:
            out.append(f"+ {path}: {b[path]}")
    before = {(f.kind, f.name): f.digest for f in (*old.secrets, *old.configs)}
    for f in (*new.secrets, *new.configs):
        if before.get((f.kind, f.name), f.digest) != f.digest:
            out.append(f"~ {f.kind} {f.name}: its content changed (not shown)")
    if len(out) > MAX_DIFF:
        out = out[:MAX_DIFF] + [f"... and {len(out) - MAX_DIFF} more changed lines"]
    return out


def _order(path: str) -> int:
    top = re.split(r"[.\[]", path, maxsplit=1)[0]
    return FIRST.index(top) if top in FIRST else len(FIRST)


__all__ = ["HIDDEN", "flat", "nested_lines", "shown_dict", "spec_change", "spec_lines"]
