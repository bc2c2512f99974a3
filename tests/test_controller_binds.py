"""A replica whose port is taken after placement, by a holder no read of the node shows (a
connected socket bound to the port: not listening, so not in the ports a start reads), cannot
bind and exits at once. It must not crash-loop there: a dynamic port is changed on the same
node, a static one (it cannot change) sends the replica to another node; it then runs, healthy,
and answers. The holder is the test's own socket, made in the node's network namespace and
closed at the end."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time

import pytest

from controller_support import controller, manifest, prefix
from nodes_support import http_get, inside, wait_for
from tui_orch.model import ReplicaState

# binds 1.5 s after its start, on the node's address on the lab network (10.77.0.N+1): the
# test takes the port meanwhile
SERVICE = """
services:
  {name}:
    network_mode: host
    ports:
      - target: 8080{published}
    image: tuiorch/busybox:1
    command: ["sh", "-c", "n=$${{TUI_ORCH_NODE#node}}; sleep 1.5; exec httpd -f -p 10.77.0.$$((n+1)):$$PORT -h /www"]
    healthcheck:
      test: ["CMD-SHELL", "n=$${{TUI_ORCH_NODE#node}}; wget -q -O /dev/null http://10.77.0.$$((n+1)):$$PORT/VERSION"]
      interval: 300ms
      timeout: 1s
      retries: 1
      start_period: 5s
    stop_grace_period: 1s
    deploy:
      replicas: 1
"""


def address(node: str) -> str:
    return f"10.77.0.{int(node.removeprefix('node')) + 1}"


class Holder:
    """Holds ``addr:port`` with a connected socket (no SO_REUSEADDR, not listening): a bind
    there fails with "address in use", and /proc/net shows no listener on it. A socket without
    SO_REUSEADDR cannot bind over a TIME_WAIT connection of the port (a replica that served
    there before): then it listens with SO_REUSEADDR, as a server would (seen by a read)."""

    def __init__(self, addr: str, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.sock = socket.socket()
        self.peer: socket.socket | None = None
        try:
            self.sock.bind((addr, port))
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((addr, port))
            self.sock.listen()
            self.hidden = False
            return
        self.sock.connect(self.server.getsockname())
        self.peer, _ = self.server.accept()
        self.hidden = True

    def close(self) -> None:
        # an abortive close (RST): no TIME_WAIT of the port left behind for the next test
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for s in (self.sock, self.peer, self.server):
            if s is not None:
                s.close()


def answers(lab, node: str, port: int) -> bool:
    """A client on the lab network gets 200 from the replica."""
    return http_get(lab, f"http://{address(node)}:{port}/VERSION", timeout=1)[0] == 200


@pytest.mark.parametrize("static", [False, True], ids=["dynamic-port", "static-port"])
async def test_replica_that_cannot_bind_gets_another_port_or_node_and_runs(lab, tmp_path, static):
    pre = prefix()
    # a static port outside the dynamic range (20000-32000) and below the ephemeral one
    port = random.randrange(32100, 32700)
    published = f"\n        published: {port}" if static else ""
    holders: list[Holder] = []
    async with controller(lab, tmp_path / "state", pre, period=1.0) as (ctl, store, fleet):
        await ctl.start()
        try:
            applied = asyncio.create_task(ctl.apply(manifest(SERVICE.format(name=pre, published=published))))
            await wait_for(lambda: (r := store.get_replica(f"{pre}.1")) is not None and r.container_id is not None,
                           timeout=30, interval=0.02)
            first = store.get_replica(f"{pre}.1")
            # before its process binds; made on the node (its namespace), as a process of the node would
            holders.append(inside(lab, first.node).call(Holder, address(first.node), first.ports[0]))
            t0 = time.monotonic()

            def moved() -> bool:
                cur = store.get_replica(first.key)
                return (cur is not None and cur.container_id != first.container_id
                        and cur.state == ReplicaState.RUNNING)

            await wait_for(moved, timeout=30, interval=0.1)
            took = time.monotonic() - t0
            result = await applied
            cur = store.get_replica(first.key)
            if static:
                assert cur.node != first.node and cur.ports == first.ports, (first, cur)
            else:
                assert cur.node == first.node and cur.ports != first.ports, (first, cur)
            assert result.ok, result
            assert answers(lab, cur.node, cur.ports[0]), cur
            await asyncio.sleep(3)  # and it stays up: no crash-loop
            now = store.get_replica(first.key)
            assert now.container_id == cur.container_id and now.state == ReplicaState.RUNNING, now
            assert now.restarts <= 2, now
            print(f"{'static' if static else 'dynamic'} port taken ({'hidden' if holders[0].hidden else 'listening'}"
                  f" holder): running again after {took:.1f} s")
        finally:
            for h in holders:
                h.close()
