"""Helpers for the console's tests: a controller over simulated nodes on a frozen, seeded
simulator (no noise: the same numbers every run), small manifests without health checks
(a replica runs at once), a wait helper for Pilot tests, and the one shared setup of the app
tests: fixtures ``fleet`` (the controller), ``console`` (the app on it, nothing deployed) and
``deployed`` (the app opened once TWO_SERVICES runs); import them into the test module."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from textual.pilot import Pilot

from tui_orch.controller import Controller
from tui_orch.inventory import Inventory
from tui_orch.manifest import Manifest, parse_manifest
from tui_orch.model import NodeSpec, Resources, pairs
from tui_orch.nodes.base import Node
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.store import open_store
from tui_orch.ui.app import OrchApp
from tui_orch.ui.settings import UiSettings

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
GIB = 1 << 30
SIZE = (120, 40)

TWO_SERVICES = """
services:
  api:
    image: tuiorch/busybox:1
    deploy:
      replicas: 3
      resources: {reservations: {cpus: "0.5", memory: 256m}, limits: {cpus: "1", memory: 512m}}
      update_config: {monitor: 0s}
  cache:
    image: tuiorch/redis:7
    deploy:
      replicas: 2
      resources: {reservations: {cpus: "0.25", memory: 128m}}
      update_config: {monitor: 0s}
  agent:
    image: tuiorch/busybox:1
    deploy:
      mode: global
"""


def manifest(text: str = TWO_SERVICES, name: str = "test.yaml") -> Manifest:
    return parse_manifest(textwrap.dedent(text), name)


def inventory(count: int = 3) -> Inventory:
    return Inventory(nodes=tuple(
        NodeSpec(name=f"sim-{i + 1}", simulated=True, capacity=Resources(4.0, 8 * GIB),
                 labels=pairs({"zone": "abc"[i % 3]}))
        for i in range(count)))


@contextlib.asynccontextmanager
async def sim_controller(state: Path, count: int = 3, seed: int = 7, grace: float | None = None,
                         node: Callable[[NodeSpec, Simulator], Node] = SimulatedNode,
                         ) -> AsyncIterator[tuple[Controller, Simulator]]:
    """A controller (reconcile loop not started) over ``count`` frozen simulated nodes
    (``grace``: the controller's node grace period, the inventory's when None; ``node``: what
    makes each node, a SimulatedNode or a test's own kind of it)."""
    sim = Simulator(seed, frozen=True, noise=False, start_time=T0)
    fleet = Fleet(inventory(count), lambda spec: node(spec, sim))
    store = open_store(state)
    await fleet.start()
    await sim.advance(3)  # a few samples for the sparklines
    ctl = Controller(store, fleet, start_timeout=5.0, grace=grace)
    try:
        yield ctl, sim
    finally:
        await ctl.close()
        await fleet.close()
        store.close()


async def until(pilot, check: Callable[[], object], timeout: float = 5.0, what: str = "",  # type: ignore[no-untyped-def]
                redraw: bool = True) -> None:
    """Wait (letting the app run) until ``check()`` is true; fail with ``what`` after ``timeout``.
    ``redraw``: redraw the screen from the state at each look (as the once-a-second tick would;
    False to see what the app draws by itself)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        if redraw:
            pilot.app.refresh_now()
        await pilot.pause(0.05)
        await asyncio.sleep(0)


def cells(table, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The plain text of one row's cells."""
    return [c.plain if hasattr(c, "plain") else str(c) for c in table.get_row(key)]


def config(tmp_path: Path, **kw: Any) -> UiSettings:
    return UiSettings(deterministic=True, themes_dir=tmp_path / "themes", **kw)


class Console(NamedTuple):
    """What a test drives: the controller, its simulator, the app and its pilot."""

    ctl: Controller
    sim: Simulator
    app: OrchApp
    pilot: Pilot[None]


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[tuple[Controller, Simulator]]:
    """A controller over three frozen simulated nodes, its state in tmp_path/state."""
    async with sim_controller(tmp_path / "state") as pair:
        yield pair


@contextlib.asynccontextmanager
async def open_console(ctl: Controller, sim: Simulator, settings: UiSettings) -> AsyncIterator[Console]:
    app = OrchApp(ctl, settings)
    async with app.run_test(size=SIZE) as pilot:
        yield Console(ctl, sim, app, pilot)


@pytest.fixture
async def console(fleet: tuple[Controller, Simulator], tmp_path: Path) -> AsyncIterator[Console]:
    """The console on the fleet with nothing deployed."""
    async with open_console(*fleet, config(tmp_path)) as opened:
        yield opened


@pytest.fixture
async def deployed(fleet: tuple[Controller, Simulator], tmp_path: Path) -> AsyncIterator[Console]:
    """The console opened once TWO_SERVICES runs: api x3, cache x2, agent on every node."""
    await fleet[0].apply(manifest())
    async with open_console(*fleet, config(tmp_path)) as opened:
        yield opened


async def services_view(pilot: Pilot[None], app: OrchApp, select: str | None = None, rows: int = 3) -> Any:
    """Switch to the services view, wait for its ``rows`` rows, put the cursor on ``select``."""
    await command(pilot, "svc")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == rows)
    if select is not None:
        table.select_key(select)
    return table


async def command(pilot, text: str) -> None:
    await pilot.press("colon", *text, "enter")
    await pilot.pause()


def shown(app: OrchApp) -> str:
    return app.main.current.NAME


def notes(app: OrchApp) -> list[str]:
    return [n.message for n in app._notifications]


async def deploy_from_dialog(pilot: Pilot[None], path: Path, seen: Callable[[str], None] = lambda _what: None,
                             meanwhile: Callable[[], Awaitable[object]] | None = None) -> None:
    """Deploy ``path`` as an operator does: `a`, the path, its plan (a dry run), Deploy, confirm.
    ``seen(what)`` is called while the plan and then the confirmation are on the screen;
    ``meanwhile()`` is awaited while the confirmation is (what another operator does then)."""
    from textual.widgets import Button, Input

    from tui_orch.ui.dialogs import ConfirmDialog, DeployDialog

    app = pilot.app
    await pilot.press("a")
    await until(pilot, lambda: isinstance(app.screen, DeployDialog))
    field = app.screen.query_one("#path", Input)
    field.focus()
    field.value = str(path)
    await pilot.press("enter")
    button = app.screen.query_one("#deploy", Button)
    await until(pilot, lambda: not button.disabled, what="the plan of the dry run")
    seen("the deploy dialog's plan")
    await pilot.click("#deploy")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
    seen("the confirmation")
    if meanwhile is not None:
        await meanwhile()
    await pilot.click("#confirm")
