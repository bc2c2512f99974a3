"""The console's volume move (key m): the node picker defaults to Cancel, Move moves the
replica with its data and says so in a notification."""

from __future__ import annotations

from pathlib import Path

from tui_orch.controller import Controller
from tui_orch.model import ReplicaState
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.ui.volume_dialogs import VolumeMoveDialog
from ui_support import command, config, fleet, manifest, notes, open_console, until  # noqa: F401
from volume_support import DB, FILES, give_data


async def test_move_a_replica_with_its_data_from_the_replicas_view(fleet: tuple[Controller, Simulator],
                                                                   tmp_path: Path) -> None:
    ctl, sim = fleet
    assert (await ctl.apply(manifest(DB.format(n=1)))).ok
    old, volume = give_data(ctl, "db.1")
    async with open_console(ctl, sim, config(tmp_path)) as (_, _, app, pilot):
        await command(pilot, "rs")
        table = app.main.current.table
        await until(pilot, lambda: table.row_count == 1)
        table.select_key("db.1")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, VolumeMoveDialog), what="the node picker")
        assert old not in app.screen.nodes and len(app.screen.nodes) == 2
        await pilot.press("enter")  # Cancel has the focus
        await until(pilot, lambda: app.screen is app.main)
        assert ctl.query().replica("db.1").node == old
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, VolumeMoveDialog))
        target = app.screen.nodes[0]
        await pilot.click("#move")
        await until(pilot, lambda: any("moved from" in n for n in notes(app)), timeout=10, what="the result")
        rep = ctl.query().replica("db.1")
        assert (rep.node, rep.state) == (target, ReplicaState.RUNNING)
        assert ctl.ctx.fleet.nodes[target].volumes.volumes[volume].files == FILES
        await until(pilot, lambda: app.screen is app.main, what="the progress dialog closed")
