"""``extends``: a service built on another one, of the same file (``extends: base`` or
``{service: base}``) or of another file (``{file: common.yaml, service: base}``), merged as
Compose merges: mappings key by key (``environment`` and ``labels`` in list form too), sequences
appended (an identical entry once), ``command``, ``entrypoint`` and ``healthcheck.test``
replaced, and any other value replaced by the extending service's.

The merge is made on the YAML nodes, before the service is read, so that every check and
default applies to the merged service as to one written out. Cycles are refused, naming the
services. Limitation: a problem in a service of another file is reported with its line in that
file but under the extending file's name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tui_orch.manifest.files import FileRefused, read_limited
from tui_orch.manifest.reader import (
    MAP, NULL, SEQ, Entries, Invalid, Reader, YamlProblem, compose, decode, join, mark_file, shown,
)

_STR = "tag:yaml.org,2002:str"
_REPLACED = {"command", "entrypoint", "test"}
_AS_MAPPING = {"environment", "labels"}


@dataclass
class Extending:
    """What resolving the services of one run keeps: merged nodes (alive, since the reader
    caches entries by node id) and the other files read, by path."""

    nodes: list[Node] = field(default_factory=list)
    files: dict[str, Entries | None] = field(default_factory=dict)


def resolve(r: Reader, base_dir: str, services: Entries, name: str, state: Extending,
            chain: tuple[str, ...] = ()) -> Node:
    """The service ``name`` of ``services`` with its ``extends`` merged in (its own node when
    it extends nothing; without ``extends`` when that cannot be resolved: reported)."""
    node = services[name][1]
    if not isinstance(node, MappingNode):
        return node
    own = r.read(r.entries, node, join("services", name))
    if own is None or "extends" not in own:
        return node
    knode, ext = own["extends"]
    child = _mapping(node, [(k, v) for k, v in node.value if not (isinstance(k, ScalarNode) and k.value == "extends")])
    state.nodes.append(child)
    path = join(join("services", name), "extends")
    target = r.read(lambda n, p: _target(r, n, p), ext, path)
    if target is None:
        return child
    file, service = target
    where = f"{file}:{service}" if file else service
    if where in chain:
        r.error(knode, path, "extends cycle: " + " -> ".join([*chain, where]) + "; remove one of these extends")
        return child
    other_dir, other = base_dir, services
    if file:
        full = os.path.join(base_dir, os.path.expanduser(file))
        found = _services_of(r, full, ext, path, state)
        if found is None:
            return child
        other_dir, other = os.path.dirname(full) or ".", found
    if service not in other:
        r.error(ext, path, f"extends undefined service {shown(service)}" + (f" of {file}" if file else ""))
        return child
    base = resolve(r, other_dir, other, service, state, (*chain, where) if chain else (name, where))
    return _merge(r, base, child, "service", state)


def _target(r: Reader, node: Node, path: str) -> tuple[str | None, str]:
    if isinstance(node, ScalarNode):
        return None, r.text(node, path, "a service name")
    entries = r.entries(node, path)
    unknown = [k for k in entries if k not in ("service", "file")]
    if unknown:
        raise Invalid(f"unknown key {shown(unknown[0])}; extends takes service and file", entries[unknown[0]][0])
    if "service" not in entries:
        raise Invalid("missing service: (the service to extend)", node)
    service = r.text(entries["service"][1], join(path, "service"), "a service name")
    file = r.text(entries["file"][1], join(path, "file"), "a file path") if "file" in entries else None
    return file, service


def _services_of(r: Reader, full: str, where: Node, path: str, state: Extending) -> Entries | None:
    """The ``services:`` entries of another file (read once), or None after reporting why not."""
    if full in state.files:
        return state.files[full]
    state.files[full] = None
    try:
        root = compose(decode(read_limited(full, kind="Compose file"), full), full)
        mark_file(root, full)  # its settings' problems name it, not the file that extends it
    except FileNotFoundError:
        r.error(where, path, f"extends file {full} not found; check the path (relative to the manifest's folder)")
        return None
    except FileRefused as exc:
        r.error(where, path, f"extends file {full} {exc.reason}")
        return None
    except YamlProblem as exc:
        r.add(exc.problem)
        return None
    if root is None or not isinstance(root, MappingNode):
        r.error(where, path, f"extends file {full} has no services:")
        return None
    top = r.read(r.entries, root, "")
    if not top or "services" not in top or not isinstance(top["services"][1], MappingNode):
        r.error(where, path, f"extends file {full} has no services:")
        return None
    state.nodes.append(root)
    state.files[full] = r.read(r.entries, top["services"][1], "services")
    return state.files[full]


def _merge(r: Reader, base: Node, child: Node, key: str, state: Extending) -> Node:
    """``child`` merged over ``base`` by Compose's rules (see the module docstring)."""
    if key in _REPLACED:
        return child
    if key in _AS_MAPPING:
        base, child = _as_mapping(base, state), _as_mapping(child, state)
    if isinstance(base, MappingNode) and isinstance(child, MappingNode):
        b = r.read(r.entries, base, "")
        c = r.read(r.entries, child, "")
        if b is None or c is None:
            return child
        pairs = [c[k] if k in c and k not in b else (c[k][0], _merge(r, b[k][1], c[k][1], k, state)) if k in c
                 else b[k] for k in b]
        pairs += [c[k] for k in c if k not in b]
        merged = _mapping(child, pairs)
    elif isinstance(base, SequenceNode) and isinstance(child, SequenceNode):
        seen = {_key(n) for n in base.value}
        merged = SequenceNode(SEQ, [*base.value, *(n for n in child.value if _key(n) not in seen)],
                              child.start_mark, child.end_mark)
    else:
        return child
    state.nodes.append(merged)
    return merged


def _key(node: Node) -> object:
    return node.value if isinstance(node, ScalarNode) else id(node)


def _as_mapping(node: Node, state: Extending) -> Node:
    """A list of ``KEY=VALUE`` / ``KEY`` as the mapping it stands for (so both forms merge)."""
    if not isinstance(node, SequenceNode) or not all(isinstance(n, ScalarNode) for n in node.value):
        return node
    pairs = []
    for item in node.value:
        k, eq, v = str(item.value).partition("=")
        value = ScalarNode(_STR, v, item.start_mark, item.end_mark) if eq else \
            ScalarNode(NULL, "", item.start_mark, item.end_mark)
        pairs.append((ScalarNode(_STR, k.strip(), item.start_mark, item.end_mark), value))
    out = _mapping(node, pairs)
    state.nodes.append(out)
    return out


def _mapping(like: Node, pairs: list[tuple[Node, Node]]) -> MappingNode:
    return MappingNode(MAP, pairs, like.start_mark, like.end_mark)


__all__ = ["Extending", "resolve"]
