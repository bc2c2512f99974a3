"""All nodes of the inventory: built, connected side by side, and seen as one.

``subscribe()`` gives a queue that receives every Docker event of every node
(``DockerEvent``) and every node state change (``NodeChange``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union, overload

from tui_orch.errors import NodeError
from tui_orch.inventory import Inventory
from tui_orch.model import Availability, NodeInfo, NodeSpec, NodeState, Resources
from tui_orch.nodes.base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_OP_TIMEOUT, DockerEvent, Node, NodeStatus

if TYPE_CHECKING:
    from tui_orch.nodes.hostkeys import Offer


@dataclass(frozen=True)
class NodeChange:
    """A node's state changed (old -> new)."""

    node: str
    old: NodeStatus
    new: NodeStatus


FleetItem = Union[DockerEvent, NodeChange]
NodeFactory = Callable[[NodeSpec], Node]


def make_node(spec: NodeSpec, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
              op_timeout: float = DEFAULT_OP_TIMEOUT) -> Node:
    """The right Node for a spec: LocalNode, RemoteNode, or a simulated node."""
    if spec.simulated:
        try:
            from tui_orch.nodes.sim.node import SimulatedNode  # type: ignore[import-not-found]
        except ImportError:
            raise NodeError(spec.name, "simulated nodes are not available in this version") from None
        return SimulatedNode(spec)  # type: ignore[no-any-return]
    if spec.local:
        from tui_orch.nodes.local import LocalNode

        return LocalNode(spec, connect_timeout, op_timeout)
    from tui_orch.nodes.remote import RemoteNode

    return RemoteNode(spec, connect_timeout, op_timeout)


class Fleet:
    """One Node per NodeSpec of the inventory."""

    def __init__(self, inventory: Inventory, factory: NodeFactory | None = None):
        self.inventory = inventory
        build = factory or make_node
        self.nodes: dict[str, Node] = {spec.name: build(spec) for spec in inventory.nodes}
        self._subscribers: list[asyncio.Queue[FleetItem]] = []
        self._pumps: list[asyncio.Task[None]] = []
        self.state_changes = 0  # node state changes so far: a cheap way to tell one happened
        for node in self.nodes.values():
            node.on_state_change(self._state_changed)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    async def start(self) -> None:
        """Connect every node at once; returns when each has had its first attempt (a
        hanging host is given up after its connect timeout and retried in the background)."""
        if not self._pumps:
            self._pumps = [asyncio.create_task(self._pump(node), name=f"fleet-events-{node.name}")
                           for node in self.nodes.values()]
        await asyncio.gather(*(node.start() for node in self.nodes.values()))

    async def close(self) -> None:
        pumps, self._pumps = self._pumps, []
        for task in pumps:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(node.close() for node in self.nodes.values()), return_exceptions=True)

    async def __aenter__(self) -> "Fleet":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def ready(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.status.state == NodeState.READY]

    def ready_when_read(self) -> Sequence[Node]:
        """The ready nodes, listed only once something reads them: a replica start hands the
        possible image sources to its node, which reads them only when the image is missing.
        Listing them for every start walked 1,000 nodes 1,000 times in one event-loop turn
        of a large deploy (150 ms without an answer to a key)."""
        return _ReadyNodes(self)

    def node_infos(self, availability: Mapping[str, Availability] | None = None) -> list[NodeInfo]:
        """What the scheduler needs of each node; ``availability`` comes from the store."""
        out = []
        for node in self.nodes.values():
            m = node.metrics
            out.append(NodeInfo(
                name=node.name,
                capacity=node.capacity or Resources(),
                reserved=node.spec.reserved,
                labels=node.spec.labels,
                hostname=node.status.hostname,
                state=node.status.state,
                availability=(availability or {}).get(node.name, Availability.ACTIVE),
                cpu_used=m.cpu_percent / 100.0 if m is not None else None,
                memory_used=m.mem_used / m.mem_total if m is not None and m.mem_total else None,
                host_id=node.host_id,
                ports_in_use=node.ports_seen,
                platform=node.status.platform,
            ))
        return out

    # ----------------------------------------------------------------- operator actions
    async def host_key(self, name: str) -> Offer:
        """The first key not trusted yet on node ``name``'s route (its own, or a jump host's),
        as presented now (a key that differs from the recorded one raises HostKeyChanged)."""
        from tui_orch.nodes.hostkeys import fetch_offer

        return await fetch_offer(self[name].spec)

    async def trust(self, name: str, fingerprint: str | None = None) -> str:
        """Record node ``name``'s host key (only ``fingerprint``, when given) and reconnect it."""
        from tui_orch.nodes.hostkeys import trust_node

        message = await trust_node(self[name].spec, fingerprint)
        await self[name].reconnect()
        return message

    def shell_argv(self, name: str, container_id: str, shell: str = "sh") -> list[str]:
        """The command that opens ``shell`` in a container of node ``name`` (see nodes/shell.py)."""
        from tui_orch.nodes.shell import shell_argv

        return shell_argv(self[name].spec, container_id, shell)

    # ----------------------------------------------------------------- events
    def subscribe(self, maxsize: int = 0) -> asyncio.Queue[FleetItem]:
        """A queue of every DockerEvent and NodeChange from now on."""
        queue: asyncio.Queue[FleetItem] = asyncio.Queue(maxsize)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[FleetItem]) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(queue)

    def _publish(self, item: FleetItem) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a full subscriber misses items
                queue.put_nowait(item)

    def _state_changed(self, node: Node, old: NodeStatus, new: NodeStatus) -> None:
        self.state_changes += 1
        self._publish(NodeChange(node.name, old, new))

    async def _pump(self, node: Node) -> None:
        while True:
            self._publish(await node.events.get())


class _ReadyNodes(Sequence[Node]):
    """Fleet.ready(), computed on first use."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self._nodes: list[Node] | None = None

    def _list(self) -> list[Node]:
        if self._nodes is None:
            self._nodes = self._fleet.ready()
        return self._nodes

    def __len__(self) -> int:
        return len(self._list())

    @overload
    def __getitem__(self, index: int) -> Node: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Node]: ...

    def __getitem__(self, index: int | slice) -> Node | Sequence[Node]:
        return self._list()[index]
