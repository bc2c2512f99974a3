"""The console on simulated nodes, driven like an operator would: views through `:`
aliases, filters, help, drill down and back, deploy, scale, remove with confirmation,
read-only, rebinding, errors as notifications, rows updated in place."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Button, Input, Static

from tui_orch.controller import Controller
from tui_orch.controller.events import event
from tui_orch.model import ReplicaState
from tui_orch.ui.app import OrchApp
from tui_orch.ui.settings import load_ui_settings
from tui_orch.ui.dialogs import ConfirmDialog, DeployDialog, ScaleDialog
from tui_orch.ui.help import HelpScreen
from tui_orch.ui.keys import DESTRUCTIVE_ACTIONS, KEYS
from tui_orch.ui.palette import ConsoleCommands
from tui_orch.ui.widgets import StableFooter
from tui_orch.nodes.sim.simulator import Simulator
from ui_support import (SIZE, TWO_SERVICES, Console, cells, command, config, console, deployed,  # noqa: F401
                        fleet, manifest, notes, open_console, services_view, shown, until)


async def test_views_switch_through_colon_aliases(console: Console) -> None:
    ctl, sim, app, pilot = console
    await until(pilot, lambda: app.main is not None and app.main.is_mounted)
    assert shown(app) == "nodes"
    for alias, view in [("svc", "services"), ("rs", "replicas"), ("ev", "events"), ("no", "nodes"),
                        ("services", "services"), ("replicas", "replicas"), ("events", "events"),
                        ("nodes", "nodes")]:
        await command(pilot, alias)
        assert shown(app) == view, alias
    await command(pilot, "bogus")
    assert shown(app) == "nodes" and any("unknown command :bogus" in n for n in notes(app))
    await command(pilot, "q")
    await until(pilot, lambda: app.return_code == 0 and not app.is_running, redraw=False, what="the quit")


async def test_filter_inverse_and_clear(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await command(pilot, "rs")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 8, what="3 api + 2 cache + 3 agent replicas")
    await pilot.press("slash", *"api", "enter")
    await until(pilot, lambda: table.shown_keys == ["api.1", "api.2", "api.3"])
    await pilot.press("slash")
    prompt = app.main.query_one("#prompt", Input)
    assert prompt.value == "api"  # the filter in force, to edit
    prompt.value = "!api"
    await pilot.press("enter")
    await until(pilot, lambda: table.row_count == 5)
    assert not any(k.startswith("api.") for k in table.shown_keys)
    assert "/!api" in str(app.main.query_one("#crumbs").render())
    await command(pilot, "rs sim-2")  # a command's argument filters the view
    await until(pilot, lambda: table.row_count == 3)  # sim-2's: one of each service
    assert all(cells(table, k)[2] == "sim-2" for k in table.shown_keys)
    await pilot.press("escape")  # esc clears the filter
    await until(pilot, lambda: table.row_count == 8)


async def test_help_lists_every_binding_of_the_screen(console: Console) -> None:
    ctl, sim, app, pilot = console
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen))
    ids = {row[2] for row in app.screen.rows}
    assert {k.id for k in KEYS} <= ids
    keys = {row[2]: row[0] for row in app.screen.rows}
    assert keys["scale"] == "S" and keys["delete"] == "^d" and keys["command"] == ":"
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)


async def test_drill_down_and_back(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    nodes = app.main.current.table
    await until(pilot, lambda: nodes.row_count == 3)
    await pilot.press("down")  # sim-2
    await pilot.press("enter")
    await until(pilot, lambda: shown(app) == "replicas")
    replicas = app.main.current
    assert replicas.scope == ("node", "sim-2")
    await until(pilot, lambda: replicas.table.row_count == 3)
    assert {cells(replicas.table, k)[2] for k in replicas.table.shown_keys} == {"sim-2"}
    await pilot.press("escape")
    await until(pilot, lambda: shown(app) == "nodes")
    assert nodes.selected_key() == "sim-2"  # back where it was
    await services_view(pilot, app, "cache")
    await pilot.press("enter")
    await until(pilot, lambda: shown(app) == "replicas" and app.main.current.scope == ("service", "cache"))
    await until(pilot, lambda: app.main.current.table.shown_keys == ["cache.1", "cache.2"])
    await pilot.press("escape")
    await until(pilot, lambda: shown(app) == "services")


async def test_deploy_from_the_dialog_then_replicas_appear(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(TWO_SERVICES)
    ctl, sim = fleet
    async with open_console(ctl, sim, config(tmp_path, examples_dir=tmp_path)) as (_, _, app, pilot):
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog))
        dialog = app.screen
        field = dialog.query_one("#path", Input)
        field.focus()
        field.value = str(path)
        await pilot.press("enter")
        deploy = dialog.query_one("#deploy", Button)
        await until(pilot, lambda: not deploy.disabled, what="the plan of the dry run")
        assert ctl.query().service_rows() == []  # the preview changed nothing
        await pilot.click("#deploy")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert str(path) in str(" ".join(str(w.content) for w in app.screen.query(Static)))
        assert ctl.query().service_rows() == []  # not before it is confirmed
        await pilot.click("#confirm")
        await until(pilot, lambda: len(ctl.query().replicas()) == 8, what="8 replicas")
        await command(pilot, "rs")
        table = app.main.current.table
        await until(pilot, lambda: table.row_count == 8)
        assert cells(table, "api.1")[3] == "running"
        await until(pilot, lambda: any("deploy two.yaml" in n for n in notes(app)))


async def test_scale_from_the_services_view(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    table = await services_view(pilot, app, "api")
    await pilot.press("S")
    await until(pilot, lambda: isinstance(app.screen, ScaleDialog))
    app.screen.query_one(Input).value = "5"
    await pilot.press("enter")
    await until(pilot, lambda: len(ctl.query().replicas("api")) == 5)
    await until(pilot, lambda: cells(table, "api")[2] == "5/5/5")


async def test_remove_asks_first_and_cancel_keeps_the_service(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    table = await services_view(pilot, app, "cache")
    await pilot.press("ctrl+d")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    assert "cache" in str(app.screen.query_one("#question").render())
    await pilot.press("enter")  # Cancel has the focus
    await until(pilot, lambda: app.screen is app.main)
    await pilot.pause(0.2)
    assert ctl.query().spec("cache") is not None and len(ctl.query().replicas("cache")) == 2
    await pilot.press("ctrl+d")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    await pilot.click("#confirm")
    await until(pilot, lambda: ctl.query().spec("cache") is None)
    await until(pilot, lambda: "cache" not in table.shown_keys)
    assert ctl.query().replicas("cache") == []


async def test_readonly_binds_no_destructive_action(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    await ctl.apply(manifest())
    async with open_console(ctl, sim, config(tmp_path, readonly=True)) as (_, _, app, pilot):
        bound = {b.action for bs in app.main._bindings.key_to_bindings.values() for b in bs}
        assert bound & DESTRUCTIVE_ACTIONS == set()
        assert {"command", "filter", "help", "logs", "drill", "back"} <= bound
        await services_view(pilot, app)
        await pilot.press("ctrl+d", "S", "a")
        await pilot.pause(0.1)
        assert app.screen is app.main  # no dialog opened
        names = {name for name, _, _ in ConsoleCommands(app.screen).commands()}
        assert "Remove the service" not in names and "Scale the service" not in names
        assert "Help" in names
        await command(pilot, "rs")
        names = {name for name, _, _ in ConsoleCommands(app.screen).commands()}
        assert "Logs of the replica" in names and "Shell into the replica" not in names
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert not {row[2] for row in app.screen.rows} & {k.id for k in KEYS if k.destructive}


async def test_a_binding_is_rebound_from_config_yaml(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "config.yaml").write_text("keys:\n  scale: x\n  nonsense: y\n")
    cfg = load_ui_settings(folder, deterministic=True)
    assert cfg.keys == {"scale": "x"}
    assert any("unknown binding id 'nonsense'" in p for p in cfg.problems)
    ctl, sim = fleet
    await ctl.apply(manifest())
    async with open_console(ctl, sim, cfg) as (_, _, app, pilot):
        assert any("unknown binding id 'nonsense'" in n for n in notes(app))
        await services_view(pilot, app, "api")
        await pilot.press("S")  # the old key does nothing now
        await pilot.pause(0.1)
        assert app.screen is app.main
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ScaleDialog))


async def test_a_controller_error_is_one_notification(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await services_view(pilot, app, "api")
    await pilot.press("S")
    await until(pilot, lambda: isinstance(app.screen, ScaleDialog))
    await ctl.remove("api")  # gone while the operator types: the controller refuses
    app.screen.query_one(Input).value = "2"
    await pilot.press("enter")
    await until(pilot, lambda: any("no service api" in n for n in notes(app)), what="the error notification")
    error = next(n for n in app._notifications if "no service api" in n.message)
    assert error.severity == "error" and "\n" not in error.message and "Traceback" not in error.message
    assert app.is_running and app.screen is app.main


async def test_scaling_a_global_service_is_refused_before_asking(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await services_view(pilot, app, "agent")
    await pilot.press("S")
    await until(pilot, lambda: any("global" in n for n in notes(app)), what="the refusal")
    assert app.screen is app.main  # no dialog asked for a number


async def test_rows_update_in_place(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 3)
    keys, row_objects = table.shown_keys, dict(table.rows)
    before = cells(table, "sim-1")
    node = ctl.query().node("sim-1")
    for rep in ctl.query().replicas():
        if rep.node == "sim-1" and rep.container_id:
            node.set_load(rep.container_id, cpus=1.0)  # type: ignore[attr-defined]
    updates = table.updates
    await sim.advance(5)
    app.refresh_now()
    await pilot.pause()
    after = cells(table, "sim-1")
    assert after[2] != before[2]  # cpu bar moved
    assert table.shown_keys == keys and dict(table.rows) == row_objects  # same rows, same keys
    assert table.updates > updates


async def test_header_and_events_follow_the_bus(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    header = lambda: str(app.main.query_one("#header").render())  # noqa: E731
    await until(pilot, lambda: "3/3 Ready" in header() and "3/3 healthy" in header())
    assert "restarts 0 in the last hour" in header()
    assert "controller this console" in header()  # no controller runs on its own: this console acts
    ctl.bus.publish(event("restart", "api.1 on sim-1 exited with code 1; restart 1 in 5 s",
                          service="api", replica="api.1", node="sim-1", level="warning"))
    await until(pilot, lambda: "restarts 1 in the last hour" in header())
    await command(pilot, "ev")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count > 0)
    newest = cells(table, table.shown_keys[0])
    assert newest[2] == "restart" and newest[3] == "api.1"
    assert "yellow" in str(table.get_row(table.shown_keys[0])[2].style)
    assert any(cells(table, k)[2] == "deploy" for k in table.shown_keys)
    # the selected event in full under the table (messages are cut in it)
    long = "web.2 on sim-3 is unhealthy; " + "its health check said: connection refused " * 4
    ctl.bus.publish(event("unhealthy", long, service="web", replica="web.2", node="sim-3", level="warning"))
    await until(pilot, lambda: cells(table, table.shown_keys[0])[2] == "unhealthy")
    table.select_key(table.shown_keys[0])
    await pilot.pause()
    detail = lambda: str(app.main.current.query_one("#event-detail").render())  # noqa: E731
    await until(pilot, lambda: "connection refused its health check" in detail().replace("\n", " "))
    assert "replica=web.2" in detail() and "node=sim-3" in detail()


async def test_rolling_restart_from_the_keyboard(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    await ctl.apply(manifest())
    old = {r.key: r.container_id for r in ctl.query().replicas("cache")}
    async with open_console(ctl, sim, config(tmp_path)) as (_, _, app, pilot):
        table = await services_view(pilot, app, "cache")
        await pilot.press("r")  # asks first; Cancel is the default
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "replace its 2 replica(s)" in str(app.screen.query_one("#question").render())
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        await pilot.pause(0.2)
        assert ctl.rollout_status("cache") is None
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: all(r.revision == 2 and r.state == ReplicaState.RUNNING
                                       for r in ctl.query().replicas("cache")), timeout=20, what="revision 2")
        assert {r.key: r.container_id for r in ctl.query().replicas("cache")}.keys() == old.keys()
        assert all(r.container_id != old[r.key] for r in ctl.query().replicas("cache"))
        await until(pilot, lambda: cells(table, "cache")[3] == "2")


async def test_a_replica_drills_down_to_its_logs(deployed: Console) -> None:
    from tui_orch.ui.logs import LogsScreen

    ctl, sim, app, pilot = deployed
    await command(pilot, "rs")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 8)
    table.select_key("api.2")
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))
    assert "api.2" in str(app.screen.query_one("#logs-title").render())
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)
    await command(pilot, "logs")  # :logs opens the selected replica's logs too
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))


async def test_the_palette_lists_every_action_of_the_view_and_the_themes(console: Console) -> None:
    ctl, sim, app, pilot = console
    every: set[str] = set()
    for alias, view in (("no", "nodes"), ("svc", "services"), ("rs", "replicas"), ("ev", "events")):
        await command(pilot, alias)
        names = {name for name, _, _ in ConsoleCommands(app.screen).commands()}
        assert {k.description for k in KEYS if k.palette and view in (k.views or (view,))} <= names, view
        assert not {k.description for k in KEYS if k.views and view not in k.views} & names, view
        every |= names
    assert {k.description for k in KEYS if k.palette} <= every
    names = {name for name, _, _ in ConsoleCommands(app.screen).commands()}
    assert {"Theme: tui-orch-dark", "Theme: solarized-dark", "Show replicas"} <= names
    await pilot.press("ctrl+p")
    await pilot.press(*"Theme: solarized")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await until(pilot, lambda: app.theme == "solarized-dark")


async def test_start_brings_the_fleet_up_after_the_first_frame(tmp_path: Path) -> None:
    from tui_orch.controller import Controller
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.nodes.sim.node import SimulatedNode
    from tui_orch.nodes.sim.simulator import Simulator
    from tui_orch.store import open_store
    from ui_support import T0, inventory

    sim = Simulator(3, frozen=True, noise=False, start_time=T0)
    fleet = Fleet(inventory(2), lambda spec: SimulatedNode(spec, sim))
    store = open_store(tmp_path / "state")
    ctl = Controller(store, fleet)
    gate = asyncio.Event()

    async def start() -> None:
        await gate.wait()  # a slow host: the screen is up meanwhile
        await fleet.start()

    try:
        app = OrchApp(ctl, config(tmp_path), start=start)
        async with app.run_test(size=SIZE) as pilot:
            table = app.main.current.table
            await until(pilot, lambda: table.row_count == 2)
            assert all(cells(table, k)[1].startswith("Connecting") for k in table.shown_keys)
            gate.set()
            await until(pilot, lambda: [cells(table, k)[1] for k in table.shown_keys] == ["Ready", "Ready"])
    finally:
        await fleet.close()
        store.close()


async def test_cordon_drain_uncordon_a_node(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 3)
    table.select_key("sim-1")
    await pilot.press("c")
    await until(pilot, lambda: cells(table, "sim-1")[1] == "Ready (cordoned)")
    await pilot.press("D")
    await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    await pilot.click("#confirm")
    await until(pilot, lambda: cells(table, "sim-1")[1] == "Ready (draining)")
    await until(pilot, lambda: not [r for r in ctl.query().replicas() if r.node == "sim-1"
                                    and r.service != "agent"], timeout=10, what="sim-1 drained")
    assert len(ctl.query().replicas("api")) == 3  # moved, not lost
    await pilot.press("U")
    await until(pilot, lambda: cells(table, "sim-1")[1] == "Ready")
    await until(pilot, lambda: any("uncordoned" in n for n in notes(app)))


async def test_undo_and_pause_from_the_keyboard(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    await ctl.apply(manifest())
    await ctl.rollout_restart("cache")  # revision 2
    async with open_console(ctl, sim, config(tmp_path)) as (_, _, app, pilot):
        table = await services_view(pilot, app, "cache")
        assert "complete" in cells(table, "cache")[4]
        await pilot.press("p")  # nothing to pause: one sentence from the controller
        await until(pilot, lambda: any(n.severity == "error" and "cache" in n.message
                                       for n in app._notifications), what="the pause error")
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")

        def undone() -> bool:
            ro = ctl.rollout_status("cache")
            return ro is not None and ro.kind == "undo" and not ro.active

        await until(pilot, undone, timeout=20, what="the undo")
        await until(pilot, lambda: cells(table, "cache")[3] == "1")  # back at revision 1
        assert all(r.revision == 1 for r in ctl.query().replicas("cache"))


async def test_a_node_that_is_not_ready_shows_why_in_full(fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    reason = "network cut: the top-of-rack switch in row 4 lost power; ask the data centre"
    ctl.query().node("sim-3").fail(reason)
    async with open_console(ctl, sim, config(tmp_path)) as (_, _, app, pilot):
        table = app.main.current.table
        await until(pilot, lambda: table.row_count == 3)
        table.select_key("sim-3")
        await pilot.pause()
        shown = lambda: str(app.main.current.query_one("#node-replicas").render()).replace("\n", " ")  # noqa: E731
        await until(pilot, lambda: "ask the data centre" in shown(), what="the whole reason")


async def test_a_view_switched_to_is_drawn_at_once_then_brought_up_to_date(deployed: Console) -> None:
    """Hidden views are kept up to date between redraws (refresh_hidden); a view switched to
    is drawn with the rows it has and made current right after that frame. The deterministic
    config has no once-a-second redraw: only that catch-up can bring the new rows."""
    ctl, sim, app, pilot = deployed
    await command(pilot, "rs")
    replicas = app.main.view("replicas")
    await until(pilot, lambda: replicas.table.row_count == 8)
    await command(pilot, "nodes")
    await ctl.scale("api", 5)
    for _ in range(3):  # one hidden view per call, the one that waited longest
        app.main.refresh_hidden()
    assert replicas.table.row_count == 10  # while hidden
    await ctl.scale("api", 4)
    await command(pilot, "rs")
    assert shown(app) == "replicas"
    await until(pilot, lambda: replicas.table.row_count == 9, timeout=3.0, redraw=False,
                what="the replicas view brought up to date after the switch")
    crumb = str(app.main.query_one("#crumbs").render())
    assert "replicas  (9 of 9)  row 1" in crumb
    # a view not shown yet opens on its first row, however rows came before it meanwhile
    events = app.main.view("events")
    app.main.events_view.add(event("note", "first"))
    for _ in range(3):
        app.main.refresh_hidden()
    for i in range(5):
        app.main.events_view.add(event("note", f"later {i}"))
        for _ in range(3):
            app.main.refresh_hidden()
    await command(pilot, "ev")
    assert events.table.cursor_row == 0
    assert "later 4" in str(cells(events.table, events.table.selected_key()))  # the newest
    # a drill down needs other rows: they are made before the view is drawn
    await command(pilot, "nodes")
    await pilot.press("enter")  # sim-1's replicas
    await pilot.pause()
    assert replicas.scope == ("node", "sim-1")
    assert {cells(replicas.table, k)[2] for k in replicas.table.shown_keys} == {"sim-1"}


async def test_the_footer_holds_still_while_the_prompt_is_open(console: Console) -> None:
    """The prompt takes the letter keys; the footer keeps listing them rather than being
    rebuilt on opening and closing (the same key widgets throughout)."""
    from textual.widgets._footer import FooterKey

    ctl, sim, app, pilot = console
    await pilot.pause()
    footer = app.main.query_one(StableFooter)
    keys = list(footer.query(FooterKey))
    assert "help" in [k.description for k in keys]
    await pilot.press("colon")
    await pilot.pause()
    assert app.main.prompt_mode == ":"
    assert list(footer.query(FooterKey)) == keys
    await pilot.press("escape")
    await pilot.pause(0.1)
    assert not app.main.prompt_mode
    assert list(footer.query(FooterKey)) == keys


async def test_a_drill_down_starts_on_the_first_row(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await command(pilot, "rs")
    await until(pilot, lambda: app.main.current.table.row_count == 8)
    await pilot.press("down", "down", "down", "down", "down")
    await services_view(pilot, app, "api")
    await pilot.press("enter")
    await until(pilot, lambda: app.main.current.scope == ("service", "api"))
    replicas = app.main.current.table
    await until(pilot, lambda: replicas.row_count == 3)
    first = sorted(r.key for r in ctl.query().replicas("api"))[0]
    assert (replicas.cursor_row, replicas.selected_key()) == (0, first)


async def test_help_says_what_ctrl_c_does(console: Console) -> None:
    ctl, sim, app, pilot = console
    await until(pilot, lambda: app.main is not None and app.main.is_mounted)
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen))
    said = [desc for key, desc, _ in app.screen.rows if key == "^c"]
    assert said and all(d.startswith("Quit") for d in said), said
    await pilot.press("escape", "ctrl+c")
    await until(pilot, lambda: not app.is_running, what="ctrl+c quits, as help says")


async def test_keys_typed_at_once_after_the_colon_go_to_the_prompt(deployed: Console) -> None:
    """A terminal delivers ':svc' + enter typed fast as keys in one read: the letters went to
    the table (the prompt had not taken the focus yet) and enter drilled into a node."""
    from textual import events

    ctl, sim, app, pilot = deployed
    await until(pilot, lambda: app.main is not None and app.main.current.table.row_count == 3)
    for key, char in (("colon", ":"), ("s", "s"), ("v", "v"), ("c", "c"), ("enter", "\r")):
        app.post_message(events.Key(key, char))  # no pause between them
    await until(pilot, lambda: shown(app) == "services" and app.main.current.scope is None,
                what="the services view")


async def test_keys_typed_at_once_after_the_scale_key_go_to_the_dialog(deployed: Console) -> None:
    """S, Backspace, 5, Enter in one read: the keys after S reached the table (the dialog was not
    open yet) and came back to the dialog's bindings only: Backspace emptied the field, the 5
    was lost, Enter refused an empty count."""
    from textual import events

    ctl, sim, app, pilot = deployed
    await services_view(pilot, app, "api")
    for key, char in (("S", "S"), ("backspace", None), ("5", "5"), ("enter", "\r")):
        app.post_message(events.Key(key, char))  # no pause between them
    await until(pilot, lambda: len(ctl.query().replicas("api")) == 5, what="api scaled to 5")
    assert app.screen is app.main


def test_the_header_is_two_lines_at_any_width():
    """A first line wider than the terminal used to wrap and push the cpu/memory line out of
    the two-line header (80x24, and at 120 columns with a controller named)."""
    import dataclasses

    from rich.console import Console

    from tui_orch.ui.data import FleetSummary
    from tui_orch.ui.widgets import header_text

    zero = {f.name: 0 for f in dataclasses.fields(FleetSummary)}
    s = FleetSummary(**{**zero, "nodes_ready": 2, "nodes_total": 3, "services_total": 12, "services_healthy": 11,
                        "rollouts_active": 1, "restarts_hour": 14, "cpu_allocatable": 96.0, "cpu_total": 96.0,
                        "cpu_used": 31.5, "cpu_allocated": 40.0, "mem_allocatable": 384 << 30,
                        "mem_total": 384 << 30, "mem_used": 200 << 30, "mem_allocated": 100 << 30})
    for width in (200, 160, 120, 100, 80, 60):
        text = header_text(s, "23:16:22", "build-host-7 pid 123456 since 2026-12-06 23:15", width)
        first, second = text.plain.split("\n")
        lines = text.wrap(Console(width=width), width)
        assert len(lines) == 2, (width, text.plain)
        assert "2/3" in first and "cpu" in second and ("mem" in second), (width, text.plain)
        if width >= 100:
            assert len(first) <= width and "pid 123456" in first, (width, first)
        if width >= 200:
            assert "restarts 14 in the last hour" in first and "since 2026-12-06 23:15" in first
    # a controller word longer than any variant leaves room for (an etcd problem said there):
    # each line is cut to the width itself, since a Static wraps a long line whatever the Text says
    long = "etcd has no quorum (etcd does not answer: http://127.0.1.1:2379: timed out; http://127.0.1.2:2379: refused)"
    for width in (120, 80):
        lines = header_text(s, "23:16:22", long, width).plain.split("\n")
        assert len(lines) == 2 and all(len(line) <= width for line in lines), (width, lines)
        assert lines[0].endswith("…") and "cpu" in lines[1]


async def test_a_key_the_busy_table_hands_back_after_the_prompt_took_the_focus_is_the_prompt_s(
        deployed: Console) -> None:
    """':pf' + enter typed fast while the console was busy: the f had been sent to the table
    before the prompt took the focus and came back up once the prompt had it; it was dropped
    (the prompt no longer looked for keys) and ':p' ran: 'unknown command :p'."""
    from textual import events

    ctl, sim, app, pilot = deployed
    await until(pilot, lambda: app.main is not None and app.main.current.table.row_count == 3)
    table = app.main.current.table
    prompt = app.main.query_one("#prompt", Input)
    handle_key = table.handle_key

    async def busy(event: events.Key) -> bool:  # the table is slow to hand the f back
        for _ in range(100):
            if event.key != "f" or prompt.has_focus:
                break
            await asyncio.sleep(0.01)
        return await handle_key(event)

    table.handle_key = busy  # type: ignore[method-assign]
    for key, char in (("colon", ":"), ("p", "p"), ("f", "f")):
        app.post_message(events.Key(key, char))  # no pause between them
    await until(pilot, lambda: prompt.value == "pf", what="'pf' in the prompt")
