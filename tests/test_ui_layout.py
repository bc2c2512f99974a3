"""The console's tables as an operator uses them (issue 15): sorting by any column with
``>`` ``<`` ``~`` (by value, the mark in the title, kept per view), the filter's text marked in
the rows, titles never cut (a long NotReady reason), the first column fixed while the others
scroll sideways, the header's cpu/memory line at 80x24, a terminal too small said so, and esc
going back only from drill downs and filters."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from tui_orch.ui.screen import MIN_HEIGHT, MIN_WIDTH
from tui_orch.ui.widgets import FleetHeader
from ui_support import (Console, command, config, deployed, fleet, manifest, open_console,  # noqa: F401
                        shown, until)

LONG_REASON = "ssh: connect to host 10.0.0.3 port 22: connection timed out after 10 seconds"


def line(table, y: int) -> str:  # type: ignore[no-untyped-def]
    return "".join(s.text for s in table.render_line(y))


def crumb(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.main.query_one("#crumbs", Static).render())


async def test_nodes_sort_by_cpu_largest_first_and_the_sort_stays_with_the_view(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 3)
    await pilot.press("greater_than_sign", "greater_than_sign", "greater_than_sign")  # NAME, STATE, CPU
    busiest = [r.name for r in sorted(ctl.query().node_rows(), key=lambda r: -(r.cpu_percent or 0.0))]
    await until(pilot, lambda: table.shown_keys == busiest, what="the nodes by cpu, largest first")
    assert "CPU▼" in line(table, 0).split() and "sorted by CPU ▼" in crumb(app)
    await pilot.press("2")
    await until(pilot, lambda: shown(app) == "services")
    assert "sorted by" not in crumb(app)  # each view its own sort
    await pilot.press("1")
    await until(pilot, lambda: shown(app) == "nodes")
    assert table.shown_keys == busiest and "sorted by CPU ▼" in crumb(app)
    await pilot.press("tilde")
    await until(pilot, lambda: table.shown_keys == busiest[::-1])
    assert "CPU▲" in line(table, 0).split() and "sorted by CPU ▲" in crumb(app)
    await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")  # STATE, NAME, the view's order
    await until(pilot, lambda: "sorted by" not in crumb(app))
    assert "▲" not in line(table, 0) and "▼" not in line(table, 0)


async def test_replicas_sort_by_memory_by_its_value_not_its_text(deployed: Console) -> None:
    """256MiB > 128MiB > 64MiB: as text, "64MiB" would come first."""
    ctl, sim, app, pilot = deployed
    await sim.advance(2)  # the replicas' usage
    await command(pilot, "rs")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 8 and all(line(table, y).split()[-2] != "-" for y in (1, 8)))
    await pilot.press("less_than_sign", "less_than_sign")  # from the view's order: PORT, MEMORY
    await until(pilot, lambda: "sorted by MEMORY ▼" in crumb(app))
    services = [k.split(".")[0] for k in table.shown_keys]
    assert services == ["api"] * 3 + ["cache"] * 2 + ["agent"] * 3, table.shown_keys
    await pilot.press("less_than_sign")
    assert "CPU %CORE▼" in line(table, 0)  # a replica's cpu is in % of one core, and says so


async def test_the_filters_text_is_marked_in_the_rows(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await command(pilot, "rs")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 8)
    await pilot.press("slash", *"CACH", "enter")
    await until(pilot, lambda: table.shown_keys == ["cache.1", "cache.2"])
    cursor_off = table.render_line(2)  # cache.2
    marked = [s.text for s in cursor_off if s.style is not None and s.style.reverse]
    assert marked == ["cach", "cach"], list(cursor_off)  # in SERVICE and in REPLICA
    await pilot.press("escape")  # the filter goes, and its marks
    await until(pilot, lambda: table.row_count == 8)
    assert not any(s.style is not None and s.style.reverse for y in range(2, 9) for s in table.render_line(y))


async def test_a_long_notready_reason_cuts_no_title_and_the_name_stays_put(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    ctl.query().node("sim-3").fail(LONG_REASON)  # type: ignore[attr-defined]
    table = app.main.current.table
    titles = ["NAME", "STATE", "CPU", "MEMORY", "DISK", "LOAD", "NET", "RX/TX", "CPU/CAP", "MEM/CAP", "REPL"]
    await until(pilot, lambda: "NotReady" in line(table, 3))
    assert line(table, 0).split() == titles  # at 120 columns, every title whole
    assert " NotReady simulated fail… " in line(table, 3)  # the reason cut; the detail pane has it whole
    await pilot.resize_terminal(80, 24)
    await pilot.pause()
    at_80 = line(table, 0).split()
    assert at_80 == titles[:len(at_80)] and len(at_80) < len(titles)
    await until(pilot, lambda: "←→ 5 more columns" in crumb(app), redraw=False)  # LOAD ... REPL
    await pilot.press("right", "right")
    assert line(table, 0).split()[:2] == ["NAME", "MEMORY"]
    assert line(table, 1).split()[:2] == ["sim-1", "SIMULATED"]
    assert line(table, 0).split()[-1] == "REPL"  # scrolled to the end
    await until(pilot, lambda: "←→ 2 more columns" in crumb(app), redraw=False)  # STATE and CPU


async def test_the_header_keeps_its_cpu_and_memory_line_at_80x24(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    header = app.main.query_one(FleetHeader)
    await until(pilot, lambda: "cpu" in str(header.render()))
    await pilot.resize_terminal(80, 24)
    await until(pilot, lambda: str(header.render()).split("\n")[1].startswith(" cpu"), redraw=False,
                what="the cpu line refitted at once, before the next redraw")
    first, second = str(header.render()).split("\n")
    assert len(first) <= 80 and "mem" in second


async def test_a_terminal_too_small_says_so(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    notice = app.main.query_one("#too-small", Static)
    assert not notice.display
    await pilot.resize_terminal(40, 10)
    await pilot.pause()
    assert notice.display and notice.region.size == app.size
    assert str(notice.render()).replace("\n", " ").split() == (
        f"terminal too small: 40x10, needs at least {MIN_WIDTH}x{MIN_HEIGHT}").split()
    await pilot.resize_terminal(MIN_WIDTH, MIN_HEIGHT)
    await pilot.pause()
    assert not notice.display
    table = app.main.current.table
    assert table.size.height >= 4 and "sim-1" in line(table, 1)  # the node's detail gives way to rows


async def test_esc_goes_back_from_drill_downs_only(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await until(pilot, lambda: app.main.current.table.row_count == 3)
    await pilot.press("2", "3")
    await until(pilot, lambda: shown(app) == "replicas")
    await pilot.press("escape")  # a view chosen: not a step back to the services
    await pilot.pause()
    assert shown(app) == "replicas"
    await pilot.press("1", "enter")  # sim-1's replicas
    await until(pilot, lambda: app.main.current.scope == ("node", "sim-1"))
    await pilot.press("escape")
    await until(pilot, lambda: shown(app) == "nodes")
    await pilot.press("enter")
    await until(pilot, lambda: app.main.current.scope == ("node", "sim-1"))
    await command(pilot, "svc")  # left the drill down for another view
    await pilot.press("escape")
    await pilot.pause()
    assert shown(app) == "services"
