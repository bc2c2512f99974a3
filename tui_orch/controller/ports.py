"""Host ports checked against the node just before a start.

The plan gives a replica ports from what the store and the last reads say; something else may
have bound one since (another process, a container of another state folder, a replica on a
node out of reach sharing the host). ``ports_to_start_with`` reads the ports bound on the node
(one read per start, nodes/ports.py) and, when one of the replica's ports is taken, asks the
planner again for that replica on that node with what is bound counted as taken: the replica
gets another port rather than crash-looping on a port it cannot bind. Starts that run side by
side claim their ports (``PortClaims``) so that two re-placements never pick the same one.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from tui_orch import placement
from tui_orch.controller.claims import PortClaims
from tui_orch.controller.events import event
from tui_orch.controller.planning import node_infos
from tui_orch.errors import NodeError
from tui_orch.model import Availability, ServiceSpec
from tui_orch.nodes.base import Node

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

__all__ = ["PortClaims", "ports_to_start_with"]


def _same_host(ctx: "Context", node: Node) -> set[str]:
    """The nodes sharing ``node``'s host ports (itself when its host is unknown)."""
    if not node.host_id:
        return {node.name}
    return {n.name for n in ctx.fleet.nodes.values() if n.host_id == node.host_id}


async def ports_to_start_with(ctx: "Context", spec: ServiceSpec, slot: int, node: Node,
                              ports: tuple[int, ...], claims: PortClaims, token: object) -> tuple[int, ...]:
    """``ports`` when none is bound on ``node`` now; else the ports the planner gives the replica
    there with the bound ones taken. Raises NodeError when the node has no such ports free."""
    if not ports:
        return ports
    bound = await node.ports_in_use() | claims.refused(node.name, time.monotonic())
    if not bound & set(ports):
        return ports
    taken = bound | claims.held(_same_host(ctx, node), token)
    info = next((i for i in node_infos(ctx) if i.name == node.name), None)
    if info is None:
        raise NodeError(node.name, f"host port(s) {_list(bound & set(ports))} in use on the node")
    # the replica is already placed here: only its ports are asked for (a cordon keeps it here)
    info = dataclasses.replace(info, ports_in_use=taken, availability=Availability.ACTIVE)
    key = f"{spec.name}.{slot}" if slot else f"{spec.name}.{node.name}"
    current = [r for r in ctx.store.replicas() if r.key != key]
    p = placement.place(spec, [slot] if slot else [], [info], current, on=[] if slot else [node.name])
    if not p.starts:
        why = p.unschedulable[0].reason if p.unschedulable else "no free port"
        raise NodeError(node.name, f"host port(s) {_list(bound & set(ports))} in use on the node and no "
                                   f"other fits ({why})")
    claims.move(token, p.starts[0].ports)
    ctx.bus.publish(event("start", f"{key}: host port(s) {_list(bound & set(ports))} in use on {node.name}; "
                                   f"it gets {_list(set(p.starts[0].ports))} instead", service=spec.name,
                          replica=key, node=node.name, level="warning"))
    return p.starts[0].ports


def _list(ports: set[int] | frozenset[int]) -> str:
    return ", ".join(str(p) for p in sorted(ports))
