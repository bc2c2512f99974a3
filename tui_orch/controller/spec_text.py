"""A resolved ServiceSpec as the describe screen shows it.

The spec is shown as the controller uses it (every default filled in), most telling fields
first, empty ones left out. Secrets and configs appear by name and target only: never a
digest (a hash of a short secret gives it away), never where the bytes came from, never a
value. An environment variable whose name says it holds a credential shows as hidden. The
change between two revisions is revisions.diff's, with the same credentials hidden."""

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
# a changed line of the diff of two spec texts (controller/revisions.py): -/+, indent, key, value
_DIFF_ENTRY = re.compile(r"^([-+ ])(\s+)([A-Za-z_][A-Za-z0-9_.-]*): (.+)$")


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


def hide_in_diff(lines: list[str]) -> list[str]:
    """The diff of two revisions' spec texts (revisions.diff) with the value of each nested
    entry named like a credential hidden (an environment variable), at most MAX_DIFF lines."""
    out = []
    for line in lines[:MAX_DIFF]:
        m = _DIFF_ENTRY.match(line)
        if m is not None and CREDENTIAL.search(m.group(3)):
            line = f"{m.group(1)}{m.group(2)}{m.group(3)}: {HIDDEN}"
        out.append(line)
    if len(lines) > MAX_DIFF:
        out.append(f"... and {len(lines) - MAX_DIFF} more lines")
    return out


__all__ = ["hide_in_diff", "nested_lines", "shown_dict", "spec_lines"]
