"""LocalNode: this machine's engine through its socket directly (a lab engine's socket here)."""

from __future__ import annotations

import asyncio
import os
import time

from nodes_support import containers, next_event, started  # noqa: F401  (fixtures)
from tui_orch.model import NodeSpec, NodeState
from tui_orch.nodes.fleet import Fleet, make_node
from tui_orch.inventory import Inventory
from tui_orch.nodes.local import LocalNode, local_capacity


def _spec(socket_path: str) -> NodeSpec:
    return NodeSpec(name="local", local=True, docker_socket=socket_path)


async def test_local_node_on_an_engine_socket(lab, containers):
    async with started(LocalNode(_spec(str(lab.node(2).socket)))) as node:
        assert node.status.docker_version.startswith("20.")
        assert node.capacity == local_capacity() and node.capacity.cpus == os.cpu_count()
        assert node.status.hostname
        info = await node.run_container(containers.request(["sh", "-c", "echo hello; exit 4"]))
        event = await next_event(node, info.id, "die", timeout=10)
        assert event.exit_code == 4 and event.node == "local"
        assert info.id in {c.id for c in await node.list_owned()}
        assert [line async for line in node.logs(info.id)] == ["hello"]
        assert await node.has_image("tuiorch/busybox:2")
        assert not await node.has_image("tuiorch/none:0")
        await node.remove_container(info.id)


async def test_missing_socket_is_no_docker_with_a_clear_reason(tmp_path):
    path = str(tmp_path / "docker.sock")
    async with started(LocalNode(_spec(path)), NodeState.NO_DOCKER, timeout=10) as node:
        assert node.status.reason == f"no Docker Engine at {path}: install docker.io and start it"


async def test_a_file_that_is_not_a_socket_is_no_docker(tmp_path):
    path = tmp_path / "docker.sock"
    path.write_text("")
    async with started(LocalNode(_spec(str(path))), NodeState.NO_DOCKER, timeout=10) as node:
        assert "is not a socket" in node.status.reason


async def test_a_dead_socket_is_no_docker(tmp_path):
    import socket

    path = str(tmp_path / "d.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)  # bound, never listening: connections are refused
    try:
        async with started(LocalNode(_spec(path)), NodeState.NO_DOCKER, timeout=20) as node:
            assert "does not answer" in node.status.reason
    finally:
        s.close()


def test_fleet_builds_the_right_kind_of_node(lab):
    inventory = Inventory(nodes=(_spec("/x.sock"), NodeSpec(name="r", address="127.0.0.2")))
    fleet = Fleet(inventory)
    assert type(fleet["local"]).__name__ == "LocalNode"
    assert type(fleet["r"]).__name__ == "RemoteNode"
    assert type(make_node(NodeSpec(name="l2", local=True))).__name__ == "LocalNode"


class _SocketProxy:
    """A UNIX socket in front of a lab engine's socket, that the test can pull away (an
    engine that stops) and bring back, without touching the lab."""

    def __init__(self, path: str, target: str):
        self.path, self.target = path, target
        self.server: asyncio.AbstractServer | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._serve, self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in self.writers:
            w.close()
        self.writers = []
        if os.path.exists(self.path):
            os.unlink(self.path)


async def test_an_engine_that_goes_away_makes_the_node_not_ready_then_no_docker_then_ready(lab, tmp_path):
    proxy = _SocketProxy(str(tmp_path / "docker.sock"), str(lab.node(2).socket))
    await proxy.start()
    try:
        async with started(LocalNode(_spec(proxy.path))) as node:
            t0 = time.monotonic()
            await proxy.stop()
            await node.wait_state(NodeState.NOT_READY, NodeState.NO_DOCKER, timeout=5)
            print(f"\nlocal engine gone: noticed after {time.monotonic() - t0:.2f} s ({node.status.reason})")
            await node.wait_state(NodeState.NO_DOCKER, timeout=10)
            assert node.status.reason == f"no Docker Engine at {proxy.path}: install docker.io and start it"
            await proxy.start()
            await node.reconnect()
            await node.wait_state(NodeState.READY, timeout=20)
            assert await node.list_owned() is not None
    finally:
        await proxy.stop()


async def test_local_node_opens_connections_itself(lab):
    """Port-forwarding's way through the local node (controller/forwards.py): a plain
    connection from this machine; a refused one is a NodeError naming the address."""
    import socket

    from tui_orch.errors import NodeError

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, never listening: refused
        async with started(LocalNode(_spec(str(lab.node(2).socket)))) as node:
            reader, writer = await node.open_connection("127.0.0.1", port)
            writer.write(b"ping")
            assert await reader.read(100) == b"ping"
            writer.close()
            try:
                await node.open_connection("127.0.0.1", closed)
            except NodeError as exc:
                assert str(exc) == f"local: cannot connect to 127.0.0.1:{closed}: Connection refused"
            else:
                raise AssertionError("a refused connection opened")
    server.close()
