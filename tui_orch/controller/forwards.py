"""Port-forwards of the console (k9s' shift-f): a local port of the operator's machine, on
127.0.0.1 only, carried to a port of one running replica through the connection its node
already has (nodes/tunnel.py; an SSH direct-tcpip channel per connection on a remote node,
a plain connection on the local one). The console asks here, through Query; it never opens
anything on a node itself.

Where a connection goes: the container's address on each of its Docker networks (the node
reaches them), then the host port the engine published the container port on; a replica on
the host's network (``network_mode: host``) is reached at the node's 127.0.0.1. The first
that answers is kept for the next connections.

A forward breaks (its port closed at once, its row kept, marked, until the operator stops
it) when its replica goes away or is replaced (another container) or its node stops being
Ready; ``check`` says so once, as the console's redraw asks every second (cost: one look
per forward, never per replica or node)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_orch.controller.context import owner_id
from tui_orch.errors import TuiOrchError
from tui_orch.model import NodeState, Replica, ReplicaState, ServiceSpec
from tui_orch.nodes.tunnel import LOOPBACK, Streams, Tunnel, free_port, port_free

if TYPE_CHECKING:
    from tui_orch.nodes.base import Node
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.store import Store

MAX_PORT = 65535


@dataclass(frozen=True)
class ForwardRow:
    """One forward as the console lists it."""

    id: int
    replica: str
    node: str
    container_port: int
    local: str  # 127.0.0.1:PORT
    since: float  # time.time() it opened
    state: str  # "open", "broken"
    reason: str  # why it broke; else the last connection that could not be carried, or ""
    connections: int
    active: int
    sent: int  # bytes to the replica
    received: int  # bytes from it


def suggested_port(spec: ServiceSpec | None, rep: Replica) -> int | None:
    """The container port the dialog offers: on the host's network, the port the replica
    binds there (its first host port); else its first tcp port's target, else its first
    exposed port; None when the spec names none."""
    if spec is None:
        return rep.ports[0] if rep.ports else None
    if spec.network_mode == "host" and rep.ports:
        return rep.ports[0]
    target = next((p.target for p in spec.ports if p.protocol == "tcp" and p.target), None)
    return target or (spec.expose[0] if spec.expose else None)


def check_port(value: int, what: str, zero: bool = False) -> int:
    """``value`` when it is a port number (0 allowed with ``zero``: any free port)."""
    if not (0 if zero else 1) <= value <= MAX_PORT:
        raise TuiOrchError(f"{what} {value} is not a port number; use 1 to {MAX_PORT}")
    return value


class Forward:
    """One open (or broken) forward: its tunnel and where its connections go. ``close``
    stops it (idempotent)."""

    def __init__(self, ident: int, rep: Replica, node: "Node", container_port: int,
                 targets: list[tuple[str, int]], since: float):
        self.id = ident
        self.replica = rep.key
        self.container_id = rep.container_id or ""
        self.node = node
        self.container_port = container_port
        self.targets = targets  # (host, port) as the node reaches them, the one that answered first
        self.since = since
        self.tunnel = Tunnel(self._connect, self._failed)
        self.broken = ""  # why it stopped by itself, once it has
        self.closed = False  # stopped by its holder (the operator)
        self.error = ""  # the last connection that could not be carried
        self.unsaid: list[str] = []  # what check() has still to tell

    @property
    def local(self) -> str:
        return f"{LOOPBACK}:{self.tunnel.port}"

    def describe(self) -> str:
        return f"port-forward {self.local} -> {self.replica}:{self.container_port}"

    async def _connect(self) -> Streams:
        last: TuiOrchError | None = None
        for i, (host, port) in enumerate(self.targets):
            try:
                streams = await self.node.open_connection(host, port)
            except TuiOrchError as exc:
                last = exc
                continue
            if i:  # the next connections try this one first
                self.targets.insert(0, self.targets.pop(i))
            return streams
        raise last or TuiOrchError(f"{self.replica} has no address to connect to")

    def _failed(self, why: str) -> None:
        if why != self.error:
            self.error = why
            self.unsaid.append(f"{self.describe()}: a connection could not be carried: {why}")

    def break_off(self, why: str) -> None:
        """Close the port, keep the row with ``why`` (said once by check())."""
        if not self.broken:
            self.broken = why
            self.tunnel.close()
            self.unsaid.append(f"{self.describe()} stopped: {why}")

    def close(self) -> None:
        """Stop it; it leaves the list (Forwards.rows)."""
        self.closed = True
        self.tunnel.close()

    def row(self) -> ForwardRow:
        t = self.tunnel
        return ForwardRow(self.id, self.replica, self.node.name, self.container_port, self.local, self.since,
                          "broken" if self.broken else "open", self.broken or self.error, t.connections, t.active,
                          t.sent, t.received)


class Forwards:
    """The forwards a console opened, by id; all closed by ``close_all`` (the console's quit)."""

    def __init__(self, store: "Store", fleet: "Fleet | None", spec: Callable[[str], ServiceSpec | None]):
        self._store = store
        self._fleet = fleet
        self._spec = spec
        self._open: dict[int, Forward] = {}
        self._next = 1

    def _runnable(self, key: str) -> tuple[Replica, "Node"]:
        """The replica and its node, when a forward to it can open; else one sentence why not."""
        rep = self._store.get_replica(key)
        if rep is None:
            raise TuiOrchError(f"{key} is not a replica of this state (removed meanwhile?)")
        node = self._fleet.nodes.get(rep.node) if self._fleet is not None else None
        if node is None:
            raise TuiOrchError(f"{key} runs on {rep.node}, which this console is not connected to")
        if node.simulated:
            raise TuiOrchError(f"{key} runs on the SIMULATED node {node.name}: a simulated replica cannot be "
                               f"port-forwarded (no real container listens)")
        if rep.state != ReplicaState.RUNNING or not rep.container_id:
            raise TuiOrchError(f"{key} is {rep.state.value}: only a running replica can be port-forwarded")
        if node.status.state != NodeState.READY:
            why = f" ({node.status.reason})" if node.status.reason else ""
            raise TuiOrchError(f"{key}'s node {node.name} is {node.status.state.value}{why}; "
                               f"port-forward once it is Ready")
        return rep, node

    def defaults(self, key: str) -> tuple[int | None, int]:
        """(container port, local port) the dialog offers: the replica's first port from its
        spec, and the same number locally when it is free there, else a free one. Raises
        TuiOrchError when the replica cannot be forwarded (simulated, not running...)."""
        rep, _node = self._runnable(key)
        port = suggested_port(self._spec(rep.service), rep)
        return port, port if port is not None and port_free(port) else free_port()

    async def open(self, key: str, container_port: int, local_port: int) -> Forward:
        """Forward 127.0.0.1:``local_port`` (0: a free one) to ``container_port`` of replica
        ``key``. Raises TuiOrchError with one sentence (the port is in use, the replica does
        not run, it has no address)."""
        check_port(container_port, "container port")
        check_port(local_port, "local port", zero=True)
        rep, node = self._runnable(key)
        targets = await self._targets(rep, node, container_port)
        forward = Forward(self._next, rep, node, container_port, targets, time.time())
        await forward.tunnel.listen(local_port)
        self._next += 1
        self._open[forward.id] = forward
        return forward

    async def _targets(self, rep: Replica, node: "Node", port: int) -> list[tuple[str, int]]:
        """Where the node reaches ``port`` of the replica's container (see the module's doc)."""
        found = await node.replica_reach(owner_id(self._store))
        cid = rep.container_id or ""
        reach = next((r for c, r in found.items() if c.startswith(cid) or cid.startswith(c)), None)
        if reach is None:
            raise TuiOrchError(f"{rep.key}'s container does not run on {node.name} now; try again once it does")
        targets = [(ip, port) for _net, ip in reach.addresses]
        published = dict(reach.ports).get(port)
        if published:
            targets.append((LOOPBACK, published))
        spec = self._spec(rep.service)
        if not targets and spec is not None and spec.network_mode == "host":
            targets.append((LOOPBACK, port))
        if not targets:
            raise TuiOrchError(f"{rep.key} has no address on {node.name} to reach port {port} at "
                               f"(no network of its own, the port not published)")
        return targets

    def rows(self) -> list[ForwardRow]:
        return [f.row() for f in self._open.values() if not f.closed]

    def get(self, ident: int) -> Forward | None:
        forward = self._open.get(ident)
        return forward if forward is not None and not forward.closed else None

    def stop(self, ident: int) -> None:
        """Close the forward and forget it."""
        forward = self._open.pop(ident, None)
        if forward is not None:
            forward.close()

    def check(self) -> list[str]:
        """Break the forwards whose replica went away or was replaced or whose node is no
        longer Ready; the sentences not said yet (breaks, connections not carried)."""
        said: list[str] = []
        self._open = {i: f for i, f in self._open.items() if not f.closed}  # closed through their handle
        for forward in self._open.values():
            if not forward.broken:
                why = self._gone(forward)
                if why:
                    forward.break_off(why)
            said.extend(forward.unsaid)
            forward.unsaid.clear()
        return said

    def _gone(self, forward: Forward) -> str:
        node = forward.node
        if node.status.state != NodeState.READY:
            return f"its node {node.name} is {node.status.state.value}" + (
                f" ({node.status.reason})" if node.status.reason else "")
        rep = self._store.get_replica(forward.replica)
        if rep is None:
            return f"{forward.replica} was removed"
        if rep.container_id != forward.container_id:
            return f"{forward.replica} was replaced by another container (forward it again)"
        if rep.state != ReplicaState.RUNNING:
            return f"{forward.replica} is {rep.state.value}"
        return ""

    def close_all(self) -> None:
        """Close every forward (the console quits): no port is left listening."""
        forwards, self._open = list(self._open.values()), {}
        for forward in forwards:
            forward.close()
