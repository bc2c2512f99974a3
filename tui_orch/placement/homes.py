"""Replicas pinned by their data: which named volumes of a service keep data on the node a
replica runs on, and the line a plan says for a replica that waits for that node. Pure.

A volume pins when its data lives on the node's own disk: the engine's default driver
(``local``), external ones included (the operator made them on that node; another node's
volume of the same name is another copy, or empty). A ``local`` volume over the network
(driver_opts ``type`` nfs/cifs) and any other driver (a plugin, usually shared storage) do not
pin: every node sees the same data. Anonymous volumes do not pin: Compose recreates them too.
"""

from __future__ import annotations

from tui_orch.model import ServiceSpec

NETWORK_TYPES = frozenset({"nfs", "nfs4", "cifs", "smb"})


def pinning_volumes(spec: ServiceSpec) -> tuple[str, ...]:
    """The node-level names of the named volumes of ``spec`` whose data stays on a node."""
    names: list[str] = []
    for mount in spec.mounts:
        vol = spec.volume(mount.source) if mount.type == "volume" and mount.source else None
        if vol is None or vol.driver not in ("", "local"):
            continue
        if dict(vol.driver_opts).get("type", "").lower() in NETWORK_TYPES:
            continue
        if vol.name not in names:
            names.append(vol.name)
    return tuple(names)


def data_line(spec: ServiceSpec) -> str:
    """Why a replica of ``spec`` stays on its node, and what the operator can do."""
    vols = pinning_volumes(spec)
    what = f"volume {vols[0]} holds" if len(vols) == 1 else f"volumes {', '.join(vols)} hold"
    return f"its {what} data there (move it: tui-orch volume move {spec.name} NODE)"


def waits_line(spec: ServiceSpec, node: str, why: str) -> str:
    """Why a replica of ``spec`` is not placed elsewhere while its home ``node`` is away
    (``why``: e.g. "node2 is Unreachable")."""
    return f"waits for {node} ({why}): {data_line(spec)}"


__all__ = ["NETWORK_TYPES", "data_line", "pinning_volumes", "waits_line"]
