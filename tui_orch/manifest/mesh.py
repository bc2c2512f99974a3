"""Published ports as a routing mesh (issue 13): which ports the edge proxy serves, and the
ports two services of a project cannot share.

A published port is mode ingress by default (as in Swarm): the edge proxy of every Ready node
answers on it and each replica binds only a dynamic host port. Two kinds stay mode host (the
replica binds the published port on its node), each with one warning: a udp port (the proxy
carries TCP), and every port of a ``network_mode: host`` service (its replica binds its ports
itself, in the node's own network, so the proxy could not hold them there).

Since every node answers on an ingress port, it serves one service: a second service
publishing it (ingress, or mode host on any node) is an error naming both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from yaml.nodes import Node

from tui_orch.errors import Problem
from tui_orch.manifest.project import Origin
from tui_orch.manifest.reader import Reader, join
from tui_orch.model import PortSpec, ServiceSpec


def settle_modes(r: Reader, name: str, ports: tuple[PortSpec, ...], network_mode: str | None,
                 where: Node, path: str) -> tuple[PortSpec, ...]:
    """Service ``name``'s ``ports`` with the ingress ports the proxy cannot serve turned to
    mode host, with a warning at ``where`` (its ``ports`` key) saying what happens."""
    if network_mode == "host" and any(p.ingress for p in ports):
        shown = ", ".join(f"{p.published}{'' if p.protocol == 'tcp' else '/' + p.protocol}" for p in ports if p.ingress)
        r.warn(where, path, f"{name} has network_mode: host: a host-network replica binds its ports itself, so the "
               f"edge proxy cannot take port(s) {shown} on its node; they are published on each node that runs "
               f"a replica of {name} (mode host)")
        return tuple(_host(p) for p in ports)
    for p in ports:
        if p.ingress and p.protocol != "tcp":
            r.warn(where, path, f"the edge proxy carries TCP: {name}'s {p.protocol} port {p.published} is "
                   f"published on each node that runs a replica of {name} (mode host)")
    return tuple(_host(p) if p.protocol != "tcp" else p for p in ports)


def _host(port: PortSpec) -> PortSpec:
    return dataclasses.replace(port, mode="host") if port.ingress else port


def check_published(r: Reader, services: Sequence[ServiceSpec], origins: Mapping[str, Origin]) -> None:
    """An error on the later service for each published port (and protocol) that an ingress
    port of one service shares with another service."""
    ingress: dict[tuple[int, str], str] = {}  # (port, protocol) -> the service it is an ingress port of
    host: dict[tuple[int, str], str] = {}  # -> the first service publishing it in mode host
    for spec in services:
        mine: dict[tuple[int, str], bool] = {}
        for port in spec.ports:
            if port.published is not None:
                mine.setdefault((port.published, port.protocol), port.ingress)
        for key, is_ingress in mine.items():
            other = ingress.get(key) or (host.get(key) if is_ingress else None)
            if other is None:
                (ingress if is_ingress else host).setdefault(key, spec.name)
                continue
            _report(r, origins[spec.name], _clash(key, (other, key in ingress), (spec.name, is_ingress)))


def _clash(key: tuple[int, str], first: tuple[str, bool], second: tuple[str, bool]) -> str:
    """The message for two services (name, its port is ingress) publishing one port."""
    said = [name if is_ingress else f"{name} (mode host)" for name, is_ingress in (first, second)]
    start = f"port {key[0]}/{key[1]} is published by {said[0]} and by {said[1]}; "
    fix = ": give one of them another published port"
    if first[1] and second[1]:
        return f"{start}a published port answers on every node (mode ingress) and serves one service{fix}"
    mesh, bound = (first[0], second[0]) if first[1] else (second[0], first[0])
    return f"{start}every node answers on {mesh}'s port (mode ingress), so {bound} could not bind it{fix}"


def _report(r: Reader, where: Origin, message: str) -> None:
    mark = where.node.start_mark
    r.add(Problem(where.file, mark.line + 1, mark.column + 1, join(where.path, "ports"), message, "error"))


__all__ = ["check_published", "settle_modes"]
