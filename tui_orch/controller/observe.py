"""Look at the nodes before acting or reporting: the saved observed state may be stale
(containers removed behind tui-orch's back while no controller ran).

``look_at_nodes`` lists the owned containers of every node (reachable or not);
``catch_up`` brings the replica records of the nodes it could list in line with them
before a command acts: a record whose container is gone is forgotten (so the plan starts
that replica again) and one whose container ended is marked exited. Records on nodes that
could not be listed are left as they are: their replicas are unknown, not gone. The
containers it found that no record stands for are the sweep's (Controller.catch_up).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tui_orch.controller import deploy
from tui_orch.controller.events import event
from tui_orch.model import NodeState, ReplicaState
from tui_orch.nodes.base import ContainerInfo
from tui_orch.nodes.fleet import Fleet

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

# records of these states have no container that should run: nothing to compare
IDLE = (ReplicaState.PENDING, ReplicaState.STOPPING, ReplicaState.STOPPED, ReplicaState.LOST, ReplicaState.FAILED)


async def look_at_nodes(fleet: Fleet) -> tuple[dict[str, list[ContainerInfo]], dict[str, str]]:
    """(node -> its owned containers, node -> why it could not be listed) for every node."""
    nodes = list(fleet.nodes.values())
    ready = [n for n in nodes if n.status.state == NodeState.READY]
    results = await asyncio.gather(*(n.list_owned() for n in ready), return_exceptions=True)
    listed: dict[str, list[ContainerInfo]] = {}
    unreachable: dict[str, str] = {}
    for node, result in zip(ready, results):
        if isinstance(result, BaseException):
            unreachable[node.name] = str(result) or type(result).__name__
        else:
            listed[node.name] = result
    for node in nodes:
        if node.status.state != NodeState.READY:
            unreachable[node.name] = node.status.reason or node.status.state.value
    return listed, unreachable


async def catch_up(ctx: "Context") -> tuple[dict[str, list[ContainerInfo]], dict[str, str]]:
    """Bring the records in line with the nodes (see the module docstring); returns what
    ``look_at_nodes`` found: the listings, and the nodes that could not be listed, with why."""
    listed, unreachable = await look_at_nodes(ctx.fleet)
    by_id = {c.id: c for found in listed.values() for c in found}
    async with ctx.lock:
        for rec in ctx.store.replicas():
            if rec.node not in listed or rec.state in IDLE:
                continue
            c = by_id.get(rec.container_id or "")
            if c is None:
                ctx.store.remove_replica(rec.key)
                ctx.bus.publish(event("gone", f"{rec.key}: its container is gone from {rec.node}; "
                                      f"it will be started again", service=rec.service, replica=rec.key,
                                      node=rec.node, level="warning"))
            elif c.status in ("exited", "dead") and rec.state != ReplicaState.EXITED:
                deploy.update_replica(ctx, rec.key, rec.container_id, state=ReplicaState.EXITED,
                                      exit_code=c.exit_code)
            elif c.status == "running" and rec.state == ReplicaState.EXITED:
                deploy.update_replica(ctx, rec.key, rec.container_id, state=ReplicaState.RUNNING)
    return listed, unreachable


async def unowned_containers(ctx: "Context", service: str) -> list[ContainerInfo]:
    """This owner's containers of ``service`` on the nodes that no record stands for (what
    ``rm`` of a service the state lost must remove)."""
    from tui_orch.controller.containers import LABEL_OWNER
    from tui_orch.nodes.base import LABEL_SERVICE

    listed, _ = await look_at_nodes(ctx.fleet)
    recorded = {r.container_id for r in ctx.store.replicas(service)}
    return [c for found in listed.values() for c in found
            if c.label(LABEL_SERVICE) == service and c.label(LABEL_OWNER) == ctx.owner and c.id not in recorded]
