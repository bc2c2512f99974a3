"""A service's revisions as the operator reads them (``rollout history``, the console's history
screen): each revision's spec as short YAML-like text, what changed from the revision before
in a few words, and the unified diff of the two texts.

The text shows the resolved spec (the manifest's defaults filled in) but only the fields set
to something other than their default, so that a diff shows what the operator changed and not
forty unchanged lines. A secret is shown by its name only: its digest is a hash of its bytes,
and a short secret's hash can be guessed back; a change of its bytes is said in words."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

import yaml

from tui_orch.model import FileRef, Revision, ServiceSpec, to_dict

SUMMARY_FIELDS = 3  # fields named in a summary before "and N more"


def _defaults() -> dict[str, Any]:
    """Each field of ServiceSpec that has a default, with it (as to_dict gives it)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(ServiceSpec):
        if f.default is not dataclasses.MISSING:
            out[f.name] = to_dict(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = to_dict(f.default_factory())
    return out


_DEFAULTS = _defaults()


def _readable(value: Any) -> Any:
    """Pairs (lists of [key, value]) as mappings: ``environment: {A: "1"}``, not nested lists."""
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)
                                                 for v in value):
        return {k: _readable(v) for k, v in value}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items()}
    return value


def _differing(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``data`` unlike ``defaults``' (nested: a mapping keeps only its own
    entries unlike the default's, so ``resources`` shows the one limit set)."""
    out = {}
    for key, value in data.items():
        default = defaults.get(key, object())
        if value == default or value in (None, [], {}, ""):
            continue
        if isinstance(value, dict) and isinstance(default, dict):
            value = _differing(value, default)
        out[key] = _readable(value)
    return out


def spec_fields(spec: ServiceSpec) -> dict[str, Any]:
    """The fields of ``spec`` that differ from their default, readable, secrets by name."""
    data = to_dict(spec)
    data["secrets"] = [s.name for s in spec.secrets]
    data.pop("name")
    return _differing(data, _DEFAULTS)


def spec_text(spec: ServiceSpec) -> list[str]:
    """``spec`` as YAML lines (field order as the model has it)."""
    if not (fields := spec_fields(spec)):
        return []
    return yaml.safe_dump(fields, sort_keys=False, default_flow_style=False, width=100,
                          allow_unicode=True).splitlines()


def _secrets_renewed(old: ServiceSpec, new: ServiceSpec) -> list[str]:
    """The secrets both revisions mount whose bytes changed (by digest; never shown)."""
    before: dict[str, FileRef] = {s.name: s for s in old.secrets}
    return [s.name for s in new.secrets if s.name in before and before[s.name].digest != s.digest]


def changed_fields(old: ServiceSpec, new: ServiceSpec) -> list[str]:
    """The top-level fields that differ, in the model's order."""
    a, b = to_dict(old), to_dict(new)
    return [f.name for f in dataclasses.fields(ServiceSpec) if a.get(f.name) != b.get(f.name)]


def summary(old: Revision | None, new: Revision) -> str:
    """What ``new`` changed from ``old`` (the revision before it), in a few words."""
    if old is None:
        return f"first kept: {new.spec.image}"
    names = changed_fields(old.spec, new.spec)
    if not names:
        return "same spec (new replicas)"
    parts = []
    if "image" in names:
        parts.append(f"image {old.spec.image} -> {new.spec.image}")
        names.remove("image")
    parts += names[:SUMMARY_FIELDS]
    if len(names) > SUMMARY_FIELDS:
        parts.append(f"{len(names) - SUMMARY_FIELDS} more")
    return ", ".join(parts)


def diff(old: Revision | None, new: Revision) -> list[str]:
    """The unified diff of ``old``'s spec text and ``new``'s (all added when there is no
    revision before), then a line per secret whose bytes changed."""
    before = spec_text(old.spec) if old is not None else []
    after = spec_text(new.spec)
    head = (f"revision {old.number}" if old is not None else "(nothing before)", f"revision {new.number}")
    lines = [line.rstrip("\n") for line in difflib.unified_diff(before, after, *head, lineterm="", n=3)]
    if old is not None and not lines:
        lines = [f"revision {new.number} has the same spec as revision {old.number} (a restart: new replicas)"]
    for name in _secrets_renewed(old.spec, new.spec) if old is not None else ():
        lines.append(f"# secret {name}: new content (not shown)")
    return lines
