"""A secret's value never reaches the console: a service with a secret taken from an environment
variable (a unique value planted there) is deployed from the console's deploy dialog (its plan
shown, then confirmed), and every screen an operator opens afterwards (nodes, services, the
service's replicas, replicas, events, a replica's logs, help, the notifications) is searched for
the value as rendered on the terminal."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from rich.console import Console as RichConsole

from tui_orch.controller import Controller
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.ui.app import OrchApp
from tui_orch.ui.help import HelpScreen
from tui_orch.ui.logs import LogsScreen
from ui_support import command, config, deploy_from_dialog, fleet, notes, open_console, shown, until  # noqa: F401

STACK = """\
secrets:
  db_password: {environment: TUI_ORCH_TEST_SECRET}
services:
  db:
    image: tuiorch/busybox:1
    secrets: [db_password]
    deploy:
      replicas: 2
      update_config: {monitor: 0s}
"""


def screen_text(app: OrchApp) -> str:
    """The plain text of the screen as the terminal shows it (what export_screenshot draws)."""
    width, height = app.size
    console = RichConsole(width=width, height=height, file=io.StringIO(), force_terminal=True,
                          color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


async def test_a_planted_secret_appears_on_no_screen_of_the_console(
        fleet: tuple[Controller, Simulator], tmp_path: Path, monkeypatch) -> None:
    planted = "pw" + uuid.uuid4().hex
    monkeypatch.setenv("TUI_ORCH_TEST_SECRET", planted)
    path = tmp_path / "db.yaml"
    path.write_text(STACK)
    ctl, sim = fleet
    screens: dict[str, str] = {}
    async with open_console(ctl, sim, config(tmp_path, examples_dir=tmp_path)) as (_, _, app, pilot):

        def look(name: str) -> None:
            screens[name] = screen_text(app)

        await deploy_from_dialog(pilot, path, look)
        await until(pilot, lambda: len(ctl.query().replicas("db")) == 2, what="2 replicas")
        await until(pilot, lambda: any("deploy db.yaml" in n for n in notes(app)))
        look("the notification of the deploy")
        for alias, name in (("nodes", "nodes"), ("svc", "services"), ("rs", "replicas"), ("ev", "events")):
            await command(pilot, alias)
            await until(pilot, lambda: shown(app) == name and app.main.current.table.row_count > 0)
            look(name)
        await command(pilot, "svc")
        app.main.current.table.select_key("db")
        await pilot.press("enter")
        await until(pilot, lambda: shown(app) == "replicas" and app.main.current.table.shown_keys == ["db.1", "db.2"])
        look("the replicas of db")
        await pilot.press("enter")  # the first replica: its logs
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        await pilot.pause(0.3)
        look("the logs of db.1")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        look("help")
        all_notes = "\n".join(notes(app))
    assert "db" in screens["the deploy dialog's plan"] and "db" in screens["services"]
    assert "db.1" in screens["the replicas of db"] and "db.2" in screens["the replicas of db"]
    for name, text in screens.items():
        assert planted not in text and planted[:12] not in text, f"the secret's value is shown on {name}:\n{text}"
    assert planted[:12] not in all_notes, all_notes
    delivered = [data for node in ctl.ctx.fleet.nodes.values() for data in node.files.values()]
    assert planted.encode() in delivered  # it did reach the nodes (the search above is not vacuous)
