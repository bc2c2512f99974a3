"""``volume ls`` and ``volume rm``: the tui-orch volumes of every node, and removing one.

A volume is shown with the replica whose container mounts it (read from the containers'
labels on its node), else with the replica whose data it holds (its recorded home); ``rm``
removes a volume no container uses, as ``docker volume rm`` does, and refuses one a replica
uses (or whose data it holds while it waits) with one line naming it; the home record goes
with the volume.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_orch.controller.containers import replica_key
from tui_orch.controller.events import event
from tui_orch.errors import NodeError, TuiOrchError
from tui_orch.model import VolumeHome
from tui_orch.nodes.base import LABEL_SERVICE, LABEL_SLOT, Node, VolumeInfo

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.nodes.fleet import Fleet


@dataclass(frozen=True)
class VolumeRow:
    name: str
    node: str
    replicas: tuple[str, ...]  # replica keys of the tui-orch containers that mount it
    driver: str
    size: int | None
    in_use: bool  # some container (tui-orch's or not) mounts it
    simulated: bool = False  # on a simulated node (the demo): its data is in memory

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "node": self.node, "replicas": list(self.replicas), "driver": self.driver,
                "size": self.size, "in_use": self.in_use, "simulated": self.simulated}


async def _node_rows(node: Node, sizes: bool) -> list[VolumeRow]:
    volumes, owned = await asyncio.gather(node.list_volumes(sizes), node.list_owned())
    keys = {}
    for c in owned:
        service, slot = c.label(LABEL_SERVICE), c.label(LABEL_SLOT)
        if service and slot is not None and slot.isdigit():
            keys[c.name] = replica_key(service, int(slot), node.name)
    return [_row(v, keys, node.simulated) for v in volumes]


def _row(v: VolumeInfo, keys: dict[str, str], simulated: bool) -> VolumeRow:
    return VolumeRow(v.name, v.node, tuple(sorted({keys[u] for u in v.users if u in keys})), v.driver, v.size,
                     bool(v.users), simulated)


async def listing(fleet: Fleet, sizes: bool = False,
                  homes: Iterable[VolumeHome] = ()) -> tuple[list[VolumeRow], dict[str, str]]:
    """Every tui-orch volume on the Ready nodes (by name, then node), and the nodes that
    could not be listed, with why. A volume no container mounts is shown with the replica
    whose recorded home it is (``homes``)."""
    ready = fleet.ready()
    found = await asyncio.gather(*(_node_rows(n, sizes) for n in ready), return_exceptions=True)
    rows: list[VolumeRow] = []
    trouble = {n.name: f"{n.status.state.value}: {n.status.reason}".rstrip(": ")
               for n in fleet.nodes.values() if n not in ready}
    for node, result in zip(ready, found):
        if isinstance(result, NodeError):
            trouble[node.name] = str(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            rows.extend(result)
    owners: dict[tuple[str, str], set[str]] = {}
    for h in homes:
        owners.setdefault((h.volume, h.node), set()).add(h.replica)
    rows = [r if r.replicas else dataclasses.replace(r, replicas=tuple(sorted(owners.get((r.name, r.node), ()))))
            for r in rows]
    return sorted(rows, key=lambda r: (r.name, r.node)), trouble


async def remove(ctx: Context, name: str, node: str | None = None) -> str:
    """Remove volume ``name`` from ``node`` (or from the one node that has it); one sentence."""
    rows, trouble = await listing(ctx.fleet)  # replicas by the containers that mount it (homes: below)
    here = [r for r in rows if r.name == name and (node is None or r.node == node)]
    if node is not None and node not in ctx.fleet.nodes:
        raise TuiOrchError(f"there is no node {node} in the inventory")
    if not here:
        where = f"on {node}" if node else "on any Ready node"
        note = f" ({len(trouble)} node(s) could not be listed: {', '.join(sorted(trouble))})" if trouble else ""
        raise TuiOrchError(f"there is no tui-orch volume {name} {where}{note}; see `tui-orch volume ls`")
    if len(here) > 1:
        raise TuiOrchError(f"volume {name} is on {', '.join(r.node for r in here)}; name one with --node NODE")
    row = here[0]
    if row.replicas:
        raise TuiOrchError(f"volume {name} on {row.node} is used by replica {', '.join(row.replicas)}; "
                           f"remove the service or move the replica first")
    async with ctx.lock:
        homes = [h for h in ctx.store.volume_homes(node=row.node) if h.volume == name]
        waiting = [h.replica for h in homes if ctx.store.get_replica(h.replica) is not None]
        if waiting:
            raise TuiOrchError(f"volume {name} on {row.node} holds the data of replica {', '.join(waiting)} "
                               f"(not running now); remove the service or move the replica first")
        ctx.check_acting()
        await ctx.fleet.nodes[row.node].remove_volume(name)
        for h in homes:
            ctx.store.forget_volume_home(h.replica, name)
        message = f"volume {name} removed from {row.node}"
        ctx.bus.publish(event("volume", message, node=row.node))
    return message
