"""Where the data of replicas lives, as the controller reads and records it (store/volumes.py
keeps it): a replica of a service whose named volumes keep data on the node's own disk
(placement/homes.py says which) has its home recorded on the node it started on; the planner
places it only there, and while that node is away the replica waits rather than starting
empty elsewhere (Swarm does that, silently). ``tui-orch volume move`` changes the home.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tui_orch.model import Replica, ServiceSpec, VolumeHome
from tui_orch.placement.homes import pinning_volumes, waits_line

if TYPE_CHECKING:
    from tui_orch.controller.context import Context


def homes(ctx: "Context", specs: Mapping[str, ServiceSpec]) -> dict[str, str]:
    """Replica key -> home node, for the replicated services of ``specs`` whose volumes pin
    (a home of a volume the service no longer mounts, or of a service not given, is left out)."""
    pinning = {name: pinning_volumes(spec) for name, spec in specs.items() if spec.mode != "global"}
    out: dict[str, str] = {}
    for home in ctx.store.volume_homes():
        if home.volume in pinning.get(home.service, ()):
            out.setdefault(home.replica, home.node)
    return out


def record_homes(ctx: "Context", spec: ServiceSpec, rep: Replica) -> None:
    """``rep`` of ``spec`` was just created on ``rep.node``: its pinning volumes' data is there."""
    volumes = pinning_volumes(spec)
    if not volumes:
        return
    known = {h.volume: h.node for h in ctx.store.volume_homes(spec.name) if h.replica == rep.key}
    new = [v for v in volumes if known.get(v) != rep.node]  # a restart in place writes nothing
    if new:
        now = time.time()
        ctx.store.set_volume_homes(VolumeHome(rep.key, spec.name, v, rep.node, now) for v in new)


def forget_service(ctx: "Context", service: str) -> int:
    """Forget the homes of a removed service's replicas (its volumes stay on the nodes, as
    Compose keeps them on ``down``; ``volume rm`` removes them)."""
    return sum(ctx.store.forget_volume_home(r) for r in {h.replica for h in ctx.store.volume_homes(service)})


def waiting(ctx: "Context", rep: Replica, spec: ServiceSpec | None) -> tuple[str, str] | None:
    """For a replica lost with its node: (its record's message, the event's sentence) when it
    waits there for its data; None when it may be placed elsewhere."""
    if spec is None or spec.mode == "global" or not pinning_volumes(spec):
        return None  # the common case, without reading the homes
    if homes(ctx, {spec.name: spec}).get(rep.key) != rep.node:
        return None
    why = waits_line(spec, rep.node, f"{rep.node} is not Ready")
    return f"waiting for {rep.node} (its data)", f"{rep.key} lost with node {rep.node}; it {why}"


__all__ = ["forget_service", "homes", "record_homes", "waiting"]
