"""Networks and names (issue 13): the top-level ``networks``, each service's ``networks`` (with
``aliases``) and ``expose``.

As in Compose, a service that names no network is on the project's ``default`` network, and
two services reach each other by name only when they share a network. Each network is a
bridge network on every node that runs a replica attached to it, named ``<project>_<key>``
(or ``name:``); a service's name and aliases resolve, on each of its networks, to the mesh
proxy of the node the caller runs on, which sends each connection to a replica in rotation
wherever it runs (controller/mesh.py). ``network_mode`` (host, bridge, none) keeps a service
off the project's networks: it is then reached by no name, as in Compose.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.manifest.decisions import SERVICE_NETWORK, TOP_NETWORK, known_entries
from tui_orch.manifest.fields import key_values
from tui_orch.manifest.reader import Invalid, Reader, Reported, is_null, join, shown
from tui_orch.model import NetworkRef, ServiceSpec, pairs

NETWORK_KEY_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# a name other containers look up: DNS labels separated by dots (Docker accepts '_' too)
ALIAS_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,62})(\.[a-zA-Z0-9]([a-zA-Z0-9_-]{0,62}))*$")
DEFAULT = "default"
_RANGE_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?$")
MAX_EXPOSED = 1000  # ports one service exposes (a range of 60,000 would make a proxy of 60,000 listeners)


def top_networks(r: Reader, node: Node, path: str, project: str) -> dict[str, NetworkRef]:
    """The top-level ``networks`` declarations by key."""
    out: dict[str, NetworkRef] = {}
    for key, (knode, vnode) in r.entries(node, path).items():
        kpath = join(path, key)
        if not NETWORK_KEY_RE.match(key):
            r.error(knode, kpath, f"a network name is letters, digits, '_', '.' and '-', starting with a letter or digit, got {shown(key)}")
            continue
        found = NetworkRef(key, f"{project}_{key}") if is_null(vnode) else r.read(
            lambda n, p: _declaration(r, key, n, p, project), vnode, kpath)
        # a declaration in error (already said) still declares its key: the services that
        # name it are not also told it is missing
        out[key] = found if found is not None else NetworkRef(key, f"{project}_{key}")
    return out


def _declaration(r: Reader, key: str, node: Node, path: str, project: str) -> NetworkRef:
    entries = known_entries(r, r.entries(node, path), TOP_NETWORK, path)
    before = r.error_count
    fields: dict[str, Any] = {}
    for name, (_, vnode) in entries.items():
        if is_null(vnode):
            continue
        kpath = join(path, name)
        if name == "external":
            fields[name] = r.read(lambda n, p: _flag(r, n, p, fields), vnode, kpath)
        elif name == "labels":
            found = r.read(lambda n, p: key_values(r, n, p, "label"), vnode, kpath)
            fields[name] = pairs({k: v or "" for k, v in (found or {}).items()})
        elif name == "driver":
            fields[name] = r.read(lambda n, p: _driver(r, n, p), vnode, kpath)
        else:  # name
            fields[name] = r.read(lambda n, p: _name(r, n, p), vnode, kpath)
    if r.error_count > before:
        raise Reported()
    external = bool(fields.get("external"))
    if external and fields.get("labels"):
        raise Invalid("an external network is made by you, not by tui-orch: remove labels (or external)",
                      entries["labels"][0], join(path, "labels"))
    name = fields.get("name") or (key if external else f"{project}_{key}")
    return NetworkRef(key, name, external=external, labels=fields.get("labels") or ())


def _flag(r: Reader, node: Node, path: str, fields: dict[str, Any]) -> bool:
    if isinstance(node, MappingNode):  # the legacy form external: {name: NAME}
        entries = r.entries(node, path)
        if list(entries) != ["name"]:
            raise Invalid("expected true or false (the legacy form is external: {name: NAME})", node)
        r.warn(node, path, "external: {name: ...} is deprecated; write external: true and name: at the network's level")
        fields.setdefault("name", _name(r, entries["name"][1], join(path, "name")))
        return True
    return r.boolean(node, path)


def _driver(r: Reader, node: Node, path: str) -> str:
    text = r.text(node, path, "bridge or overlay")
    if text in ("bridge", ""):  # empty (an unset variable): the engine's default, a bridge, as in Compose
        return "bridge"
    if text == "overlay":
        r.warn(node, path, "overlay: each node gets a bridge network of this name, and services on other nodes "
                           "are reached by name through tui-orch's mesh proxies (no overlay to run)")
        return "bridge"
    raise Invalid(f"expected bridge or overlay, got {shown(text)}: tui-orch makes a bridge network on each node", node)


def _name(r: Reader, node: Node, path: str) -> str:
    text = r.text(node, path, "a network name")
    if not NETWORK_KEY_RE.match(text) or len(text) > 128:
        raise Invalid(f"a network name is letters, digits, '_', '.' and '-', starting with a letter or digit, got {shown(text)}", node)
    return text


# --------------------------------------------------------------------------- services


def service_networks(r: Reader, node: Node, path: str) -> tuple[NetworkRef, ...]:
    """A service's ``networks``: a list of keys, or key -> null | {aliases, ...}. The names on
    the nodes are filled in once the top-level declarations are read (``attach``)."""
    out: list[NetworkRef] = []
    if isinstance(node, MappingNode):
        for key, (knode, vnode) in r.entries(node, path).items():
            aliases = () if is_null(vnode) else r.read(lambda n, p: _attachment(r, n, p), vnode, join(path, key))
            out.append(NetworkRef(key, "", aliases or ()))
        return tuple(out)
    for i, item in enumerate(r.items(node, path)):
        key = r.text(item, join(path, i), "a network name")
        if any(ref.key == key for ref in out):
            raise Invalid(f"network {shown(key)} is listed twice", item, join(path, i))
        out.append(NetworkRef(key, ""))
    return tuple(out)


def _is_alias(text: str) -> bool:
    """A host name another service may call this one by (an alias, a link's alias)."""
    return bool(ALIAS_RE.match(text)) and len(text) <= 253


def _attachment(r: Reader, node: Node, path: str) -> tuple[str, ...]:
    entries = known_entries(r, r.entries(node, path), SERVICE_NETWORK, path)
    if "aliases" not in entries or is_null(entries["aliases"][1]):
        return ()
    apath = join(path, "aliases")
    names = []
    for i, item in enumerate(r.items(entries["aliases"][1], apath)):
        text = r.text(item, join(apath, i), "a name")
        if not _is_alias(text):
            raise Invalid(f"an alias is a host name (letters, digits, '-' and '_', parts separated by dots), got {shown(text)}",
                          item, join(apath, i))
        names.append(text)
    return tuple(dict.fromkeys(names))


def links(r: Reader, node: Node, path: str) -> tuple[tuple[str, str], ...]:
    """``links: [db, "db:database"]`` (legacy Compose): (service, alias; "" for none)."""
    out: dict[str, str] = {}
    for i, item in enumerate(r.items(node, path)):
        text = r.text(item, join(path, i), "SERVICE or SERVICE:ALIAS")
        service, _, alias = text.partition(":")
        if not service or (alias and not _is_alias(alias)):
            raise Invalid(f"expected SERVICE or SERVICE:ALIAS (an alias is a host name), got {shown(text)}", item)
        out[service] = alias if alias != service else ""
    return tuple(out.items())


def _give_link_aliases(r: Reader, services: list[ServiceSpec]) -> list[ServiceSpec]:
    """Each link's alias becomes a name of the linked service on the first network the two
    share (Compose: a name only the linking service sees; here every service of that network
    does, said in a warning); two services that share no network cannot be linked."""
    import dataclasses

    by_name = {s.name: s for s in services}
    for name, (wanted, node, path) in r.links.items():
        me = by_name.get(name)
        if me is None:
            continue
        for target, alias in wanted:
            other = by_name.get(target)
            if other is None:
                continue  # its depends_on says the service is unknown or left out
            mine = {ref.key for ref in me.networks}
            shared = [ref for ref in other.networks if ref.key in mine]
            if not shared:
                r.error(node, path, f"{name} and {target} share no network, so {target} cannot be reached from "
                                    f"{name}; put both on one network (networks:)")
                continue
            if alias and alias not in shared[0].aliases:
                r.warn(node, path, f"{alias} is a name of {target} on network {shared[0].key} for every service "
                                   f"there, not only for {name}")
                refs = tuple(dataclasses.replace(ref, aliases=(*ref.aliases, alias)) if ref is shared[0] else ref
                             for ref in other.networks)
                by_name[target] = dataclasses.replace(other, networks=refs)
    return [by_name[s.name] for s in services]


def expose(r: Reader, node: Node, path: str) -> tuple[int, ...]:
    """``expose``: ports (or ranges) other services reach this one on by name; tcp only (a udp
    or sctp entry is warned about and left out: the mesh proxies carry TCP)."""
    ports: list[int] = []
    for i, item in enumerate(r.items(node, path)):
        if not isinstance(item, ScalarNode):
            raise Invalid("expected a port such as 5432, 8000-8010 or 53/udp", item, join(path, i))
        text = r.text(item, join(path, i), "a port").strip()
        match = _RANGE_RE.match(text)
        if not match:
            raise Invalid(f"expected a port such as 5432, 8000-8010 or 53/udp, got {shown(text)}", item, join(path, i))
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 1 <= low <= high <= 65535:
            raise Invalid(f"ports are 1 to 65535, the first of a range not above the last; got {shown(text)}", item,
                          join(path, i))
        if (match.group(3) or "tcp") != "tcp":
            r.warn(item, join(path, i), f"the mesh proxies carry TCP: {text} is not reachable by name")
            continue
        ports.extend(range(low, high + 1))
        if len(ports) > MAX_EXPOSED:
            raise Invalid(f"more than {MAX_EXPOSED} exposed ports; expose the ports the service listens on", item,
                          join(path, i))
    return tuple(sorted(set(ports)))


def attach(r: Reader, declared: dict[str, NetworkRef], services: Sequence[ServiceSpec],
           where: Any, project: str) -> list[ServiceSpec]:
    """Each service with the declarations of its networks: the project's ``default`` one when
    it names none and has no ``network_mode``; a network no declaration names is an error
    (``where(name)``: the node of service ``name``'s entry, for messages)."""
    import dataclasses

    out: list[ServiceSpec] = []
    for spec in services:
        path = join("services", spec.name)
        if spec.networks and spec.network_mode is not None:
            r.error(where(spec.name), join(path, "networks"),
                    f"networks and network_mode {spec.network_mode} cannot both be set; remove one")
            out.append(spec)
            continue
        if spec.network_mode is not None:  # host, bridge, none: on no project network, reached by no name
            out.append(spec)
            continue
        refs = spec.networks or (NetworkRef(DEFAULT, ""),)
        resolved: list[NetworkRef] = []
        for ref in refs:
            decl = declared.get(ref.key)
            if decl is None and ref.key == DEFAULT:
                decl = declared.setdefault(DEFAULT, NetworkRef(DEFAULT, f"{project}_{DEFAULT}"))
            if decl is None:
                engine = (f"; for the engine's own {ref.key} network write network_mode: {ref.key} instead"
                          if ref.key in ("bridge", "host", "none") else "")
                r.error(where(spec.name), join(path, "networks"),
                        f"network {ref.key} is not declared; add it under the top-level networks: "
                        f"({ref.key}: {{}}){engine}")
                continue
            resolved.append(dataclasses.replace(decl, aliases=ref.aliases))
        out.append(dataclasses.replace(spec, networks=tuple(resolved)))
    return _give_link_aliases(r, out)


__all__ = ["DEFAULT", "attach", "expose", "links", "service_networks", "top_networks"]
