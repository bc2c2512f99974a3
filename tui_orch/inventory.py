"""The inventory: which hosts tui-orch manages, and how to reach them.

A nodes file (YAML)::

    known_hosts: ./known_hosts          # optional; default ~/.ssh/known_hosts
    node_grace: 10s                     # optional; how long a node may be NotReady before
                                        # its replicas are started elsewhere
    build_on: web-1                     # optional; builds images (build:) when this machine
                                        # has no Docker Engine; one of the nodes below
    edge_image: haproxy:2.6             # optional; the edge proxy every node runs for
                                        # published ports (HAProxy 2.4 or later)
    defaults:                           # optional; applied to every node
      user: deploy
      identity_file: ~/.ssh/id_ed25519
    nodes:
      - name: web-1
        address: web-1.example.org      # or an alias from ~/.ssh/config
        port: 22
        user: deploy
        identity_file: ~/.ssh/id_ed25519
        docker_socket: /var/run/docker.sock
        proxy_jump: bastion
        advertise: 10.0.0.11            # optional; where the other nodes reach this one (its
                                        # published ports), when not at address (e.g. a private
                                        # network beside the SSH address)
        labels: {zone: a, disk: ssd}
        capacity: {cpus: 4, memory: 8g}   # override what is detected
        reserved: {cpus: 0.5, memory: 512m}
      - name: local
        local: true                     # this machine, no SSH

Relative paths are read against the nodes file's folder. With no nodes file the inventory is
one node, ``local``: this machine. ``~/.ssh/config`` is honoured for aliases, user, port,
identity files, known_hosts files and ProxyJump (nodes/sshconfig.py resolves them).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tui_orch.errors import InventoryError, Problem, UnitError
from tui_orch.manifest.files import MAX_FILE_BYTES, FileRefused, read_limited
from tui_orch.manifest.reader import (
    MAX_VALUES, Entries, Invalid, Reader, YamlProblem, check_tag, collector_paused, compose, decode, expanded_size, got,
    join,
)
from tui_orch.model import NodeSpec, Resources, pairs
from tui_orch.units import parse_bytes, parse_cpus, parse_duration

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
NODE_KEYS = {
    "name", "address", "host", "port", "user", "identity_file", "docker_socket", "labels",
    "capacity", "reserved", "proxy_jump", "local", "known_hosts", "advertise",
}
DEFAULT_KEYS = NODE_KEYS - {"name", "address", "host", "local", "advertise"}
TOP_KEYS = {"known_hosts", "defaults", "nodes", "node_grace", "build_on", "edge_image"}
DEFAULT_EDGE_IMAGE = "haproxy:2.6"  # the edge proxy of published ports (controller/traffic.py)
IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]{0,254}$")
DEFAULT_NODE_GRACE = 10.0
# Turns a scalar node into its plain value (int, bool, str...); no reader or scanner needed.
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class Inventory:
    nodes: tuple[NodeSpec, ...]
    file: str | None = None  # None: the built-in default (this machine)
    node_grace: float = DEFAULT_NODE_GRACE  # seconds NotReady before a node's replicas move
    build_on: str | None = None  # the node that builds images when this machine has no engine
    edge_image: str = DEFAULT_EDGE_IMAGE  # the HAProxy image of each node's edge proxy

    def get(self, name: str) -> NodeSpec:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        where = self.file or "the default inventory"
        raise InventoryError(f"no node named {name!r} in {where} (nodes: {known})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)


def default_inventory() -> Inventory:
    """No nodes file: this machine is the only node."""
    return Inventory(nodes=(NodeSpec(name="local", address="localhost", local=True),))


class _Reader(Reader):
    """The manifest's reader (merge keys, duplicate keys, tags, error cap), with values read
    as plain YAML scalars (int, bool, str...) and no ``${VAR}`` interpolation."""

    def __init__(self, file: str):
        super().__init__(file, lambda _name: None)

    def scalar(self, node: yaml.Node, path: str, expected: str = "a single value") -> Any:  # type: ignore[override]
        try:
            check_tag(node, path)
        except Invalid as exc:
            self.error(node, path, exc.message)
            return None
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"expected {expected}, got {got(node)}")
            return None
        try:
            return _CONSTRUCTOR.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            return node.value

    def mapping(self, node: yaml.Node, path: str) -> Entries:
        return self.read(self.entries, node, path) or {}


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read a nodes file; every problem in it is reported at once."""
    file = str(path)
    try:
        data = read_limited(file, MAX_FILE_BYTES, "nodes file")
    except FileNotFoundError:
        raise InventoryError(f"{file}: no such nodes file; check the path given to --inventory") from None
    except FileRefused as exc:
        raise InventoryError(f"{file}: {exc.reason}") from None
    except OSError as exc:
        raise InventoryError(f"{file}: cannot read the nodes file: {exc.strerror or exc}") from None
    return parse_inventory(data, file)


def parse_inventory(data: str | bytes, file: str = "<inventory>") -> Inventory:
    """Read the text (or UTF-8 bytes) of a nodes file; InventoryError names every problem."""
    with collector_paused():  # a file of 50,000 hosts: 9 s with the collector's passes, 3 s without
        return _parse_inventory(data, file)


def _parse_inventory(data: str | bytes, file: str) -> Inventory:
    r = _Reader(file)
    try:
        text = decode(data, file)
        doc = compose(text, file)
    except YamlProblem as exc:
        raise InventoryError([exc.problem]) from None
    if doc is None:
        raise InventoryError([Problem(file, 1, 1, "", "the nodes file is empty; list hosts under nodes:")])
    if "*" in text and expanded_size(doc) > MAX_VALUES:  # only aliases expand (as in the manifest)
        raise InventoryError([Problem(file, 1, 1, "", f"the document expands to more than {MAX_VALUES} values "
                                                      "through aliases; write it out")])
    top = r.mapping(doc, "")
    base = Path(file).parent if file and not file.startswith("<") else Path.cwd()
    for key, (knode, _) in top.items():
        if key not in TOP_KEYS:
            r.error(knode, key, f"unknown key; expected one of {', '.join(sorted(TOP_KEYS))}")
    known_hosts = None
    if "known_hosts" in top:
        value = r.scalar(top["known_hosts"][1], "known_hosts")
        if isinstance(value, str) and value:
            known_hosts = _path(value, base)
        else:
            r.error(top["known_hosts"][1], "known_hosts", "expected a file path")
    node_grace = DEFAULT_NODE_GRACE
    if "node_grace" in top:
        gnode = top["node_grace"][1]
        value = r.scalar(gnode, "node_grace")
        try:
            node_grace = parse_duration(value) if value is not None else node_grace
        except UnitError as exc:
            r.error(gnode, "node_grace", str(exc))
    defaults: dict[str, Any] = {}
    if "defaults" in top:
        defaults = _node_fields(r, top["defaults"][1], "defaults", base, DEFAULT_KEYS)
    if known_hosts and "known_hosts" not in defaults:
        defaults["known_hosts"] = known_hosts
    nodes: list[NodeSpec] = []
    if "nodes" not in top:
        r.error(doc, "nodes", "missing: list the hosts under nodes:")
    else:
        seq = top["nodes"][1]
        if not isinstance(seq, yaml.SequenceNode):
            r.error(seq, "nodes", "expected a list of nodes (- name: ...)")
        else:
            seen: dict[str, int] = {}
            for i, item in enumerate(seq.value):
                if r.full:
                    r.stop(len(seq.value) - i, "nodes")
                    break
                path = join("nodes", i)
                fields = _node_fields(r, item, path, base, NODE_KEYS)
                merged = {**defaults, **fields}
                if "labels" in defaults and "labels" in fields:
                    merged["labels"] = tuple(sorted({**dict(defaults["labels"]), **dict(fields["labels"])}.items()))
                name = merged.get("name")
                if not name:
                    r.error(item, path, "missing name:")
                    continue
                if name in seen:
                    r.error(item, join(path, "name"), f"duplicate node name {name!r}")
                    continue
                seen[name] = i
                if not merged.get("local") and "address" not in merged:
                    merged["address"] = name
                try:
                    nodes.append(NodeSpec(**merged))
                except TypeError as exc:  # pragma: no cover - guarded by the key checks
                    r.error(item, path, str(exc))
            if not seq.value:
                r.error(seq, "nodes", "the list is empty; add at least one host")
    build_on = _build_on(r, top, [n.name for n in nodes])
    edge_image = _edge_image(r, top)
    if r.error_count:
        raise InventoryError(r.capped())
    return Inventory(nodes=tuple(nodes), file=file, node_grace=node_grace, build_on=build_on, edge_image=edge_image)


def _edge_image(r: _Reader, top: Entries) -> str:
    """``edge_image``: the HAProxy image (2.4 or later) each node's edge proxy runs."""
    if "edge_image" not in top:
        return DEFAULT_EDGE_IMAGE
    vnode = top["edge_image"][1]
    value = r.scalar(vnode, "edge_image")
    if value is None:
        return DEFAULT_EDGE_IMAGE
    if not isinstance(value, str) or not IMAGE_RE.match(value):
        r.error(vnode, "edge_image", f"expected an image reference such as haproxy:2.6, got {value!r}")
        return DEFAULT_EDGE_IMAGE
    return value


def _build_on(r: _Reader, top: Entries, names: list[str]) -> str | None:
    """``build_on``: the name of one of the nodes."""
    if "build_on" not in top:
        return None
    vnode = top["build_on"][1]
    value = r.scalar(vnode, "build_on")
    if value is None:
        return None
    if str(value) not in names:
        r.error(vnode, "build_on", f"no node named {str(value)!r} in this file; name one of: {', '.join(names)}")
        return None
    return str(value)


def _path(value: str, base: Path) -> str:
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p))


def _node_fields(r: _Reader, node: yaml.Node, path: str, base: Path, allowed: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, (knode, vnode) in r.mapping(node, path).items():
        kpath = join(path, key)
        if key not in allowed:
            r.error(knode, kpath, f"unknown key; expected one of {', '.join(sorted(allowed))}")
            continue
        if key in ("labels",):
            labels = {}
            for lk, (_, lv) in r.mapping(vnode, kpath).items():
                value = r.scalar(lv, join(kpath, lk))
                labels[lk] = "" if value is None else value
            out["labels"] = pairs(labels)
            continue
        if key in ("capacity", "reserved"):
            res = _resources(r, vnode, kpath)
            if res is not None:
                out[key] = res
            continue
        value = r.scalar(vnode, kpath)
        if value is None:
            continue
        if key == "port":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                r.error(vnode, kpath, f"expected a port number 1-65535, got {value!r}")
                continue
            out["port"] = value
        elif key == "local":
            if not isinstance(value, bool):
                r.error(vnode, kpath, f"expected true or false, got {value!r}")
                continue
            out["local"] = value
        elif key == "name":
            if not isinstance(value, str) or not NAME_RE.match(value):
                r.error(vnode, kpath, f"expected a name of letters, digits, '.', '_' or '-', got {value!r}")
                continue
            out["name"] = value
        elif key in ("identity_file", "known_hosts"):
            out[key] = _path(str(value), base)
        elif key in SSH_CHECKS:
            problem = SSH_CHECKS[key](str(value))
            if problem:
                r.error(vnode, kpath, problem)
                continue
            out["address" if key == "host" else key] = str(value)
        else:
            out[key] = str(value)
    return out


# --------------------------------------------------------------------------- ssh values
# What OpenSSH accepts for a user and a host name (it refuses shell characters and a leading
# '-' that would read as an option), checked here so that no value can smuggle a command or
# an option into an ssh invocation, and so that a bad jump is named, not its target host.

USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
HOST_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$")
IPV6_RE = re.compile(r"^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?$")
_ORDINALS = {1: "st", 2: "nd", 3: "rd"}


def check_user(value: str) -> str:
    return "" if USER_RE.match(value) else f"expected a user name of letters, digits, '.', '_' or '-', got {value!r}"


def check_address(value: str) -> str:
    return "" if _is_host(value) else f"expected a host name or IP address, got {value!r}"


def _is_host(value: str) -> bool:
    return bool(HOST_RE.match(value) or IPV6_RE.match(value))


def check_proxy_jump(value: str) -> str:
    """'' if ``value`` is ``none`` or a comma-separated list of ``[ssh://][user@]host[:port]``
    (IPv6 hosts in brackets when a port follows), else a message naming the bad jump."""
    if value.lower() == "none":
        return ""
    for k, jump in enumerate(value.split(","), 1):
        problem = _jump_problem(jump)
        if problem:
            nth = f"{k}{'th' if 10 <= k % 100 <= 20 else _ORDINALS.get(k % 10, 'th')}"
            return f"jump {jump!r} (the {nth} in proxy_jump) is not [user@]host[:port]: {problem}"
    return ""


def _jump_problem(jump: str) -> str:
    rest = jump[len("ssh://"):] if jump.startswith("ssh://") else jump
    user, at, host = rest.rpartition("@")
    if at and not USER_RE.match(user):
        return f"bad user name {user!r}"
    port = ""
    if host.startswith("["):
        host, _, tail = host[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else tail
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return f"bad port {port!r}"
    return "" if _is_host(host) else f"bad host name {host!r}"


SSH_CHECKS = {"user": check_user, "address": check_address, "host": check_address, "proxy_jump": check_proxy_jump,
              "advertise": check_address}


def _resources(r: _Reader, node: yaml.Node, path: str) -> Resources | None:
    fields = r.mapping(node, path)
    cpus, memory = 0.0, 0
    ok = True
    for key, (knode, vnode) in fields.items():
        kpath = join(path, key)
        value = r.scalar(vnode, kpath)
        try:
            if key == "cpus":
                cpus = parse_cpus(value)
            elif key == "memory":
                memory = parse_bytes(value)
            else:
                r.error(knode, kpath, "unknown key; expected cpus or memory")
                ok = False
        except UnitError as exc:
            r.error(vnode, kpath, str(exc))
            ok = False
    return Resources(cpus, memory) if ok and fields else None
