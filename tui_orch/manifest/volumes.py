"""Volumes as the Compose specification writes them: the service keys ``volumes`` (short and
long syntax), ``tmpfs`` and ``volumes_from``, and the top-level ``volumes`` declarations.

Short syntax ``[SOURCE:]TARGET[:MODE]``: a SOURCE starting with ``/`` is a path on the node, one
starting with ``.`` or ``~`` a file or folder on the operator's machine (resolved against the
manifest's folder, or the operator's home; ``local=True``: the files code delivers it), anything
else the key of a top-level volume; no SOURCE is an anonymous volume. MODE is a comma-separated
list of ``ro``/``rw``, ``z``/``Z`` (SELinux), ``nocopy`` and a bind propagation. A short-syntax
bind creates a missing folder on the node (``create_host_path`` true, as Compose does); the long
syntax does so only with ``bind.create_host_path: true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.manifest.decisions import (
    TOP_VOLUME, VOLUME_BIND, VOLUME_LONG, VOLUME_TMPFS, VOLUME_VOLUME, known_entries,
)
from tui_orch.manifest.fields import key_values
from tui_orch.manifest.localtree import local_problem
from tui_orch.manifest.reader import Invalid, Reader, Reported, is_null, join, shown
from tui_orch.model import Mount, VolumeSpec, pairs

VOLUME_KEY_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")
CONSISTENCIES = ("consistent", "cached", "delegated")  # Docker Desktop for Mac's; ignored elsewhere
SHORT_FORMS = "'NAME:/path', '/node/path:/path', './file:/path:ro' or '/path'"
# Paths of the Docker socket: a container that mounts it controls the node's engine.
DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")


# --------------------------------------------------------------------------- service volumes


def service_mounts(r: Reader, node: Node, path: str, base_dir: str) -> tuple[Mount, ...]:
    out: list[Mount] = []
    targets: dict[str, int] = {}
    for i, item in enumerate(r.items(node, path)):
        ipath = join(path, i)
        if isinstance(item, MappingNode):
            mount = r.read(lambda n, p: long_mount(r, n, p, base_dir), item, ipath)
        else:
            mount = r.read(lambda n, p: short_mount(r, r.text(n, p, SHORT_FORMS), n, base_dir,
                                                    lambda message: r.warn(n, p, message)), item, ipath)
        if mount is None:
            continue
        if mount.target in targets:
            r.error(item, ipath, f"{mount.target} is mounted twice (also item {targets[mount.target]}); mount each path once")
            continue
        targets[mount.target] = i
        if mount.local and not mount.read_only:  # said once per mount, in validate and the plan
            r.warn(item, ipath, f"{mount.source} is copied to each node and bound read-only: the container cannot "
                                "write back to this machine; add :ro to say so, or use a named volume for data it writes")
        out.append(mount)
    return tuple(out)


def short_mount(r: Reader, text: str, node: Node, base_dir: str,
                warn: Callable[[str], None] = lambda _: None) -> Mount:
    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise Invalid(f"expected {SHORT_FORMS}, got {shown(text)}", node)
    if len(parts) == 1:
        return Mount("volume", _target(parts[0], node))
    source, target = parts[0], _target(parts[1], node)
    read_only, options = _modes(parts[2] if len(parts) == 3 else "", node, warn)
    if _is_path(source):
        where, local = _checked_bind(r, source, base_dir, node)
        kept = {"create_host_path": "true", **{k: v for k, v in options.items() if k in ("propagation", "selinux")}}
        _no_options(options, ("nocopy",), "a bind mount", node)
        return Mount("bind", target, where, read_only, local, options=pairs(kept))
    # z/Z on a named volume: the engine relabels it for SELinux, as Compose passes it on
    _no_options(options, ("propagation",), f"volume {source}", node)
    return Mount("volume", target, _volume_key(source, node), read_only, options=pairs(options))


def _modes(text: str, node: Node, warn: Callable[[str], None]) -> tuple[bool, dict[str, str]]:
    read_only = False
    options: dict[str, str] = {}
    for mode in filter(None, text.split(",")):
        if mode in ("ro", "rw"):
            read_only = mode == "ro"
        elif mode in ("z", "Z"):
            options["selinux"] = mode
        elif mode == "nocopy":
            options["nocopy"] = "true"
        elif mode in PROPAGATIONS:
            options["propagation"] = mode
        elif mode in CONSISTENCIES:  # valid Compose (older files use them); the long form's consistency: says the same
            warn(f"mode {mode} ignored: it only ever applied to Docker Desktop for Mac")
        else:
            raise Invalid(f"unknown mount mode {shown(mode)}; use ro, rw, z, Z, nocopy or a propagation ({', '.join(PROPAGATIONS)})", node)
    return read_only, options


def _no_options(options: dict[str, str], keys: tuple[str, ...], what: str, node: Node) -> None:
    for key in keys:
        if key in options:
            raise Invalid(f"{options[key] if key != 'nocopy' else 'nocopy'} does not apply to {what}", node)


def _is_path(source: str) -> bool:
    return source.startswith(("/", ".", "~"))


def bind_source(source: str, base_dir: str) -> tuple[str, bool]:
    """(where, local): an absolute path is a path on the node; ``./x`` and ``~/x`` are on the
    operator's machine (made absolute against the manifest's folder or the operator's home)."""
    if source.startswith("/"):
        return os.path.normpath(source), False
    return os.path.abspath(os.path.join(base_dir, os.path.expanduser(source))), True


def _checked_bind(r: Reader, source: str, base_dir: str, node: Node) -> tuple[str, bool]:
    """bind_source, and for a path of the operator's machine what apply would refuse about it
    (missing, a special file, too large: localtree.py), so validate and apply agree."""
    where, local = bind_source(source, base_dir)
    problem = local_problem(where) if local and r.check_local else None
    if problem:
        raise Invalid(f"{where} {problem}", node)
    return where, local


def _target(text: str, node: Node) -> str:
    if not text.startswith("/"):
        raise Invalid(f"the path in the container must be absolute (start with /), got {shown(text)}", node)
    target = os.path.normpath(text)
    if target == "/":
        raise Invalid("cannot mount over the container's root (/); mount a folder inside it", node)
    return target


def _volume_key(text: str, node: Node) -> str:
    if not VOLUME_KEY_RE.match(text):
        raise Invalid(f"a volume name is letters, digits, '_', '.' and '-', starting with a letter or digit, got {shown(text)}", node)
    return text


def long_mount(r: Reader, node: Node, path: str, base_dir: str) -> Mount:
    entries = known_entries(r, r.entries(node, path), VOLUME_LONG, path)
    before = r.error_count
    if "type" not in entries:
        raise Invalid("missing type: (volume, bind or tmpfs)", node)
    if "target" not in entries:
        raise Invalid("missing target: (the path in the container)", node)
    kind = r.read(lambda n, p: r.choice(n, p, ("volume", "bind", "tmpfs")), entries["type"][1], join(path, "type"))
    target = r.read(lambda n, p: _target(r.text(n, p, "an absolute path"), n), entries["target"][1], join(path, "target"))
    source = ""
    if "source" in entries and not is_null(entries["source"][1]):
        source = r.read(lambda n, p: r.text(n, p, "a volume name or a path"), entries["source"][1], join(path, "source")) or ""
    read_only = False
    if "read_only" in entries and not is_null(entries["read_only"][1]):
        read_only = bool(r.read(r.boolean, entries["read_only"][1], join(path, "read_only")))
    options: dict[str, str] = {}
    for key, table in (("bind", VOLUME_BIND), ("volume", VOLUME_VOLUME), ("tmpfs", VOLUME_TMPFS)):
        if key in entries and not is_null(entries[key][1]):
            if kind is not None and key != kind:
                r.error(entries[key][0], join(path, key), f"{key}: options do not apply to a mount of type {kind}")
                continue
            options.update(r.read(lambda n, p: _sub_options(r, n, p, table), entries[key][1], join(path, key)) or {})
    if r.error_count > before or kind is None or target is None:
        raise Reported()
    return _long_result(r, kind, target, source, read_only, options,
                        entries["source"][1] if "source" in entries else node, base_dir)


def _long_result(r: Reader, kind: str, target: str, source: str, read_only: bool, options: dict[str, str],
                 where: Node, base_dir: str) -> Mount:
    if kind == "tmpfs":
        if source:
            raise Invalid("a tmpfs mount has no source; remove source:", where)
        return Mount("tmpfs", target, read_only=read_only, options=pairs(options))
    if kind == "bind":
        if not source:
            raise Invalid("a bind mount needs source: (a path on the node, or ./file next to the manifest)", where)
        if not _is_path(source):
            raise Invalid(f"a bind source is a path (/on/the/node, ./next/to/the/manifest, ~/home), got {shown(source)}; for a named volume use type: volume", where)
        path, local = _checked_bind(r, source, base_dir, where)
        return Mount("bind", target, path, read_only, local, options=pairs(options))
    if source and _is_path(source):
        raise Invalid(f"a volume source is the name of a top-level volume, got the path {shown(source)}; for a path use type: bind", where)
    return Mount("volume", target, _volume_key(source, where) if source else "", read_only, options=pairs(options))


def _sub_options(r: Reader, node: Node, path: str, table: dict[str, Any]) -> dict[str, str]:
    entries = known_entries(r, r.entries(node, path), table, path)
    out: dict[str, str] = {}
    for key, (_, vnode) in entries.items():
        if is_null(vnode):
            continue
        kpath = join(path, key)
        value: str | None
        if key in ("create_host_path", "nocopy"):
            flag = r.read(r.boolean, vnode, kpath)
            value = None if flag is None else str(flag).lower()
        elif key == "propagation":
            value = r.read(lambda n, p: r.choice(n, p, PROPAGATIONS), vnode, kpath)
        elif key == "selinux":
            value = r.read(lambda n, p: r.choice(n, p, ("z", "Z")), vnode, kpath)
        elif key == "size":
            size = r.read(r.size, vnode, kpath)
            value = None if size is None else str(size)
        elif key == "mode":
            value = r.read(lambda n, p: _octal(r.text(n, p, "an octal mode such as 1777"), n), vnode, kpath)
        else:  # subpath
            value = r.read(lambda n, p: _subpath(r.text(n, p, "a relative path"), n), vnode, kpath)
        if value is not None:
            out[key] = value
    return out


def _octal(text: str, node: Node) -> str:
    text = text.strip()
    if not re.fullmatch(r"0?o?[0-7]{1,4}", text):
        raise Invalid(f"expected an octal mode such as 1777 or 0755, got {shown(text)}", node)
    return oct(int(text.lstrip("0o") or "0", 8))[2:]


def _subpath(text: str, node: Node) -> str:
    if text.startswith("/") or ".." in text.split("/"):
        raise Invalid(f"a subpath is relative and stays inside the volume, got {shown(text)}", node)
    return text


# --------------------------------------------------------------------------- tmpfs, volumes_from


def tmpfs(r: Reader, node: Node, path: str) -> tuple[tuple[str, str], ...]:
    """``tmpfs: /run`` or a list of ``/path[:options]`` (mount options such as size=64m,mode=1777)."""
    items = [node] if isinstance(node, ScalarNode) else r.items(node, path)
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        ipath = path if item is node else join(path, i)
        text = r.read(lambda n, p: r.text(n, p, "a path such as /run or /tmp:size=64m"), item, ipath)
        if text is None:
            continue
        where, _, options = text.partition(":")
        target = r.read(lambda n, p: _target(where, n), item, ipath)
        if target is not None:
            out[target] = options
    return tuple(sorted(out.items()))


def volumes_from(r: Reader, node: Node, path: str) -> tuple[str, ...]:
    """``[SERVICE[:ro|rw]]``; ``container:NAME`` is refused (a container on one node only)."""
    out: list[str] = []
    for i, item in enumerate(r.items(node, path)):
        text = r.read(lambda n, p: r.text(n, p, "a service name, optionally with :ro"), item, join(path, i))
        if text is None:
            continue
        if text.startswith("container:"):
            r.error(item, join(path, i), "container:NAME is not supported: a container runs on one node only; "
                                         "name a service of this file, or share a named volume")
            continue
        name, _, mode = text.partition(":")
        if mode not in ("", "ro", "rw"):
            r.error(item, join(path, i), f"expected SERVICE, SERVICE:ro or SERVICE:rw, got {shown(text)}")
            continue
        out.append(name if mode in ("", "rw") else f"{name}:ro")
    return tuple(out)


# --------------------------------------------------------------------------- top-level volumes


def top_volumes(r: Reader, node: Node, path: str, project: str) -> dict[str, VolumeSpec]:
    """The top-level ``volumes`` declarations by key; node names as Compose gives them."""
    out: dict[str, VolumeSpec] = {}
    for key, (knode, vnode) in r.entries(node, path).items():
        kpath = join(path, key)
        if not VOLUME_KEY_RE.match(key):
            r.error(knode, kpath, f"a volume name is letters, digits, '_', '.' and '-', starting with a letter or digit, got {shown(key)}")
            continue
        spec = VolumeSpec(key, f"{project}_{key}") if is_null(vnode) else r.read(lambda n, p: _declaration(r, key, n, p, project), vnode, kpath)
        if spec is not None:
            out[key] = spec
    return out


def _declaration(r: Reader, key: str, node: Node, path: str, project: str) -> VolumeSpec:
    entries = known_entries(r, r.entries(node, path), TOP_VOLUME, path)
    before = r.error_count
    fields: dict[str, Any] = {}
    for name, (_, vnode) in entries.items():
        if is_null(vnode):
            continue
        kpath = join(path, name)
        if name == "external":
            fields[name] = r.read(lambda n, p: _external(r, n, p, fields), vnode, kpath)
        elif name in ("driver_opts", "labels"):
            found = r.read(lambda n, p: key_values(r, n, p, "option" if name == "driver_opts" else "label"), vnode, kpath)
            fields[name] = pairs({k: v or "" for k, v in (found or {}).items()})
        else:  # driver, name
            fields[name] = r.read(lambda n, p: _nonempty(r.text(n, p), n, name), vnode, kpath)
    if r.error_count > before:
        raise Reported()
    external = bool(fields.get("external"))
    if external:
        clash = [k for k in ("driver", "driver_opts", "labels") if fields.get(k)]
        if clash:
            raise Invalid(f"an external volume is made by you, not by tui-orch: remove {', '.join(clash)} (or external)",
                          entries[clash[0]][0], join(path, clash[0]))
    name = fields.get("name") or (key if external else f"{project}_{key}")
    return VolumeSpec(key, name, fields.get("driver") or "", fields.get("driver_opts") or (), fields.get("labels") or (), external)


def _external(r: Reader, node: Node, path: str, fields: dict[str, Any]) -> bool:
    if isinstance(node, MappingNode):  # the legacy form external: {name: NAME}
        entries = r.entries(node, path)
        if list(entries) != ["name"]:
            raise Invalid("expected external: true (the legacy form is external: {name: NAME})", node)
        r.warn(node, path, "external: {name: ...} is deprecated; write external: true and name: at the volume's level")
        fields.setdefault("name", r.text(entries["name"][1], join(path, "name")))
        return True
    return r.boolean(node, path)


def _nonempty(text: str, node: Node, what: str) -> str:
    if not text.strip():
        raise Invalid(f"the {what} is empty; remove it or set one", node)
    return text


# --------------------------------------------------------------------------- checks across keys


def is_docker_socket(mount: Mount) -> bool:
    return mount.type == "bind" and not mount.local and mount.source in DOCKER_SOCKETS


__all__ = [
    "DOCKER_SOCKETS", "bind_source", "is_docker_socket", "long_mount", "service_mounts", "short_mount",
    "tmpfs", "top_volumes", "volumes_from",
]
