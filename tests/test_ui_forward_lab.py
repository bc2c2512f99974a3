"""Port-forward on the lab's real nodes: a small HTTP service (busybox httpd on port 80 of its
container, on node1's Docker network) is forwarded from the console, `f` and its dialog, to a
local port of this machine through node1's SSH connection; a request through 127.0.0.1:PORT
gets the replica's answer; `:pf` lists the forward with its connection and bytes; quitting
closes the local port."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from textual.widgets import Input

from controller_support import controller, manifest, prefix
from forward_support import listening
from tui_orch.model import ReplicaState
from tui_orch.nodes.tunnel import free_port
from tui_orch.ui.app import OrchApp
from tui_orch.ui.forwards import ForwardDialog, ForwardsScreen
from ui_support import SIZE, cells, command, config, notes, until

WEB = """
services:
  {pre}web:
    image: tuiorch/busybox:1
    command: ["sh", "-c", "echo forwarded-$$TUI_ORCH_NODE > /www/fwd.txt && dd if=/dev/zero of=/www/big bs=1M count=32 2>/dev/null && exec httpd -f -p 80 -h /www"]
    ports: ["80"]
    deploy:
      placement:
        constraints: [node.id == node1]
"""


def fetch_bytes(port: int, path: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
        return answer.read()


def fetch(port: int, path: str) -> str:
    return fetch_bytes(port, path).decode()


def refused(port: int) -> bool:
    """A GET through the forward ends without an answer (the far side refused)."""
    import urllib.error

    try:
        fetch(port, "/")
    except (urllib.error.URLError, ConnectionError, OSError):
        return True
    return False


async def test_forward_a_lab_replica_from_the_console(lab, tmp_path: Path) -> None:
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        result = await ctl.apply(manifest(WEB.format(pre=pre)))
        assert result.ok, result
        key = f"{pre}web.1"
        assert store.get_replica(key).state == ReplicaState.RUNNING and store.get_replica(key).node == "node1"
        app = OrchApp(ctl, config(tmp_path))
        port = free_port()
        async with app.run_test(size=SIZE) as pilot:
            await command(pilot, "rs")
            table = app.main.current.table
            await until(pilot, lambda: key in table.shown_keys, timeout=15)
            table.select_key(key)
            await pilot.press("f")
            await until(pilot, lambda: isinstance(app.screen, ForwardDialog), what="the port-forward dialog")
            assert app.screen.query_one("#container-port", Input).value == "80"
            app.screen.query_one("#local-port", Input).value = str(port)
            await pilot.press("enter")
            await until(pilot, lambda: any(f"127.0.0.1:{port} -> {key}:80 on node1" in n for n in notes(app)),
                        timeout=15, what=f"the forward opened ({notes(app)})")

            body = await asyncio.to_thread(fetch, port, "/fwd.txt")
            assert body == "forwarded-node1\n"  # the replica's own answer, through node1's connection
            began = time.monotonic()
            big = await asyncio.to_thread(fetch_bytes, port, "/big")
            took = time.monotonic() - began
            assert len(big) == 32 << 20
            print(f"32 MiB through the forward in {took:.2f} s ({32 / took:.0f} MiB/s)")

            await command(pilot, "pf")
            assert isinstance(app.screen, ForwardsScreen)
            rows = app.screen.table
            await until(pilot, lambda: rows.row_count == 1)
            row = cells(rows, rows.shown_keys[0])
            assert row[:5] == [key, "node1", "80", f"127.0.0.1:{port}", "0/2"] and row[8] == "open", row
            assert row[6] == "32MiB", row  # received: the big file counted
            forward = app.reader.forwards.get(int(rows.shown_keys[0]))
            assert forward.targets[0][0] != "127.0.0.1"  # the container's address on node1's Docker network
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.main)
            assert listening(port)

            # a port nothing listens on: the connection is closed, and said once, with node1's words
            nothing = await app.reader.forward(key, 81, 0)
            assert await asyncio.to_thread(refused, nothing.tunnel.port)
            await until(pilot, lambda: any("could not be carried" in n for n in notes(app)), timeout=10)
            said = next(n for n in notes(app) if "could not be carried" in n)
            assert said.startswith(f"{nothing.describe()}: a connection could not be carried: node1: cannot connect "
                                   f"to {forward.targets[0][0]}:81 from the node: "), said
            await pilot.press("ctrl+q")
        assert not listening(port)  # closed with the console: no port left listening
