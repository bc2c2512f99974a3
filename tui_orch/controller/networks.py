"""The project networks this state made on the nodes go when nothing wants them any more, as
``docker compose down`` removes a project's networks: each is a bridge network with a subnet of
its engine's address pools, and an engine that keeps every network it ever made runs out of
pools (nodes/networks.py ensure_network).

A network goes from a node when it is this state's (its owner label), no desired service nor
recorded replica (an old revision's, still serving during a rollout) names it, and no
container is attached there (the node checks, nodes/networks.py prune_networks). The caller
holds the lock, as starts of replicas do, so a replica is never started on a network being
removed; a mesh proxy (traffic.py, not under the lock) joins only the networks of a desired
service, which are kept.

Which nodes are looked at: those where a container of this state went since their last prune
(``touched``) and those where a network that prune left is no longer wanted
(``Context.networks_left``: it was kept for a service removed since, or had a container
attached, e.g. a mesh proxy the traffic loop had not removed yet); every node once after the
controller starts (networks an earlier version left behind)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tui_orch.controller import planning
from tui_orch.controller.events import event
from tui_orch.errors import NodeError

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.nodes.base import Node


def in_use(ctx: "Context") -> frozenset[str]:
    """The names of the networks of every desired service and of every recorded replica."""
    names = {ref.name for spec, _rev in planning.desired(ctx).values() for ref in spec.networks}
    for service, revision in {(r.service, r.revision) for r in ctx.store.replicas()}:
        spec = planning.revision_spec(ctx, service, revision)
        if spec is not None:
            names.update(ref.name for ref in spec.networks)
    return frozenset(names)


def touched(ctx: "Context", node: str) -> None:
    """A container went from ``node``: its networks may be unused now (looked at by prune)."""
    ctx.networks_left.pop(node, None)


async def prune(ctx: "Context", nodes: "list[Node] | None" = None) -> list[tuple[str, str]]:
    """Remove from each Ready node (of ``nodes``) the networks of this state nothing uses, on
    the nodes worth a look (above); returns (node, network) of those removed. A node that
    cannot be reached is left for the next pass. The caller holds the lock."""
    left = ctx.networks_left
    todo = [n for n in (nodes if nodes is not None else ctx.fleet.ready()) if left.get(n.name) != frozenset()]
    if not todo:  # the usual full pass: nothing of ours on any node, nothing touched
        return []
    keep = in_use(ctx)
    todo = [n for n in todo if n.name not in left or not left[n.name] <= keep]
    if not todo:
        return []
    ctx.check_acting()
    results = await asyncio.gather(*(n.prune_networks(ctx.owner, keep) for n in todo), return_exceptions=True)
    gone: list[tuple[str, str]] = []
    for node, result in zip(todo, results):
        if isinstance(result, NodeError):
            continue  # the next pass tries again
        if isinstance(result, BaseException):
            raise result
        removed, still = result
        left[node.name] = frozenset(still)
        for name in removed:
            gone.append((node.name, name))
            ctx.bus.publish(event("network", f"network {name} removed on {node.name}: nothing uses it",
                                  node=node.name))
    return gone
