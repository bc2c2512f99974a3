"""The traffic register of the Context: what the edge proxies were told (controller/traffic.py
writes it; the read side shows which replicas are in rotation)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tui_orch.traffic.model import ProxyConfig


@dataclass
class Rotation:
    """What the edge proxies were told: written only here (the Context's register)."""

    # container id -> (node, ((backend, host port), ...)) of every replica in the backends
    servers: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)  # container ids in rotation (state ready)
    missing: dict[str, float] = field(default_factory=dict)  # in the backends, no record: since when
    draining: set[str] = field(default_factory=set)  # container ids being drained before their stop
    gone: set[str] = field(default_factory=set)  # stopped on purpose: out at the next pass
    applied: dict[str, ProxyConfig | None] = field(default_factory=dict)  # node -> config it has
    checked: dict[str, float] = field(default_factory=dict)  # node -> when it was last verified
    problems: dict[str, str] = field(default_factory=dict)  # node -> why its proxy is not in line
    wake: asyncio.Event | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one pass at a time (files, reloads)
    addresses: dict[str, str] = field(default_factory=dict)  # node -> the address proxies reach it at
    seen: tuple = ()  # what the last pass looked at (store changes, Ready nodes, drains): skip when same
    changes: list[tuple[str, str]] = field(default_factory=list)  # (container id, enters/leaves) to announce
    # --- reached by name (issue 13, controller/mesh.py)
    service_of: dict[str, str] = field(default_factory=dict)  # container id -> its service (of every server)
    about: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id -> (service, behind a published port)
    reach: dict[str, Any] = field(default_factory=dict)  # container id -> nodes.meshproxy.Reach
    reach_read: dict[str, float] = field(default_factory=dict)  # node -> when its replicas' reach was read
    meshes: dict[str, dict[str, Any]] = field(default_factory=dict)  # node -> service -> MeshPlan it has

    def poke(self) -> None:
        if self.wake is not None:
            self.wake.set()
