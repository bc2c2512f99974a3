"""Snapshots of the main screens at 120x40 with the deterministic config (no clock, no
cursor blink, fixed sparklines), on frozen simulated nodes with fixed times. Regenerate
with ``pytest tests/test_ui_snapshots.py --snapshot-update`` and look at the SVGs."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from tui_orch.controller import Controller
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.store import open_store
from tui_orch.ui.app import OrchApp
from tui_orch.ui.settings import UiSettings
from ui_support import SIZE, T0, TWO_SERVICES, inventory, manifest

NOW = T0 + 754.0  # the console's clock: every replica has run 754 s


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch):
    """Every time.time() of the controller is T0 (events, start times), shown in UTC, and
    container names (which end in random hex) are the same every run."""
    monkeypatch.setattr(time, "time", lambda: T0)
    monkeypatch.setattr(secrets, "token_hex", lambda n=3: "ab" * n)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def console(tmp_path: Path, fixed_time):
    sim = Simulator(11, frozen=True, noise=False, start_time=T0)
    fleet = Fleet(inventory(4), lambda spec: SimulatedNode(spec, sim))
    store = open_store(tmp_path / "state")
    ctl = Controller(store, fleet, start_timeout=5.0)
    app = OrchApp(ctl, UiSettings(deterministic=True, clock=lambda: NOW, themes_dir=tmp_path / "themes"))

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await fleet.start()
        await sim.advance(5)
        await ctl.apply(manifest())
        ctl.query().node("sim-4").fail("switch died")  # type: ignore[attr-defined]
        await sim.advance(2)
        app.refresh_now()
        await pilot.pause()

    yield app, setup
    store.close()


def run_before(setup, *keys: str):  # type: ignore[no-untyped-def]
    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await setup(pilot)
        if keys:
            await pilot.press(*keys)
        pilot.app.refresh_now()
        await pilot.pause()
    return run


def test_nodes_view(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    app, setup = console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup))


def test_nodes_view_with_marked_rows(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """sim-1 and sim-2 marked (the mark and the row's colour), the cursor back on sim-2."""
    app, setup = console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "space", "space", "up"))


def test_drain_of_every_marked_node_asked_once(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """ctrl+space marks all four nodes, D: one confirmation naming what each goes through."""
    app, setup = console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "ctrl+@", "D"))


def test_services_view(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    app, setup = console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"svc", "enter"))


def test_replicas_view(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    app, setup = console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"rs", "enter"))


def test_events_view(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    app, setup = console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"ev", "enter"))


def test_nodes_sorted_by_disk(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """``>`` five times: NAME, STATE, CPU, MEMORY, DISK (largest first, a node without a figure
    last): the mark in its title, the crumb says it."""
    app, setup = console
    keys = ("greater_than_sign",) * 5
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, *keys))


def test_replicas_filter_marked(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """``/api``: the rows with it, the text marked in them."""
    app, setup = console
    keys = ("colon", *"rs", "enter", "slash", *"api", "enter", "down")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, *keys))


def test_nodes_view_80x24(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """The header's two lines fitted to 80 columns; the columns that fit, titles whole."""
    app, setup = console
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before(setup))


def test_terminal_too_small(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    app, setup = console
    assert snap_compare(app, terminal_size=(40, 10), run_before=run_before(setup))


class ScriptedNode:
    """A node whose containers each write the lines of ``SCRIPT`` meant for them, one per turn
    of the loop (the replicas' lines interleave the same way every run); web.3 then stops."""

    name, simulated = "sim-1", True
    SCRIPT = [
        "INFO starting", "GET /api/items 200 3ms", "POST /api/orders 201 12ms", "WARN slow request to /api/orders",
        "GET /healthz 200 1ms", "ERROR upstream timed out on /api/items", "GET /api/items/42 200 4ms",
        "GET /static/app.js 304 1ms", "POST /login 200 30ms", "GET /api/orders 200 8ms",
    ]

    async def logs(self, container_id: str, follow: bool = False, since: float | None = None,
                   tail: int | None = 200, timestamps: bool = False):
        import asyncio

        slot = int(container_id[-1])
        for i, text in enumerate(self.SCRIPT[:7 if slot == 3 else None]):
            yield f"2026-01-01T00:00:{i * 3 + slot:02d}.{slot * 125:03d}000000Z {text}"
            await asyncio.sleep(0)
        if slot != 3:
            await asyncio.Event().wait()  # still running


def test_service_logs_screen(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """`l` on a service: its replicas' lines interleaved, each prefixed in its replica's colour,
    one that went away, and the matches of the filter (a regex) reversed."""
    from tui_orch.ui.logs import LogSource, LogsScreen

    app, setup = console
    node = ScriptedNode()
    sources = [LogSource(f"web.{n}", node, f"c{n}") for n in (1, 2, 3)]  # type: ignore[arg-type]

    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await setup(pilot)
        screen = LogsScreen.of_service("web", lambda: sources)
        await app.push_screen(screen)
        for _ in range(100):
            if sum(screen.streams.values()) == 2 and len(screen.lines) == 28:
                break
            await pilot.pause(0.02)
        await pilot.press("slash", *r"/api/\w+|error", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_history_screen(snap_compare, console, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`h` on api after a second revision: both rows (who applied each: a fixed applier), the
    current one selected, its diff against revision 1."""
    from ui_support import services_view, until

    from tui_orch.ui.history import HistoryScreen

    monkeypatch.setattr("tui_orch.controller.applying.applier", lambda: "ops@console")
    app, setup = console

    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await setup(pilot)
        await app.controller.apply(manifest(TWO_SERVICES.replace(
            "tuiorch/busybox:1\n    deploy:", "tuiorch/busybox:2\n    environment: {MODE: fast}\n    deploy:", 1)))
        await services_view(pilot, app, select="api")
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_plot_screen(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """`g` on sim-1: its last hour drawn from a usage history of 50 minutes (the first 10
    blank: the console was closed), cpu a wave, memory a slow climb."""
    import math

    from ui_support import until

    from tui_orch.controller.usage import RES, node_key
    from tui_orch.ui.plots import PlotScreen

    app, setup = console

    async def run(pilot) -> None:  # type: ignore[no-untyped-def]
        await setup(pilot)
        for i in range(300):
            app.usage.history.record(NOW - (299 - i) * RES, {node_key("sim-1"): (40 + 30 * math.sin(i / 20),
                                                                                  50 + i / 30)})
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PlotScreen))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_readonly_services_view(snap_compare, tmp_path: Path, fixed_time) -> None:  # type: ignore[no-untyped-def]
    """--readonly: the READ-ONLY badge leads the header; the footer lists no key that changes
    the fleet (of the services view's keys only logs stays, with command, filter, help)."""
    sim = Simulator(11, frozen=True, noise=False, start_time=T0)
    fleet = Fleet(inventory(4), lambda spec: SimulatedNode(spec, sim))
    store = open_store(tmp_path / "state")
    ctl = Controller(store, fleet, start_timeout=5.0)
    app = OrchApp(ctl, UiSettings(deterministic=True, readonly=True, clock=lambda: NOW,
                                  themes_dir=tmp_path / "themes"))

    async def setup(pilot) -> None:  # type: ignore[no-untyped-def]
        await fleet.start()
        await sim.advance(5)
        await ctl.apply(manifest())
        await sim.advance(2)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"svc", "enter"))
    finally:
        store.close()


def test_the_prompt_lists_what_tab_completes(snap_compare, console) -> None:  # type: ignore[no-untyped-def]
    """``:s`` then Tab: ``scale`` is put in, the candidates listed under the line with it
    in brackets (in the services view, whose keys the footer shows)."""
    app, setup = console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"svc", "enter",
                                                                      "colon", "s", "tab"))
