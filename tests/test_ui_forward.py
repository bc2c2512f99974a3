"""Port-forwards in the console without the lab (tests/test_ui_forward_lab.py does it on real
nodes): `f` on a replica asks for the ports (prefilled from its spec), the forward carries an
HTTP request, `:pf` lists it and ctrl+d stops it; a port in use, a simulated replica and a
replica that goes away are each one clear notification; quitting closes every forward."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from textual.widgets import Input

from forward_support import ADDRESS, WEB, fetch, forwardable_controller, http_server, listening
from tui_orch.controller.forwards import suggested_port
from tui_orch.model import PortSpec, Replica, ServiceSpec
from tui_orch.nodes.tunnel import free_port, port_free
from tui_orch.ui.app import OrchApp
from tui_orch.ui.forwards import ForwardDialog, ForwardsScreen, parse_ports
from test_ui_snapshots import fixed_time  # noqa: F401 (fixture)
from ui_support import SIZE, cells, command, config, deployed, fleet, manifest, notes, until  # noqa: F401


def test_ports_typed_and_suggested() -> None:
    assert parse_ports("80", "8080") == (80, 8080)
    assert parse_ports(" 80 ", "") == (80, 0)  # empty local port: any free one
    for bad in (("", "1"), ("x", "1"), ("0", "1"), ("70000", "1"), ("80", "-1")):
        with pytest.raises(ValueError):
            parse_ports(*bad)
    rep = Replica("web", 1, 1, "n", ports=(31000,))
    assert suggested_port(ServiceSpec("web", "img", ports=(PortSpec(target=80),)), rep) == 80
    assert suggested_port(ServiceSpec("web", "img", network_mode="host", ports=(PortSpec(target=80),)), rep) == 31000
    assert suggested_port(ServiceSpec("web", "img", expose=(5432,)), rep) == 5432
    assert suggested_port(ServiceSpec("web", "img"), Replica("web", 1, 1, "n")) is None


async def select_replica(pilot, app: OrchApp, key: str) -> None:  # type: ignore[no-untyped-def]
    await command(pilot, "rs")
    table = app.main.current.table
    await until(pilot, lambda: key in table.shown_keys)
    table.select_key(key)


async def open_forward(pilot, app: OrchApp, key: str, local: str | None = None) -> ForwardDialog:  # type: ignore[no-untyped-def]
    """Select ``key`` in the replicas view, press f, (type ``local``), return the dialog."""
    await select_replica(pilot, app, key)
    await pilot.press("f")
    await until(pilot, lambda: isinstance(app.screen, ForwardDialog), what="the port-forward dialog")
    dialog = app.screen
    if local is not None:
        dialog.query_one("#local-port", Input).value = local
    return dialog  # type: ignore[return-value]


async def test_forward_a_replica_list_it_and_stop_it(tmp_path: Path) -> None:
    async with http_server() as target, forwardable_controller(tmp_path / "state", target) as (ctl, sim):
        await ctl.apply(manifest(WEB))
        app = OrchApp(ctl, config(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            dialog = await open_forward(pilot, app, "web.1")
            assert dialog.query_one("#container-port", Input).value == "80"  # the spec's target
            local = int(dialog.query_one("#local-port", Input).value)
            assert local == 80 or local >= 1024  # 80 when free here, else a free one
            port = free_port()
            dialog.query_one("#local-port", Input).value = str(port)
            await pilot.press("enter")
            await until(pilot, lambda: any(f"127.0.0.1:{port} -> web.1:80" in n for n in notes(app)),
                        what="the forward opened")
            assert await asyncio.to_thread(fetch, port) == "hello through the forward\n"
            node = ctl.query().node(ctl.query().replica("web.1").node)
            assert node.opened == [(ADDRESS, 80)]  # the container's address on its network, the container port

            await command(pilot, "pf")
            assert isinstance(app.screen, ForwardsScreen)
            table = app.screen.table
            await until(pilot, lambda: table.row_count == 1)
            row = cells(table, table.shown_keys[0])
            assert row[:5] == ["web.1", node.name, "80", f"127.0.0.1:{port}", "0/1"]
            assert row[5] != "0B" and row[6] != "0B" and row[8] == "open"  # bytes both ways

            await pilot.press("ctrl+d")
            await until(pilot, lambda: table.row_count == 0)
            assert not listening(port)
            assert any("stopped" in n for n in notes(app))
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.main)


async def test_the_ports_typed_fast_after_f_go_to_their_fields(tmp_path: Path) -> None:
    """f, tab, ctrl+u, a port, enter in one read (fast typing): tab and ctrl+u were lost and
    the local port typed went into the container port field: 127.0.0.1:80 -> web.1:PORT."""
    from textual import events

    async with http_server() as target, forwardable_controller(tmp_path / "state", target) as (ctl, sim):
        await ctl.apply(manifest(WEB))
        app = OrchApp(ctl, config(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await select_replica(pilot, app, "web.1")
            port = free_port()
            typed = [("f", "f"), ("tab", "\t"), ("ctrl+u", "\x15"), *((c, c) for c in str(port)), ("enter", "\r")]
            for key, char in typed:
                app.post_message(events.Key(key, char))  # no pause between them
            await until(pilot, lambda: app.reader.forwards.rows(), what="a forward")
            row = app.reader.forwards.rows()[0]
            assert (row.container_port, row.local) == (80, f"127.0.0.1:{port}")
            app.reader.forwards.close_all()


async def test_the_forward_keys_are_rebound_from_config(tmp_path: Path) -> None:
    from tui_orch.ui.settings import load_ui_settings

    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "config.yaml").write_text("keys:\n  port-forward: F\n  forwards-stop: x\n")
    settings = load_ui_settings(folder, deterministic=True)
    assert settings.keys == {"port-forward": "F", "forwards-stop": "x"} and not settings.problems
    async with http_server() as target, forwardable_controller(tmp_path / "state", target) as (ctl, sim):
        await ctl.apply(manifest(WEB))
        settings.themes_dir = tmp_path / "themes"
        app = OrchApp(ctl, settings)
        async with app.run_test(size=SIZE) as pilot:
            await command(pilot, "rs")
            app.main.current.table.select_key("web.1")
            await pilot.press("f")
            await pilot.pause(0.1)
            assert app.screen is app.main  # f is no longer bound
            await pilot.press("F")
            await until(pilot, lambda: isinstance(app.screen, ForwardDialog))
            await pilot.press("enter")
            await until(pilot, lambda: len(app.reader.forwards.rows()) == 1)
            await command(pilot, "pf")
            await until(pilot, lambda: app.screen.table.row_count == 1)
            await pilot.press("ctrl+d")
            await pilot.pause(0.1)
            assert len(app.reader.forwards.rows()) == 1  # ctrl+d is no longer bound here
            await pilot.press("x")
            await until(pilot, lambda: app.reader.forwards.rows() == [])


async def test_a_local_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    async with http_server() as target, forwardable_controller(tmp_path / "state", target) as (ctl, sim):
        await ctl.apply(manifest(WEB))
        app = OrchApp(ctl, config(tmp_path))
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            async with app.run_test(size=SIZE) as pilot:
                await open_forward(pilot, app, "web.2", local=str(port))
                await pilot.press("enter")
                await until(pilot, lambda: any("in use" in n for n in notes(app)), what="the port in use said")
                said = [n for n in notes(app) if "in use" in n]
                assert said == [f"cannot listen on 127.0.0.1:{port}: it is in use; choose another local port"]
                assert app.reader.forwards.rows() == []


async def test_quitting_closes_every_forward(tmp_path: Path) -> None:
    async with http_server() as target, forwardable_controller(tmp_path / "state", target) as (ctl, sim):
        await ctl.apply(manifest(WEB))
        app = OrchApp(ctl, config(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.started.is_set())
            one = await app.reader.forward("web.1", 80, 0)
            two = await app.reader.forward("web.2", 80, 0)
            ports = [int(f.local.rsplit(":", 1)[1]) for f in (one, two)]
            three = await app.reader.forward("web.1", 80, 0)
            three.close()  # the handle's close: its port closed, gone from the list
            assert not listening(three.tunnel.port) and [r.id for r in app.reader.forwards.rows()] == [one.id, two.id]
            assert all(map(listening, ports))
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])  # a connection carried, idle
            await until(pilot, lambda: one.tunnel.active == 1)
            await pilot.press("ctrl+q")
        assert not any(map(listening, ports))
        assert await asyncio.wait_for(reader.read(), 2) == b"" and one.tunnel.active == 0  # closed too
        writer.close()


async def test_a_forward_whose_replica_goes_away_breaks_with_a_notification(tmp_path: Path) -> None:
    async with http_server() as target, forwardable_controller(tmp_path / "state", target) as (ctl, sim):
        await ctl.apply(manifest(WEB))
        app = OrchApp(ctl, config(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            forward = await app.reader.forward("web.1", 80, 0)
            port = forward.tunnel.port
            other = await app.reader.forward("web.2", 80, 0)
            ctl.query().node(ctl.query().replica("web.2").node).fail("switch died")  # type: ignore[attr-defined]
            await ctl.scale("web", 0)
            said = f"{forward.describe()} stopped: web.1 "  # is stopping, or was removed: as the redraw saw it
            await until(pilot, lambda: any(n.startswith(said) for n in notes(app)), what="the break said")
            assert any(f"{other.describe()} stopped: its node" in n and "NotReady" in n for n in notes(app))
            assert not listening(port)
            await command(pilot, "forwards")
            table = app.screen.table
            await until(pilot, lambda: table.row_count == 2)
            assert cells(table, str(forward.id))[8].startswith("broken web.1 ")
            assert cells(table, str(other.id))[8].startswith("broken its node")


async def test_a_replica_not_running_or_without_an_address_is_one_clear_notification(tmp_path: Path) -> None:
    import dataclasses

    from tui_orch.model import ReplicaState

    async with http_server() as target, forwardable_controller(tmp_path / "state", target) as (ctl, sim):
        await ctl.apply(manifest(WEB))
        store = ctl.query()._store  # the test stands for the controller seeing the container exit
        store.put_replica(dataclasses.replace(store.get_replica("web.1"), state=ReplicaState.EXITED))
        app = OrchApp(ctl, config(tmp_path))
        async with app.run_test(size=SIZE) as pilot:
            await select_replica(pilot, app, "web.1")
            await pilot.press("f")
            await until(pilot, lambda: notes(app) == ["web.1 is exited: only a running replica can be port-forwarded"])
            assert app.screen is app.main

            node = ctl.query().node(ctl.query().replica("web.2").node)
            node.replica_reach = _nothing  # type: ignore[method-assign]  # its container is gone from the node
            dialog = await open_forward(pilot, app, "web.2")
            await pilot.press("enter")
            said = "web.2's container does not run on {} now; try again once it does".format(node.name)
            await until(pilot, lambda: said in notes(app), what=said)
            assert app.reader.forwards.rows() == [] and dialog is not app.screen


async def _nothing(owner: str) -> dict:  # type: ignore[type-arg]
    return {}


async def test_a_simulated_replica_cannot_be_forwarded(deployed) -> None:  # type: ignore[no-untyped-def]
    ctl, sim, app, pilot = deployed
    await command(pilot, "rs")
    table = app.main.current.table
    await until(pilot, lambda: "api.1" in table.shown_keys)
    table.select_key("api.1")
    await pilot.press("f")
    await until(pilot, lambda: any("SIMULATED" in n for n in notes(app)))
    assert app.screen is app.main  # no dialog
    node = ctl.query().replica("api.1").node
    assert notes(app)[-1] == (f"api.1 runs on the SIMULATED node {node}: a simulated replica cannot be "
                              f"port-forwarded (no real container listens)")


async def test_readonly_console_forwards_too(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctl, sim = fleet
    async with OrchApp(ctl, config(tmp_path, readonly=True)).run_test(size=SIZE) as pilot:
        bound = {b.action for bs in pilot.app.main._bindings.key_to_bindings.values() for b in bs}
        assert "port_forward" in bound
        await command(pilot, "pf")
        assert isinstance(pilot.app.screen, ForwardsScreen)
        assert "No port-forwards" in str(pilot.app.screen.query_one("#forwards-empty").render())


SNAP_PORTS = (47811, 47812)  # the forwards' local ports in the snapshot (the test is skipped when one is taken)


def test_forwards_list_snapshot(snap_compare, tmp_path: Path, fixed_time) -> None:  # type: ignore[no-untyped-def]
    """:pf with two forwards: web.1's open after one request (its bytes counted), web.2's
    broken (its node failed), 75 s after they opened."""
    from tui_orch.controller import Controller
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.nodes.sim.simulator import Simulator
    from tui_orch.store import open_store
    from forward_support import ForwardableNode
    from ui_support import T0, inventory

    if not all(map(port_free, SNAP_PORTS)):
        pytest.skip(f"the snapshot's local ports {SNAP_PORTS} are taken on this machine")
    sim = Simulator(7, frozen=True, noise=False, start_time=T0)
    fleet = Fleet(inventory(3), lambda spec: ForwardableNode(spec, sim))
    store = open_store(tmp_path / "state")
    ctl = Controller(store, fleet, start_timeout=5.0)
    app = OrchApp(ctl, config(tmp_path, clock=lambda: T0 + 75))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        for node in fleet.nodes.values():
            node.target = ("127.0.0.1", server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        await fleet.start()
        await ctl.apply(manifest(WEB))
        one = await app.reader.forward("web.1", 80, SNAP_PORTS[0])
        await app.reader.forward("web.2", 80, SNAP_PORTS[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", one.tunnel.port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert (await reader.read()).endswith(b"hello\n")
        writer.close()
        await until(pilot, lambda: one.tunnel.active == 0)
        fleet.nodes[app.reader.replica("web.2").node].fail("switch died")  # type: ignore[attr-defined]
        app.refresh_now()  # as the once-a-second redraw does: the break is seen, and said
        await pilot.press("colon", *"pf", "enter")
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        store.close()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.0 200 OK\r\n\r\nhello\n")
    await writer.drain()
    writer.close()
