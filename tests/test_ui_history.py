"""The rollout history screen (`h` on a service, `:history NAME`): the revisions with when, who
and what changed, the diff of the selected one against the one before, and undo to a chosen
revision (Cancel the default), on the simulated fleet."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tui_orch.controller import Controller
from tui_orch.controller.context import applier
from tui_orch.model import Revision
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.store import open_store
from tui_orch.ui.app import OrchApp
from tui_orch.ui.dialogs import ConfirmDialog
from tui_orch.ui.history import HistoryScreen, ReadonlyHistoryScreen
from tui_orch.ui.keys import DESTRUCTIVE_ACTIONS
from tui_orch.ui.settings import UiSettings
from ui_support import (SIZE, T0, TWO_SERVICES, Console, cells, command, config, console, fleet, inventory,  # noqa: F401
                        manifest, notes, open_console, services_view, until)

SECOND = TWO_SERVICES.replace("tuiorch/busybox:1\n    deploy:\n      replicas: 3",
                              "tuiorch/busybox:2\n    environment: {MODE: fast}\n    deploy:\n      replicas: 3", 1)


async def two_revisions(ctl: Controller) -> None:
    await ctl.apply(manifest())
    await ctl.apply(manifest(SECOND))
    assert ctl.query().spec("api").image == "tuiorch/busybox:2"  # type: ignore[union-attr]


def diff_shown(app: OrchApp) -> str:
    return str(app.screen.query_one("#diff").render())


async def open_history(pilot, app: OrchApp) -> HistoryScreen:  # type: ignore[no-untyped-def]
    await services_view(pilot, app, select="api")
    await pilot.press("h")
    await until(pilot, lambda: isinstance(app.screen, HistoryScreen), what="the history screen")
    return app.screen  # type: ignore[return-value]


async def test_history_lists_both_revisions_with_who_and_what_changed(console: Console) -> None:
    ctl, sim, app, pilot = console
    await two_revisions(ctl)
    screen = await open_history(pilot, app)
    table = screen.table
    assert table.shown_keys == ["2", "1"]  # newest first
    assert cells(table, "2")[0] == "*" and cells(table, "1")[0] == ""  # revision 2 is current
    row2, row1 = cells(table, "2"), cells(table, "1")
    assert row2[3] == applier() and "@" in row2[3]  # user@host of the process that applied it
    assert "image tuiorch/busybox:1 -> tuiorch/busybox:2" in row2[5] and "environment" in row2[5]
    assert row1[4] == "apply test.yaml" and row1[5].startswith("first kept")
    # the current revision is selected; its diff against revision 1 shows the changed fields
    assert table.selected_key() == "2"
    diff = diff_shown(app)
    assert "-image: tuiorch/busybox:1" in diff and "+image: tuiorch/busybox:2" in diff
    assert "+environment:" in diff and "+  MODE: fast" in diff
    await pilot.press("down")  # revision 1: the whole spec, against nothing
    await until(pilot, lambda: "+image: tuiorch/busybox:1" in diff_shown(app))
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)


async def test_undo_to_a_revision_after_confirming_and_cancel_does_nothing(console: Console) -> None:
    ctl, sim, app, pilot = console
    await two_revisions(ctl)
    screen = await open_history(pilot, app)
    screen.table.select_key("1")
    await pilot.press("u")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
    assert "revision 1" in str(app.screen.query_one("#question").render())
    await pilot.press("enter")  # Cancel has the focus
    await until(pilot, lambda: app.screen is screen)
    await pilot.pause(0.2)
    assert ctl.query().spec("api").image == "tuiorch/busybox:2"  # type: ignore[union-attr]
    assert ctl.rollout_status("api").to_revision == 2  # type: ignore[union-attr]

    await pilot.press("u")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    await pilot.click("#confirm")
    await until(pilot, lambda: ctl.query().spec("api").image == "tuiorch/busybox:1",  # type: ignore[union-attr]
                what="the undo to revision 1")
    await until(pilot, lambda: cells(screen.table, "1")[0] == "*", what="revision 1 marked current")
    assert cells(screen.table, "2")[0] == ""
    await until(pilot, lambda: any("roll back api to revision 1" in n for n in notes(app)), timeout=20,
                what="the rollback's outcome")
    await pilot.press("u")  # revision 1 is current now: nothing to confirm
    await pilot.pause(0.1)
    assert app.screen is screen and any("at revision 1 already" in n for n in notes(app))


async def test_history_command_and_an_unknown_service(console: Console) -> None:
    ctl, sim, app, pilot = console
    await two_revisions(ctl)
    await command(pilot, "hist cache")
    await until(pilot, lambda: isinstance(app.screen, HistoryScreen))
    assert app.screen.service == "cache" and app.screen.table.shown_keys == ["1"]  # type: ignore[attr-defined]
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)
    await command(pilot, "history nosuch")
    await pilot.pause(0.1)
    assert app.screen is app.main and any("there is no service nosuch" in n for n in notes(app))


async def test_readonly_history_has_no_undo(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    await two_revisions(ctl)
    async with open_console(ctl, sim, config(tmp_path, readonly=True)) as (_, _, app, pilot):
        await services_view(pilot, app, select="api")
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, ReadonlyHistoryScreen))
        bound = {b.action for bs in app.screen._bindings.key_to_bindings.values() for b in bs}
        assert "undo_to" in DESTRUCTIVE_ACTIONS and "undo_to" not in bound and "back" in bound
        app.screen.table.select_key("1")  # type: ignore[attr-defined]
        await pilot.press("u")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmDialog)


async def test_a_revision_without_its_applier_shows_a_dash(console: Console) -> None:
    """A revision stored by a version that did not record who applied it shows '-'."""
    ctl, sim, app, pilot = console
    await ctl.apply(manifest())
    assert ctl.query().revision_rows("api")[0].applied_by == applier()
    store = ctl.ctx.store
    spec = dataclasses.replace(store.revision("api", 1).spec, image="tuiorch/busybox:0")  # type: ignore[union-attr]
    with store.transaction():  # as an older version stored it: no applied_by
        store.add_revision(Revision("api", 2, spec, T0, "apply old.yaml"))
        store.put_service("api", 2)
    screen = await open_history(pilot, app)
    assert cells(screen.table, "2")[3] == "-" and cells(screen.table, "1")[3] == applier()
