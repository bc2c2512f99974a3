"""``:rebalance`` in the console, as an operator types it: the plan (how many nodes it frees,
what moves) in a confirmation that defaults to Cancel; confirmed, the replicas move in the
background and one notification says what moved; read-only consoles refuse it; nothing to
free says so."""

from __future__ import annotations

from pathlib import Path

from test_controller_rebalance import spread_out
from tui_orch.ui.dialogs import ConfirmDialog
from ui_support import command, config, fleet, notes, open_console, until  # noqa: F401 (fleet: a fixture)


def dialog_text(app) -> str:  # type: ignore[no-untyped-def]
    screen = app.screen
    assert isinstance(screen, ConfirmDialog), screen
    return f"{screen.title_text}\n{screen.question}"


async def test_rebalance_shows_its_plan_and_moves_once_confirmed(fleet, tmp_path: Path) -> None:
    ctl, sim = fleet
    before = await spread_out(ctl)
    async with open_console(ctl, sim, config(tmp_path)) as (_ctl, _sim, app, pilot):
        await command(pilot, "rebalance")
        text = dialog_text(app)
        assert text.startswith("Rebalance: free 2 node(s)?\nrebalance frees 2 node(s) (3 -> 1 in use): ")
        assert "moved from" in text and "start-first" not in text.split("\n")[0]
        await pilot.press("enter")  # Cancel has the focus: nothing moves
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        assert {r.key: r.node for r in ctl.query().replicas()} == before

        await command(pilot, "rebalance")
        await pilot.press("y")
        await until(pilot, lambda: any(n.startswith("rebalance: 2 replica(s) moved") for n in notes(app)),
                    timeout=10, what="the rebalance's notification")
        assert len({r.node for r in ctl.query().replicas()}) == 1

        await command(pilot, "rebalance")  # nothing left to free
        await until(pilot, lambda: any("nothing to move" in n for n in notes(app)), what="nothing to move")
        assert not isinstance(app.screen, ConfirmDialog)


async def test_a_read_only_console_refuses_rebalance(fleet, tmp_path: Path) -> None:
    ctl, sim = fleet
    before = await spread_out(ctl)
    async with open_console(ctl, sim, config(tmp_path, readonly=True)) as (_ctl, _sim, app, pilot):
        await command(pilot, "rebalance")
        assert not isinstance(app.screen, ConfirmDialog)
        assert any(":rebalance changes the fleet and the console is read-only" in n for n in notes(app))
        assert {r.key: r.node for r in ctl.query().replicas()} == before
