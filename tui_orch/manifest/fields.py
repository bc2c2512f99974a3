"""Readers of the service keys that have several forms: key/value lists, ports, healthcheck."""

from __future__ import annotations

import ipaddress

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.manifest.decisions import HEALTHCHECK, PORT, known_entries
from tui_orch.manifest.reader import Entries, Invalid, Reader, Reported, is_null, join, shown
from tui_orch.model import Healthcheck, PortSpec

# --------------------------------------------------------------------------- KEY=VALUE lists


def key_values(r: Reader, node: Node, path: str, what: str) -> dict[str, str | None]:
    """A list of ``KEY=VALUE`` / ``KEY`` or a mapping, as Compose writes environment and
    labels. ``KEY`` alone and null values give None; later keys win."""
    out: dict[str, str | None] = {}
    if isinstance(node, MappingNode):
        for key, (knode, vnode) in r.entries(node, path).items():
            kpath = join(path, key)
            if not key or "=" in key:
                r.error(knode, kpath, f"expected a {what} name without '=', got {shown(key)}")
                continue
            value = r.read(lambda n, p: r.scalar(n, p, "a single value"), vnode, kpath)
            if value is not None or (isinstance(vnode, ScalarNode) and vnode.tag.endswith(":null")):
                out[key] = value
        return out
    if isinstance(node, ScalarNode):
        raise Invalid(f"expected a list of {what.upper()}=VALUE or a mapping, got {shown(node.value)}", node)
    for i, item in enumerate(r.items(node, path)):
        text = r.read(lambda n, p: r.text(n, p, f"{what.upper()}=VALUE"), item, join(path, i))
        if text is None:
            continue
        key, eq, value = text.partition("=")
        if not key.strip():
            r.error(item, join(path, i), f"expected {what.upper()}=VALUE, got {shown(text)}")
            continue
        out[key.strip()] = value if eq else None
    return out


# --------------------------------------------------------------------------- ports

PORT_FORMS = 'a port such as "8080:80", "127.0.0.1:8080:80/udp" or "80"'
PORT_EXAMPLE = "expected " + PORT_FORMS


def ports(r: Reader, node: Node, path: str) -> tuple[PortSpec, ...]:
    out: list[PortSpec] = []
    where: list[int] = []  # the item index of each port in out
    for i, item in enumerate(r.items(node, path)):
        if isinstance(item, MappingNode):
            spec = r.read(lambda n, p: long_port(r, n, p), item, join(path, i))
        else:
            spec = r.read(lambda n, p: short_port(r.text(n, p, PORT_FORMS), n), item, join(path, i))
        if spec is not None:
            clash = _same_host_port(spec, out)
            if clash is not None:
                r.error(item, join(path, i), f"host port {spec.published}/{spec.protocol} is already published by "
                        f"{join(path, where[clash])}; a port can be bound once: use another host port")
                continue
            out.append(spec)
            where.append(i)
    return tuple(out)


def _same_host_port(spec: PortSpec, before: list[PortSpec]) -> int | None:
    """The index of an earlier port binding the same host port (and address) as ``spec``:
    the second bind would fail on every node, so the service could never start."""
    if spec.published is None:
        return None
    for i, other in enumerate(before):
        if (other.published, other.protocol) == (spec.published, spec.protocol) and (
                spec.host_ip in (None, "0.0.0.0", "::") or other.host_ip in (None, "0.0.0.0", "::")
                or spec.host_ip == other.host_ip):
            return i
    return None


def short_port(text: str, node: Node) -> PortSpec:
    """``"80"``, ``"8080:80"``, ``"127.0.0.1:8080:80/udp"``, ``"127.0.0.1::80"``, ``"[::1]:8080:80"``."""
    spec, slash, protocol = text.strip().partition("/")
    protocol = protocol if slash else "tcp"
    host_ip: str | None = None
    if spec.startswith("["):
        close = spec.find("]")
        rest = spec[close + 1:] if close > 0 else ""
        parts = rest[1:].split(":") if rest.startswith(":") else []
        if len(parts) != 2:
            raise Invalid(f"{PORT_EXAMPLE}, got {shown(text)}", node)
        host_ip = spec[1:close]
        published, target = parts
    else:
        parts = spec.split(":")
        if len(parts) > 3:
            raise Invalid(f"{PORT_EXAMPLE} (an IPv6 address goes in brackets: [::1]:8080:80), got {shown(text)}", node)
        published = parts[-2] if len(parts) >= 2 else ""
        target = parts[-1]
        host_ip = parts[0] if len(parts) == 3 else None
    if "-" in target or "-" in published:
        raise Invalid(f"port ranges are not supported: list each port on its own, got {shown(text)}", node)
    return PortSpec(
        target=port_number(target, node, text),
        published=port_number(published, node, text) if published else None,
        protocol=_protocol(protocol, node),
        host_ip=_host_ip(host_ip, node) if host_ip else None,
        mode="ingress" if published else "host",  # as in Swarm (mesh.py keeps udp in host)
    )


def long_port(r: Reader, node: Node, path: str) -> PortSpec:
    entries = known_entries(r, r.entries(node, path), PORT, path)
    if "target" not in entries:
        raise Invalid("missing target: (the container port)", node)
    before = r.error_count
    values: dict[str, object] = {}
    for key, (_, vnode) in entries.items():
        kpath = join(path, key)
        if is_null(vnode) and key != "target":
            continue
        if key in ("target", "published"):
            value = r.read(lambda n, p: port_number(r.text(n, p, "a port number"), n), vnode, kpath)
        elif key == "protocol":
            value = r.read(lambda n, p: _protocol(r.text(n, p), n), vnode, kpath)
        elif key == "host_ip":
            value = r.read(lambda n, p: _host_ip(r.text(n, p, "an IP address"), n), vnode, kpath)
        else:  # mode
            value = r.read(lambda n, p: r.choice(n, p, ("host", "ingress")), vnode, kpath)
        if value is not None:
            values[key] = value
    if r.error_count > before:
        raise Reported()
    mode = _long_mode(r, values, entries, path)
    return PortSpec(**values, mode=mode)  # type: ignore[arg-type]


def _long_mode(r: Reader, values: dict[str, object], entries: Entries, path: str) -> str:
    """Swarm's default: ingress when the port is published, else host. Ingress without
    ``published`` has no port for the nodes to answer on: a dynamic port, with a warning."""
    mode = values.pop("mode", "ingress" if values.get("published") is not None else "host")
    if mode == "ingress" and values.get("published") is None:
        r.warn(entries["mode"][1], join(path, "mode"), "mode ingress needs published: (the port every node answers "
               "on); without it each replica gets a dynamic host port (mode host)")
        return "host"
    return str(mode)


def port_number(text: str, node: Node, whole: str | None = None) -> int:
    text = text.strip()
    if "-" in text:
        raise Invalid(f"port ranges are not supported: list each port on its own, got {shown(whole or text)}", node)
    if not text.isdigit() or not text.isascii():
        raise Invalid(f"{PORT_EXAMPLE}, got {shown(whole or text)}", node)
    if not 1 <= int(text) <= 65535:
        raise Invalid(f"port numbers are 1-65535, got {text}", node)
    return int(text)


def _protocol(text: str, node: Node) -> str:
    if text not in ("tcp", "udp"):
        raise Invalid(f"expected protocol tcp or udp, got {shown(text)}", node)
    return text


def _host_ip(text: str, node: Node) -> str:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise Invalid(f"expected an IP address to publish on, got {shown(text)}", node) from None


# --------------------------------------------------------------------------- healthcheck


def healthcheck(r: Reader, node: Node, path: str) -> Healthcheck:
    entries = known_entries(r, r.entries(node, path), HEALTHCHECK, path)
    before = r.error_count
    values: dict[str, object] = {}
    readers = {
        "test": lambda n, p: _health_test(r, n, p),
        "interval": lambda n, p: _positive(r.duration(n, p), n),
        "timeout": lambda n, p: _positive(r.duration(n, p), n),
        "start_period": r.duration,
        "retries": lambda n, p: r.whole(n, p, minimum=1),
        "disable": r.boolean,
    }
    for key, (_, vnode) in entries.items():
        value = None if is_null(vnode) else r.read(readers[key], vnode, join(path, key))
        if value is not None:
            values[key] = value
    if values.get("disable") is True:
        if "test" in values and values["test"] != ("NONE",):
            r.error(entries["disable"][0], join(path, "disable"), "test and disable: true cannot be set together; remove one")
        values["test"] = ("NONE",)
    if r.error_count > before:
        raise Reported()
    return Healthcheck(**values)  # type: ignore[arg-type]


def _positive(seconds: float, node: Node) -> float:
    if seconds < 0.001:
        raise Invalid("must be at least 1ms", node)
    return seconds


def _health_test(r: Reader, node: Node, path: str) -> tuple[str, ...]:
    if isinstance(node, ScalarNode):
        text = r.text(node, path, "a command")
        if not text.strip():
            raise Invalid("the test is empty; write a command, or disable: true to turn the check off", node)
        return ("CMD-SHELL", text)
    words = r.strings(node, path)
    if not words:
        raise Invalid("the test is empty; write a command, or disable: true to turn the check off", node)
    head = words[0]
    if head == "NONE":
        if len(words) > 1:
            raise Invalid("NONE takes nothing after it", node)
        return ("NONE",)
    if head == "CMD":
        if len(words) < 2:
            raise Invalid("CMD needs the command after it, such as [CMD, curl, -f, http://localhost/]", node)
        return tuple(words)
    if head == "CMD-SHELL":
        if len(words) != 2:
            raise Invalid("CMD-SHELL takes exactly one command string after it (or use CMD with one word an item)", node)
        return tuple(words)
    raise Invalid(f"a test list starts with CMD, CMD-SHELL or NONE, got {shown(head)}", node)
