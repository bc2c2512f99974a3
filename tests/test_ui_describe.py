"""`d` describe, `y` the Compose text and `e` edit in $EDITOR, on simulated nodes, driven as an
operator does: the resolved spec and the change from the previous revision, why a replica is
on its node, a resource's own events, secrets by name only, the Compose text as applied (or
from disk, said so), search inside, esc back; `e` runs a real editor script on the file and
leads to the deploy dialog's plan, and applying it changes the service."""

from __future__ import annotations

import contextlib
import dataclasses
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button

from test_ui_snapshots import console as snap_console, fixed_time, run_before  # noqa: F401 (fixtures)
from tui_orch.manifest import Manifest, load_manifest
from tui_orch.ui.app import ReadonlyMainScreen
from tui_orch.ui.describe import TextScreen
from tui_orch.ui.dialogs import ConfirmDialog, DeployDialog
from ui_support import (SIZE, TWO_SERVICES, Console, command, config, deployed, fleet, manifest, notes, open_console,  # noqa: F401
                        services_view, until)

SECRET_VALUE = "s3cr3t-9c1e77-NEVER-SHOWN"
STACK = """\
secrets:
  db_password: {file: ./db_password.txt}
services:
  web:
    image: tuiorch/busybox:1
    # the front end
    environment: {DB_PASSWORD_FILE: /run/secrets/db_password, API_TOKEN: tok-123, MODE: prod}
    secrets: [db_password]
    ports: ["8080:80"]
    deploy:
      replicas: 2
      resources: {reservations: {cpus: "0.5", memory: 256m}}
      update_config: {monitor: 0s}
      placement: {constraints: ["node.labels.zone!=c"], preferences: [{spread: node.labels.zone}]}
  cache:
    image: tuiorch/redis:7
    deploy: {update_config: {monitor: 0s}}
"""


def stack(tmp_path: Path, text: str = STACK) -> Path:
    (tmp_path / "db_password.txt").write_text(SECRET_VALUE)
    path = tmp_path / "stack.yaml"
    path.write_text(text)
    return path


@contextlib.asynccontextmanager
async def on_stack(fleet, tmp_path: Path, select: str = "web", made: Callable[[Path], Manifest] = load_manifest,  # type: ignore[no-untyped-def]
                   **settings: Any) -> AsyncIterator[Console]:
    """The console once STACK (tmp_path/stack.yaml, read by ``made``) is applied, the services
    view's cursor on ``select``."""
    ctl, sim = fleet
    assert (await ctl.apply(made(stack(tmp_path)))).ok
    async with open_console(ctl, sim, config(tmp_path, **settings)) as opened:
        await services_view(opened.pilot, opened.app, select=select, rows=2)
        yield opened


def screen_text(app) -> str:  # type: ignore[no-untyped-def]
    assert isinstance(app.screen, TextScreen), app.screen
    return "\n".join(app.screen.lines)


async def open_with(pilot, key: str) -> str:  # type: ignore[no-untyped-def]
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, TextScreen), what=f"the screen of {key}")
    return screen_text(pilot.app)


async def test_describe_a_service_shows_its_spec_the_change_from_the_previous_revision_and_its_events(
        deployed: Console) -> None:
    ctl, _sim, app, pilot = deployed
    await ctl.apply(manifest(TWO_SERVICES_V2))
    await services_view(pilot, app, select="api")
    text = await open_with(pilot, "d")
    assert app.screen.title_text == "Describe service api"
    assert "── Spec (revision 2, as the controller uses it)" in text
    assert "  image: tuiorch/busybox:2" in text and "  replicas: 3" in text
    assert "      cpus: 0.5\n      memory: 256 MiB" in text  # reservations, as the scheduler counts them
    assert "── Change from revision 1 to 2\n  --- revision 1\n  +++ revision 2\n" in text
    assert "  -image: tuiorch/busybox:1\n  +image: tuiorch/busybox:2" in text
    assert "api: revision 2 from test.yaml" in text  # its own events
    assert "cache" not in text.split("── Events")[1]
    await pilot.press("escape")
    assert app.screen is app.main
    await ctl.rollout_undo("api")  # back to revision 1: the change is from where it came, 2
    text = await open_with(pilot, "d")
    assert "── Change from revision 2 to 1" in text and "  -image: tuiorch/busybox:2\n  +image: tuiorch/busybox:1" in text


async def test_describe_shows_secrets_by_name_only_and_hides_credentials(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with on_stack(fleet, tmp_path) as (ctl, _s, app, pilot):
        text = await open_with(pilot, "d")
        assert "secrets: [db_password -> /run/secrets/db_password]" in text
        assert "API_TOKEN: (hidden)" in text and "MODE: prod" in text and "tok-123" not in text
        assert SECRET_VALUE not in text and "db_password.txt" not in text
        digest = ctl.query().spec("web").secrets[0].digest
        assert digest and digest not in text and digest[:12] not in text
        assert "constraints: [node.labels.zone!=c]" in text and "preferences: [node.labels.zone]" in text
        await pilot.press("escape")
        text = await open_with(pilot, "y")
        assert SECRET_VALUE not in text and "tok-123" not in text and "API_TOKEN: (hidden)" in text
        await pilot.press("escape")
        # a new token and new secret bytes: the change says so, and shows neither
        (tmp_path / "db_password.txt").write_text(SECRET_VALUE + "-v2")
        (tmp_path / "stack.yaml").write_text(STACK.replace("tok-123", "tok-456"))
        assert (await ctl.apply(load_manifest(tmp_path / "stack.yaml"))).ok
        text = await open_with(pilot, "d")
        change = text.split("── Change from revision 1 to 2")[1].split("── Replicas")[0]
        assert "  -  API_TOKEN: (hidden)\n  +  API_TOKEN: (hidden)" in change
        assert "  # secret db_password: new content (not shown)" in change
        assert "tok-" not in text and SECRET_VALUE not in text


async def test_describe_a_node(deployed: Console) -> None:
    _ctl, _sim, app, pilot = deployed
    await until(pilot, lambda: app.main.current.table.row_count == 3)
    app.main.current.table.select_key("sim-2")
    text = await open_with(pilot, "d")
    assert app.screen.title_text == "Describe node sim-2"
    for line in ("node: sim-2 (simulated)", "state: Ready", "labels: zone=b", "capacity: 4 cpus, 8 GiB",
                 "availability: active"):
        assert f"  {line}" in text, line
    reps = _ctl.query().replicas_on("sim-2")
    assert f"── Replicas ({len(reps)})" in text and all(r.key in text for r in reps)


async def test_describe_a_replica_explains_its_placement(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with on_stack(fleet, tmp_path) as (ctl, _s, app, pilot):
        await command(pilot, "rs web")
        table = app.main.current.table
        await until(pilot, lambda: table.row_count == 2)
        table.select_key("web.1")
        rep = ctl.query().replica("web.1")
        text = await open_with(pilot, "d")
        assert f"  node: {rep.node}" in text and f"  container: {rep.container_id}" in text
        assert "  revision: 1 (current)" in text and "  health: " in text and "  restarts: 0" in text
        assert f"── Placement on {rep.node}" in text
        zone = {"sim-1": "a", "sim-2": "b"}[rep.node]  # zone c fails the constraint: never there
        assert f"  met  node.labels.zone!=c: node.labels.zone is {zone}" in text
        assert "  met  node Ready: Ready" in text
        assert "  cpu: 4 of 4 free without it, 3.5 with it (it reserves 0.5)" in text
        assert "  spread: 1 replica(s) of web here; 1-1 on each of the 1 other node(s) passing the filters" in text
        assert "  spread over node.labels.zone: this node's is " + zone in text
        assert "── Events" in text and "web.1" in text.split("── Events")[1]


async def test_describe_an_event_and_search_inside(deployed: Console) -> None:
    _ctl, _sim, app, pilot = deployed
    await command(pilot, "ev")
    table = app.main.current.table
    await until(pilot, lambda: table.row_count > 0)
    view = app.main.current
    key = next(str(seq) for seq, ev in view.events if ev.service == "api" and ev.replica)
    table.select_key(key)
    text = await open_with(pilot, "d")
    ev = view.event(key)
    assert f"  message: {ev.message}" in text and f"── replica {ev.replica}: Replica" in text
    screen = app.screen
    await pilot.press("slash", *"running", "enter")  # typed into the box: n is not the next match there
    assert "search 'running': match 1 of" in screen.status_text
    first = screen.match
    await pilot.press("n")
    assert screen.match > first or "wrapped" in screen.status_text
    await pilot.press("escape")  # clears the search first
    assert screen.needle == "" and app.screen is screen
    await pilot.press("escape")
    assert app.screen is app.main


async def test_yaml_shows_the_services_part_as_applied_even_after_the_file_changed(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async with on_stack(fleet, tmp_path) as (ctl, _s, app, pilot):
        path = tmp_path / "stack.yaml"
        path.write_text(STACK.replace("tuiorch/busybox:1", "tuiorch/busybox:9"))  # changed since, not applied
        await ctl.rollout_restart("web")  # revision 2, made by no apply: the text is revision 1's
        assert ctl.query().current_revision("web").number == 2
        text = await open_with(pilot, "y")
        assert text.startswith(f"# web: its part of {path}\n# as applied: revision 1, ")
        assert "services:\n  web:\n    image: tuiorch/busybox:1\n    # the front end\n" in text
        assert "cache" not in text and "busybox:9" not in text and "db_password.txt" not in text


async def test_yaml_of_a_revision_stored_without_its_text_is_read_from_disk_and_says_so(
        fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def older(path: Path) -> Manifest:  # as a state stored before texts were kept
        return dataclasses.replace(load_manifest(path), sections=())

    async with on_stack(fleet, tmp_path, select="cache", made=older) as (_ctl, _s, app, pilot):
        text = await open_with(pilot, "y")
        assert "# read from disk now" in text and "not kept when it was applied" in text
        assert "  cache:\n    image: tuiorch/redis:7" in text
        await pilot.press("escape")
        (tmp_path / "stack.yaml").unlink()
        await pilot.press("y")
        await until(pilot, lambda: any("no Compose text to show" in n for n in notes(app)))
        assert app.screen is app.main


def editor_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app hands its terminal over as in a real terminal (a headless test app cannot)."""
    from tui_orch.ui.app import OrchApp

    monkeypatch.setattr(OrchApp, "suspend", lambda self: contextlib.nullcontext())


async def test_edit_runs_the_editor_then_shows_the_plan_and_applying_changes_the_service(
        fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: None) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EDITOR", editor_script(tmp_path, 'sed -i "s/replicas: 2/replicas: 3/" "$1"\n'))
    monkeypatch.delenv("VISUAL", raising=False)
    async with on_stack(fleet, tmp_path) as (ctl, _s, app, pilot):
        path = tmp_path / "stack.yaml"
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog), what="the deploy dialog")
        assert "replicas: 3" in path.read_text()
        button = app.screen.query_one("#deploy", Button)
        await until(pilot, lambda: not button.disabled, what="the plan of the edited file")
        assert "web" in str(app.screen.query_one("#plan").content)
        await pilot.click("#deploy")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert app.screen.focused is app.screen.query_one("#cancel")  # Cancel is the default
        await pilot.click("#confirm")
        await until(pilot, lambda: len(ctl.query().replicas("web")) == 3, what="the third replica")
        assert ctl.query().current_revision("web").number == 2
        assert "replicas: 3" in ctl.query().current_revision("web").compose


@pytest.mark.parametrize(("body", "said"), [
    ("exit 0\n", "stack.yaml is unchanged: nothing to deploy"),
    ("exit 3\n", "edit stack.yaml: the editor ({script}) ended with exit code 3; nothing was deployed"),
    (None, "edit stack.yaml: cannot open an editor: /nonexistent/vim is not installed on this machine; "
           "set $EDITOR to your editor; nothing was deployed"),
])
async def test_edit_unchanged_or_failed_says_so_once_and_deploys_nothing(
        fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: None, body: str | None,
        said: str) -> None:  # type: ignore[no-untyped-def]
    script = editor_script(tmp_path, body) if body is not None else "/nonexistent/vim"
    monkeypatch.setenv("EDITOR", script)
    monkeypatch.delenv("VISUAL", raising=False)
    async with on_stack(fleet, tmp_path) as (ctl, _s, app, pilot):
        await pilot.press("e")
        await pilot.pause()
        assert notes(app) == [said.format(script=script)]
        assert app.screen is app.main and ctl.query().current_revision("web").number == 1


async def test_edit_is_not_bound_read_only_while_describe_and_yaml_are(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = {b.id for b in ReadonlyMainScreen.BINDINGS if hasattr(b, "id")}
    assert "edit" not in keys and {"describe", "yaml"} <= keys
    async with on_stack(fleet, tmp_path, readonly=True) as (_ctl, _s, app, pilot):
        await pilot.press("e")
        await pilot.pause()
        assert app.screen is app.main and notes(app) == []
        text = await open_with(pilot, "y")
        assert "  web:" in text


# ---------------------------------------------------------------------- snapshots
@pytest.fixture
def demo_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest's folder (its project's name, which names its networks) is the same on every machine."""
    (tmp_path / "demo").mkdir()
    monkeypatch.chdir(tmp_path / "demo")


def test_describe_service_screen(snap_compare, snap_console, demo_folder) -> None:  # type: ignore[no-untyped-def]
    app, setup = snap_console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"svc api", "enter", "d"))


def test_describe_replica_screen(snap_compare, snap_console, demo_folder) -> None:  # type: ignore[no-untyped-def]
    app, setup = snap_console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"rs api", "enter", "d"))


def test_yaml_screen(snap_compare, snap_console, demo_folder) -> None:  # type: ignore[no-untyped-def]
    app, setup = snap_console
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before(setup, "colon", *"svc api", "enter", "y"))


TWO_SERVICES_V2 = TWO_SERVICES.replace("image: tuiorch/busybox:1", "image: tuiorch/busybox:2", 1)  # api's
