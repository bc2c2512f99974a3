"""Port-forwards without the lab (the Pilot tests' speed): a simulated node the forwards take
for a real one, whose containers are "reached" at a small HTTP server of the test (the
stand-in for a container's address on the node's Docker network), and that server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

from tui_orch.controller import Controller
from tui_orch.model import NodeSpec
from tui_orch.nodes.meshproxy import Reach
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator
from ui_support import sim_controller

WEB = """
services:
  web:
    image: tuiorch/busybox:1
    ports: ["80"]
    deploy:
      replicas: 2
      update_config: {monitor: 0s}
"""
ADDRESS = "10.0.0.9"  # the address the fake node gives every container (never connected to)


class ForwardableNode(SimulatedNode):
    """A simulated node that says it is real and opens every connection to ``target``."""

    target: tuple[str, int] = ("127.0.0.1", 0)

    @property
    def simulated(self) -> bool:  # type: ignore[override]
        return False

    async def open_connection(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened.append((host, port))
        return await asyncio.open_connection(*self.target)

    async def replica_reach(self, owner: str) -> dict[str, Reach]:
        return {c.id: Reach((), (("test", ADDRESS),)) for c in self.containers.values() if c.status == "running"}

    @property
    def opened(self) -> list[tuple[str, int]]:
        return self.__dict__.setdefault("_opened", [])


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[int]:
    """A server on 127.0.0.1 answering every request 200 "hello through the forward"; its port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            body = b"hello through the forward\n"
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


@contextlib.asynccontextmanager
async def forwardable_controller(state: Path, target_port: int) -> AsyncIterator[tuple[Controller, Simulator]]:
    """A controller over three frozen nodes that forward to 127.0.0.1:``target_port``."""

    def make(spec: NodeSpec, sim: Simulator) -> ForwardableNode:
        node = ForwardableNode(spec, sim)
        node.target = ("127.0.0.1", target_port)
        return node

    async with sim_controller(state, node=make) as pair:
        yield pair


def fetch(port: int) -> str:
    """GET http://127.0.0.1:PORT/ (in a thread: the console's loop keeps running)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
        return answer.read().decode()


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
