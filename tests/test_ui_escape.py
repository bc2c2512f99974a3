"""The console never sends a raw control character to the terminal: a node named with ESC, CR
and U+202E, a reason from a host, a notification and a container's log line are drawn escaped
(``\\x1b``, ``\\r``, ``\\u202e``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from textual.strip import Strip

from tui_orch.controller import Controller
from tui_orch.controller.events import event
from tui_orch.inventory import Inventory
from tui_orch.model import NodeSpec, Resources
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.store import open_store
from tui_orch.ui.app import OrchApp
from tui_orch.ui.log_lines import LogFilter
from tui_orch.ui.logs import LogsScreen
from tui_orch.ui.settings import UiSettings
from ui_support import GIB, SIZE, T0, until

NAME = "sim\x1b[8m-\u202e1"
SHOWN = "sim\\x1b[8m-\\u202e1"
REASON = "cut\rReady\x1b]0;owned\x07"


@contextlib.asynccontextmanager
async def hostile_fleet(state: Path) -> AsyncIterator[Controller]:
    """A controller over two simulated nodes, one of them named with control characters."""
    sim = Simulator(7, frozen=True, noise=False, start_time=T0)
    specs = (NodeSpec(name=NAME, simulated=True, capacity=Resources(4.0, 8 * GIB)),
             NodeSpec(name="sim-2", simulated=True, capacity=Resources(4.0, 8 * GIB)))
    fleet = Fleet(Inventory(nodes=specs), lambda spec: SimulatedNode(spec, sim))
    store = open_store(state)
    await fleet.start()
    ctl = Controller(store, fleet, start_timeout=5.0)
    try:
        yield ctl
    finally:
        await ctl.close()
        await fleet.close()
        store.close()


def drawn(strips: list[Strip]) -> str:
    """What the terminal receives for these lines (their text, escapes included)."""
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def raw(text: str) -> bool:
    return any(not line.isprintable() for line in text.split("\n"))


async def test_names_reasons_and_notes_with_control_characters_are_drawn_escaped(tmp_path: Path) -> None:
    async with hostile_fleet(tmp_path / "state") as ctl:
        ctl.query().node("sim-2").fail(REASON)
        app = OrchApp(ctl, UiSettings(deterministic=True, themes_dir=tmp_path / "themes"))
        async with app.run_test(size=SIZE) as pilot:
            table = app.main.current.table
            await until(pilot, lambda: table.row_count == 2)
            lines = drawn([table.render_line(y) for y in range(3)])
            assert SHOWN in lines and not raw(lines), lines
            table.select_key(NAME)
            await pilot.pause()
            label = app.main.current.query_one("#cpu-label").render()
            assert SHOWN in str(label) and not raw(str(label))
            table.select_key("sim-2")
            await pilot.pause()
            detail = str(app.main.current.query_one("#node-replicas").render())
            # (Rich drops CR and BEL from a Text as it is built; ESC it keeps, and it is escaped)
            assert "Ready\\x1b]0;owned" in detail and not raw(detail), detail
            app.notify(f"node {NAME} is gone", title="a\x1bb")
            await pilot.pause()
            note = list(app._notifications)[-1]
            assert note.message == f"node {SHOWN} is gone" and note.title == "a\\x1bb"


async def test_an_event_message_with_control_characters_is_drawn_escaped(tmp_path: Path) -> None:
    async with hostile_fleet(tmp_path / "state") as ctl:
        app = OrchApp(ctl, UiSettings(deterministic=True, themes_dir=tmp_path / "themes"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.main is not None and app.main.is_mounted)
            ctl.bus.publish(event("unhealthy", "health check said: \x1b[2Jok\u202e", node=NAME, level="warning"))
            await pilot.press("colon", *"ev", "enter")
            table = app.main.current.table
            await until(pilot, lambda: table.row_count > 0)
            table.select_key(table.shown_keys[0])
            lines = drawn([table.render_line(y) for y in range(table.row_count + 1)])
            assert "said: \\x1b[2Jok\\u202e" in lines and SHOWN in lines and not raw(lines), lines
            detail = lambda: str(app.main.current.query_one("#event-detail").render())  # noqa: E731
            await until(pilot, lambda: "said: \\x1b[2Jok\\u202e" in detail(), what="the event in full")
            assert SHOWN in detail() and not raw(detail())


class HostileLogs:
    """A node whose container writes control characters, then whose stream breaks with them."""

    name, simulated = NAME, True

    async def logs(self, container_id: str, **_: object) -> AsyncIterator[str]:
        yield "2026-01-01T00:00:00Z \x1b[31mred\x1b[0m \x1b]0;owned\x07 \u202eevil\r\n"
        raise RuntimeError("gone\x1b[8m")


async def test_the_logs_screen_draws_no_control_character(tmp_path: Path) -> None:
    async with hostile_fleet(tmp_path / "state") as ctl:
        app = OrchApp(ctl, UiSettings(deterministic=True, themes_dir=tmp_path / "themes"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.main is not None and app.main.is_mounted)
            screen = LogsScreen.of_replica(HostileLogs(), "c1", "web.1")  # type: ignore[arg-type]
            await app.push_screen(screen)
            await until(pilot, lambda: screen.ended is not None, what="the end of the stream")
            await pilot.pause()
            shown = "\n".join([str(screen.query_one("#logs-title").render()), *screen.log_widget.lines])
            assert SHOWN in shown and "red  \\u202eevil" in shown, shown
            assert "RuntimeError: gone\\x1b[8m" in shown and not raw(shown), shown


def test_a_log_line_keeps_no_control_character() -> None:
    screen = LogsScreen.__new__(LogsScreen)  # format_line reads only the filter and the stamps flag
    screen.timestamps, screen.filter = False, LogFilter()
    shown = screen.format_line("\x1b[31mred\x1b[0m\tok\x1bc \u202eevil\x7f\r\n".rstrip("\n"))
    assert shown == "red     ok\\x1bc \\u202eevil\\x7f"
