"""What a replica's container mounts, made ready on its node just before it is created.

- Named volumes: created on the node where the replica starts (``Node.ensure_volume``), named
  as Compose names them (``VolumeSpec.name``: ``<project>_<key>``, or ``name:``), with the
  declaration's driver, options and labels plus tui-orch's (``tui-orch.volume`` = the key,
  ``tui-orch.owner``); one already there is used as it is, so a restart or a rolling update on
  the same node finds the same data. An external volume must exist: the start fails with one
  line naming the node and the volume. The spec of each revision carries its declarations, so
  a restart long after the apply needs nothing else.
- Binds of paths on the node and tmpfs mounts go to the engine as they are (nodes/mounts.py);
  files of the operator's machine are delivered instead (delivery.py); the request carries
  them with node-level sources (containers.py ``node_mounts``).
- ``volumes_from``: honoured only on the same node (a container's volumes are on its node):
  the source service's replica there (running, else starting); none there fails the start
  with one line saying so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui_orch.controller.containers import LABEL_OWNER
from tui_orch.controller.events import event
from tui_orch.errors import NodeError
from tui_orch.model import ReplicaState, ServiceSpec
from tui_orch.nodes.base import Node

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

async def ensure_volumes(ctx: "Context", node: Node, spec: ServiceSpec) -> None:
    """Create the named volumes ``spec`` mounts on ``node`` when missing. Raises NodeError."""
    labels = ((LABEL_OWNER, ctx.owner),) if ctx.owner else ()
    seen = set()
    for m in spec.mounts:
        declared = spec.volume(m.source) if m.type == "volume" and m.source else None
        if declared is None or declared.key in seen:
            continue
        seen.add(declared.key)
        if await node.ensure_volume(declared, labels) == "created":
            ctx.bus.publish(event("volume", f"volume {declared.name} created on {node.name} for {spec.name}",
                                  service=spec.name, node=node.name))


def volumes_from(ctx: "Context", node: str, spec: ServiceSpec) -> tuple[str, ...]:
    """The container ids (``ID`` or ``ID:ro``) of ``spec.volumes_from`` on ``node``. Raises
    NodeError when a source service has no replica there."""
    out = []
    for ref in spec.volumes_from:
        source, _, mode = ref.partition(":")
        found = [r for r in ctx.store.replicas(source) if r.node == node and r.container_id
                 and r.state in (ReplicaState.RUNNING, ReplicaState.STARTING)]
        found.sort(key=lambda r: r.state != ReplicaState.RUNNING)  # a running one first
        if not found:
            raise NodeError(node, f"{spec.name} mounts the volumes of {source} (volumes_from), which has no "
                                  f"replica on this node; volumes_from works on the same node only: run {source} "
                                  f"there (e.g. deploy.mode: global) or share a named volume instead")
        cid = str(found[0].container_id)
        out.append(f"{cid}:{mode}" if mode else cid)
    return tuple(out)


async def prepare(ctx: "Context", node: Node, spec: ServiceSpec) -> tuple[str, ...]:
    """Make the node ready for a replica of ``spec``: its named volumes exist; returns its
    volumes_from container ids. Raises NodeError (the start fails with that line)."""
    await ensure_volumes(ctx, node, spec)
    return volumes_from(ctx, node.name, spec)
