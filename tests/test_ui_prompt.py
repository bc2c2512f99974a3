"""The ``:`` prompt and the footer, driven as an operator would: Tab completes verbs (from
keys.COMMANDS, so verbs added later complete too) and the names their arguments take,
cycling on repeated Tab; up/down recall earlier lines, each prompt its own list, kept across
a restart in the console's state folder; ``:scale web 5``, ``:logs``, ``:ev`` with
arguments; read-only refusals; the footer shows the keys of the shown view."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from textual.widgets._footer import FooterKey

from tui_orch.controller import Controller
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.ui import keys as keys_module
from tui_orch.ui.logs import LogsScreen
from tui_orch.ui.prompt import HISTORY_FILE, HISTORY_KEEP, Prompt, PromptHistory, complete
from tui_orch.ui.widgets import StableFooter
from ui_support import (Console, cells, command, config, deployed, fleet, manifest, notes,  # noqa: F401
                        open_console, shown, until)


def prompt_of(app) -> Prompt:  # type: ignore[no-untyped-def]
    return app.main.query_one("#prompt", Prompt)


async def typed(pilot, *keys: str) -> str:  # type: ignore[no-untyped-def]
    """Press ``keys`` (the prompt open) and give back the prompt's line."""
    await pilot.press(*keys)
    await pilot.pause()
    return prompt_of(pilot.app).value


def subtitle(app) -> str:  # type: ignore[no-untyped-def]
    return str(prompt_of(app).border_subtitle or "")


# ---------------------------------------------------------------------- completion
async def test_tab_cycles_through_the_verbs_and_lists_them(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await pilot.press("colon")
    assert await typed(pilot, "s", "tab") == "scale"
    assert "[scale]" in subtitle(app) and "service" in subtitle(app) and "svc" in subtitle(app)
    assert await typed(pilot, "tab") == "service"
    assert await typed(pilot, "tab", "tab") == "svc"
    assert await typed(pilot, "tab") == "scale"  # round again
    assert await typed(pilot, "shift+tab") == "svc"  # and back
    await pilot.press("ctrl+u")  # a new line: one candidate is put in with a space for the next word
    assert await typed(pilot, "s", "c", "tab") == "scale "
    assert await typed(pilot, "a", "tab") == "scale agent"
    assert await typed(pilot, "tab") == "scale api"
    assert "[api]" in subtitle(app)
    await pilot.press("escape")
    assert not app.main.prompt_mode


async def test_tab_completes_replicas_nodes_and_says_when_nothing_fits(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await pilot.press("colon")
    assert await typed(pilot, *"logs api.", "tab") == "logs api.1"
    assert "api.2" in subtitle(app) and "api.3" in subtitle(app)
    await pilot.press("ctrl+u")
    assert await typed(pilot, *"rs sim-3", "tab") == "rs sim-3 "  # a node
    await pilot.press("ctrl+u")
    assert await typed(pilot, *"ev ca", "tab") == "ev cache "  # a service
    await pilot.press("ctrl+u")
    assert await typed(pilot, *"scale zz", "tab") == "scale zz"
    assert "no service starts with 'zz'" in subtitle(app)


async def test_a_verb_added_to_the_table_completes_with_its_arguments(deployed: Console,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Verbs other parts add (``:pf`` did) complete from keys.COMMANDS, their arguments from
    keys.COMMAND_ARGS, with nothing else to change."""
    monkeypatch.setitem(keys_module.COMMANDS, "top", "top")
    monkeypatch.setitem(keys_module.COMMAND_ARGS, "top", (("replica",),))
    ctl, sim, app, pilot = deployed
    await pilot.press("colon")
    assert await typed(pilot, "t", "o", "tab") == "top "
    assert await typed(pilot, *"cache.", "tab") == "top cache.1"


def test_completion_of_many_names_is_a_bisection() -> None:
    """Ten thousand nodes: the first candidates and how many there are, listed under the line."""
    names = sorted(f"node-{i:05d}" for i in range(10_000))
    c = complete("rs node-01", lambda kind: names if kind == "node" else [])
    assert c.total == 1000 and c.candidates[0] == "node-01000" and len(c.candidates) == 200
    assert complete("scale ", lambda kind: ["api", "web"] if kind == "service" else []).candidates == ("api", "web")
    assert "scale" not in complete("s", lambda kind: [], readonly=True).candidates  # it changes the fleet


# ---------------------------------------------------------------------- history
async def test_up_and_down_recall_each_prompt_its_own_lines_across_a_restart(
        fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    await ctl.apply(manifest())
    folder = tmp_path / "console"
    async with open_console(ctl, sim, config(tmp_path, state_dir=folder)) as (_, _, app, pilot):
        await command(pilot, "svc")
        await command(pilot, "rs")
        await pilot.press("slash", *"api", "enter")
        await pilot.press("colon")
        assert await typed(pilot, *"ev") == "ev"
        assert await typed(pilot, "up") == "rs"
        assert await typed(pilot, "up") == "svc"
        assert await typed(pilot, "up") == "svc"  # the oldest
        assert await typed(pilot, "down", "down") == "ev"  # back to the line being typed
        await pilot.press("escape")
    path = folder / HISTORY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"command": ["svc", "rs"], "filter": ["api"]}
    async with open_console(ctl, sim, config(tmp_path, state_dir=folder)) as (_, _, app, pilot):
        await pilot.press("colon")
        assert await typed(pilot, "up") == "rs"  # the lines of the run before
        await pilot.press("escape")
        await pilot.press("slash")
        assert await typed(pilot, "ctrl+u", "up") == "api"  # the filter prompt's own
        await pilot.press("escape")


def test_the_history_is_bounded_and_a_line_typed_again_moves_to_the_end(tmp_path: Path) -> None:
    history = PromptHistory(tmp_path)
    for i in range(HISTORY_KEEP + 50):
        history.add(":", f"rs web-{i}")
    history.add(":", "rs web-100")
    again = PromptHistory(tmp_path)
    again.load()
    lines = again.lines[":"]
    assert len(lines) == HISTORY_KEEP and lines[-1] == "rs web-100" and lines.count("rs web-100") == 1
    assert lines[0] == "rs web-50"  # 250 typed: the first 50 went


async def test_an_unreadable_history_is_one_warning_and_a_new_one(fleet: tuple[Controller, Simulator],
                                                                 tmp_path: Path) -> None:
    ctl, sim = fleet
    folder = tmp_path / "console"
    folder.mkdir()
    (folder / HISTORY_FILE).write_text("{not json")
    async with open_console(ctl, sim, config(tmp_path, state_dir=folder)) as (_, _, app, pilot):
        await until(pilot, lambda: any("command history cannot be read" in n for n in notes(app)))
        await command(pilot, "rs")
        assert shown(app) == "replicas"
    assert json.loads((folder / HISTORY_FILE).read_text())["command"] == ["rs"]


# ---------------------------------------------------------------------- verbs with arguments
async def test_scale_with_a_count_scales_at_once(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed

    def desired(name: str) -> int:
        return next(r.desired for r in ctl.query().service_rows() if r.name == name)

    await command(pilot, "scale api 5")
    await until(pilot, lambda: desired("api") == 5 and len(ctl.query().replicas("api")) == 5, what="api at 5")
    await until(pilot, lambda: any("scale api to 5" in n for n in notes(app)))
    for line, said in [("scale agent 2", "agent is global"), ("scale nope 3", "there is no service nope"),
                       ("scale api many", "'many' is not a whole number"), ("scale api 1 2", "too many words"),
                       ("scale api 10001", "out of range"), ("bogus web", "unknown command :bogus")]:
        await command(pilot, line)
        await until(pilot, lambda: any(said in n for n in notes(app)), what=said)
    assert desired("api") == 5 and desired("cache") == 2


async def test_scale_is_refused_read_only(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    await ctl.apply(manifest())
    async with open_console(ctl, sim, config(tmp_path, readonly=True)) as (_, _, app, pilot):
        await command(pilot, "scale api 5")
        await until(pilot, lambda: any(":scale changes the fleet and the console is read-only" in n
                                       for n in notes(app)))
        await pilot.pause(0.2)
        assert len(ctl.query().replicas("api")) == 3
        await pilot.press("colon")
        assert await typed(pilot, *"sc", "tab") == "sc"  # not offered either


async def test_logs_and_events_of_a_name(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await command(pilot, "logs api.2")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))
    assert "api.2" in str(app.screen.query_one("#logs-title").render())
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)
    await command(pilot, "logs cache")  # a service: every replica's
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))
    assert "cache" in str(app.screen.query_one("#logs-title").render())
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)
    await command(pilot, "logs nope.1")
    await until(pilot, lambda: any(":logs nope.1: there is no replica or service" in n for n in notes(app)))
    await command(pilot, "ev cache")
    view = app.main.current
    await until(pilot, lambda: view.table.row_count > 0)
    assert view.NAME == "events" and view.scope == ("service", "cache")
    assert all(view.event(k).service == "cache" for k in view.table.shown_keys)


# ---------------------------------------------------------------------- footer
def footer_keys(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [k.description for k in app.main.query_one(StableFooter).query(FooterKey) if k.display]


async def test_the_footer_shows_the_keys_of_the_view(deployed: Console) -> None:
    """Each view's keys, and no other; a switch shows and hides keys made once (a rebuild of
    the footer on each switch cost 55-75 ms of cpu)."""
    ctl, sim, app, pilot = deployed
    await pilot.pause()
    made = list(app.main.query_one(StableFooter).query(FooterKey))
    common = ["command", "filter", "help", "deploy"]
    nodes = ["cordon", "drain", "uncordon", "trust"]
    services = ["logs", "scale", "restart", "pause", "resume", "undo", "delete"]
    replicas = ["logs", "shell", "forward", "move"]  # r, c, D, U act here too (marked rows), shown in their views
    for alias, want in [("no", nodes), ("svc", services), ("rs", replicas), ("ev", [])]:
        await command(pilot, alias)
        await until(pilot, lambda: footer_keys(app)[:-1] == common + want, redraw=False,
                    what=f"the keys of :{alias}, not {footer_keys(app)}")
    for key in "1234":  # the view keys: no prompt, no focus move through it
        await pilot.press(key)
    await until(pilot, lambda: footer_keys(app)[:-1] == common, redraw=False)
    assert list(app.main.query_one(StableFooter).query(FooterKey)) == made
    await command(pilot, "svc")
    await until(pilot, lambda: "scale" in footer_keys(app), redraw=False)
    await pilot.press("c")  # a node's key: does nothing here, and says where it acts
    said = "c (Cordon the node) acts in the nodes view or the replicas view"
    await until(pilot, lambda: said in notes(app), what=f"the note, not {notes(app)}")
    assert app.screen is app.main and not any("cordon" in n and "acts in" not in n for n in notes(app))
    await command(pilot, "no")
    nodes_table = app.main.current.table
    await until(pilot, lambda: nodes_table.row_count == 3)
    assert [cells(nodes_table, k)[1] for k in nodes_table.shown_keys] == ["Ready"] * 3  # none cordoned
