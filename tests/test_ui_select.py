"""Marking rows (space, ctrl+space, esc) and the actions on the marked rows, on simulated
nodes: one confirmation for them all (Cancel the default), one notification at the end
naming what failed; marks kept by key across redraws, dropped with their rows, cleared on a
change of scope; a mark re-renders its one line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, Static

from tui_orch.controller import Controller
from tui_orch.ui.bulk import LISTED, Bulk, listing
from tui_orch.ui.dialogs import ConfirmDialog
from tui_orch.ui.table import MARK, ResourceTable, Row
from ui_support import (Console, cells, command, config, manifest, notes, open_console,  # noqa: F401
                        services_view, sim_controller, until)

ACTIVE = ("api", "cache")  # the services a drain moves (agent is global: it stops)


@pytest.fixture
async def five(tmp_path: Path) -> AsyncIterator[Console]:
    """The console on five simulated nodes running TWO_SERVICES (room to drain three)."""
    async with sim_controller(tmp_path / "state", count=5) as (ctl, sim):
        await ctl.apply(manifest())
        async with open_console(ctl, sim, config(tmp_path)) as opened:
            yield opened


def crumb(app: App[None]) -> str:
    return str(app.screen.query_one("#crumbs", Static).render())


def question(app: App[None]) -> str:
    return str(app.screen.query_one("#question", Static).render())


def moving_on(ctl: Controller, node: str) -> list[str]:
    """The replicas of replicated services still on ``node``."""
    return [r.key for r in ctl.query().replicas() if r.node == node and r.service in ACTIVE]


async def test_three_marked_nodes_are_drained_after_one_confirmation(five: Console) -> None:
    ctl, sim, app, pilot = five
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 5)
    on = {n: moving_on(ctl, n) for n in ("sim-1", "sim-2", "sim-3")}
    assert any(on.values())  # something to move
    await pilot.press("space", "space", "space")  # sim-1..3, the cursor going down each time
    assert table.marked_keys() == ["sim-1", "sim-2", "sim-3"] and table.selected_key() == "sim-4"
    assert "3 marked" in crumb(app)
    await pilot.press("D")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    assert app.screen.focused is app.screen.query_one("#cancel", Button)  # the default
    assert app.screen.title_text == "Drain 3 nodes?"
    text = question(app)
    assert text.startswith("All are cordoned first") and all(f"{n}: " in text for n in on) and "sim-4" not in text
    await pilot.click("#confirm")
    await until(pilot, lambda: all(cells(table, n)[1] == "Ready (draining)" for n in on), timeout=10,
                what="three nodes draining")
    await until(pilot, lambda: not any(moving_on(ctl, n) for n in on), timeout=10, what="their replicas moved")
    assert len(ctl.query().replicas("api")) == 3 and len(ctl.query().replicas("cache")) == 2  # moved, not lost
    assert {r.node for r in ctl.query().replicas() if r.service in ACTIVE} <= {"sim-4", "sim-5"}
    assert cells(table, "sim-4")[1] == cells(table, "sim-5")[1] == "Ready"
    await until(pilot, lambda: "drained 3 nodes" in notes(app), what="one summary")
    assert not table.marked and "marked" not in crumb(app)


async def test_cancel_changes_nothing_and_keeps_the_marks(five: Console) -> None:
    ctl, sim, app, pilot = five
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 5)
    await pilot.press("space", "space")
    for key in ("D", "c"):
        await pilot.press(key)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")  # on Cancel
        await until(pilot, lambda: app.screen is app.main)
    await pilot.pause(0.2)
    app.refresh_now()
    assert [cells(table, n)[1] for n in table.shown_keys] == ["Ready"] * 5
    assert table.marked_keys() == ["sim-1", "sim-2"] and "2 marked" in crumb(app)


async def test_marks_survive_redraws_and_go_with_their_rows(five: Console) -> None:
    ctl, sim, app, pilot = five
    table = await services_view(pilot, app, "api")
    await pilot.press("space", "space")  # api, cache
    assert table.marked_keys() == ["api", "cache"]
    for _ in range(3):
        app.refresh_now()
        await pilot.pause()
    assert table.marked_keys() == ["api", "cache"]
    await ctl.remove("cache")
    await until(pilot, lambda: "cache" not in table.shown_keys)
    assert table.marked_keys() == ["api"] and "1 marked" in crumb(app)
    await pilot.press("slash", *"agent", "enter")  # a row the filter hides is not acted on either
    await until(pilot, lambda: table.shown_keys == ["agent"])
    assert not table.marked


async def test_space_ctrl_space_and_esc(five: Console) -> None:
    ctl, sim, app, pilot = five
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 5)
    await pilot.press("space", "up", "space")  # marked, then unmarked
    assert not table.marked
    await pilot.press("ctrl+@")  # ctrl+space as a terminal sends it
    assert table.marked_keys() == table.shown_keys and "5 marked" in crumb(app)
    await pilot.press("ctrl+@")  # all were marked: cleared
    assert not table.marked
    await pilot.press("space")
    await pilot.press("escape")  # esc clears the marks first (the filter, going back, after)
    assert not table.marked and app.main.current.NAME == "nodes"


async def test_marks_are_per_view_and_cleared_on_a_change_of_scope(five: Console) -> None:
    ctl, sim, app, pilot = five
    nodes = app.main.current.table
    await until(pilot, lambda: nodes.row_count == 5)
    await pilot.press("space")
    await command(pilot, "rs")
    replicas = app.main.current.table
    await until(pilot, lambda: replicas.row_count > 0)
    await pilot.press("space")
    assert len(replicas.marked) == 1 and "1 marked" in crumb(app)
    await command(pilot, "nodes")
    assert nodes.marked_keys() == ["sim-1"]  # the nodes view's own
    nodes.select_key("sim-2")
    await pilot.press("enter")  # sim-2's replicas: the replicas view with another scope
    await until(pilot, lambda: app.main.current.scope == ("node", "sim-2"))
    assert not replicas.marked


async def test_marked_replicas_restart_their_services(five: Console) -> None:
    ctl, sim, app, pilot = five
    revisions = {r.name: r.revision for r in ctl.query().service_rows()}
    await command(pilot, "rs")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 10)
    for key in ("api.1", "api.2", "cache.1"):
        table.toggle_mark(key)
    await pilot.press("r")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    text = question(app)
    assert "restarts whole services: the 3 marked replicas belong to 2 services" in text
    assert "api: 3 replicas" in text and "cache: 2 replicas" in text and "agent" not in text
    await pilot.press("y")
    await until(pilot, lambda: "restarted 2 services" in notes(app), timeout=15, what="the summary")
    after = {r.name: r.revision for r in ctl.query().service_rows()}
    assert after == {"api": revisions["api"] + 1, "cache": revisions["cache"] + 1, "agent": revisions["agent"]}


async def test_marked_services_are_removed(five: Console) -> None:
    ctl, sim, app, pilot = five
    table = await services_view(pilot, app, "api")
    await pilot.press("space", "space")
    await pilot.press("ctrl+d")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    assert "Remove 2 services" in question(app) and "api: 3 replicas stop" in question(app)
    await pilot.click("#confirm")
    await until(pilot, lambda: "removed 2 services" in notes(app), timeout=10, what="the summary")
    assert ctl.query().spec("api") is None and ctl.query().spec("cache") is None
    assert ctl.query().spec("agent") is not None
    await until(pilot, lambda: table.shown_keys == ["agent"])


async def test_each_failure_is_named_in_the_one_summary(five: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    ctl, sim, app, pilot = five
    cordon = ctl.cordon

    async def flaky(node: str) -> str:
        if node == "sim-2":
            raise RuntimeError("the wire was cut")
        return await cordon(node)

    monkeypatch.setattr(ctl, "cordon", flaky)
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 5)
    await pilot.press("space", "space", "c")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    await pilot.press("y")
    await until(pilot, lambda: any(n.startswith("cordoned 1 node") for n in notes(app)), what="the summary")
    [note] = [n for n in app._notifications if n.message.startswith("cordoned")]
    assert note.message == "cordoned 1 node; sim-2: RuntimeError: the wire was cut"
    assert note.severity == "warning" and "Traceback" not in note.message
    await until(pilot, lambda: cells(table, "sim-1")[1] == "Ready (cordoned)")
    assert cells(table, "sim-2")[1] == "Ready"


async def test_an_unknown_node_and_a_host_s_words_in_the_summary(tmp_path: Path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, sim):
        bulk = Bulk("drain", "drained", "node", ("sim-1", "node7"), ctl.drain, ctl.cordon)
        problems, refused = await bulk.run()
        text, severity = bulk.summary(problems, refused)
        assert text.startswith("drained 1 node; node7: there is no node node7") and severity == "warning"
        none = Bulk("drain", "drained", "node", ("node7",), ctl.drain)
        assert none.summary(*await none.run())[0].startswith("drain 1 node: none drained; node7: ")

        async def hostile(node: str) -> str:
            raise OSError(f"{node}\x1b[2J\u202egone")  # a host's words, quoted in the error

        quoting = Bulk("cordon", "cordoned", "node", ("sim-1",), hostile)
        text, severity = quoting.summary(*await quoting.run())
        assert text == "cordon 1 node: none cordoned; sim-1: OSError: sim-1\\x1b[2J\\u202egone" and severity == "error"


def test_a_long_listing_is_counted() -> None:
    lines = [f"sim-{i}" for i in range(LISTED + 5)]
    assert listing(lines).splitlines()[-1] == "  and 5 more" and len(listing(lines).splitlines()) == LISTED + 1


async def test_readonly_marks_but_acts_on_nothing(tmp_path: Path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, sim):
        async with open_console(ctl, sim, config(tmp_path, readonly=True)) as (_, _, app, pilot):
            table = app.main.current.table
            await until(pilot, lambda: table.row_count == 3)
            await pilot.press("space", "space", "D", "c", "r")
            await pilot.pause(0.1)
            assert table.marked_keys() == ["sim-1", "sim-2"] and app.screen is app.main


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ResourceTable((("name", "NAME"), ("value", "VALUE")), id="t")


async def test_a_mark_re_renders_its_line_only_and_keeps_with_a_new_order() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(ResourceTable)
        rows = [Row(f"r{i}", (f"r{i}", "x")) for i in range(8)]
        table.sync(rows)
        await pilot.pause()
        lines = {k: table.rows[k].line for k in table.shown_keys}
        table.toggle_mark("r3")
        await pilot.pause()
        assert [k for k in table.shown_keys if table.rows[k].line is not lines[k]] == ["r3"]
        assert table.rows["r3"].line[2].text.startswith(MARK + "r3")  # type: ignore[index]
        table.sync(rows[::-1])  # another order (a sort): the mark stays with its key
        await pilot.pause()
        assert table.marked_keys() == ["r3"] and table.rows["r3"].line[2].text.startswith(MARK)  # type: ignore[index]
        table.sync(rows[4:])
        assert not table.marked
