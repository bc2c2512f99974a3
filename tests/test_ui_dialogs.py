"""The console's dialogs, driven from the keyboard in a tiny host app: confirm (Cancel is the
default), scale (validated), trust (fingerprint, known_hosts; on the lab), deploy (file list,
path completion, the plan of a real dry run on simulated nodes, manifest errors as text)."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import App
from textual.screen import Screen
from textual.widgets import Button, Input, Label, OptionList, Static

from nodes_support import fingerprint_of, specs, wait_for
from tui_orch.controller import Controller
from tui_orch.errors import HostKeyChanged, TuiOrchError
from tui_orch.inventory import Inventory
from tui_orch.manifest import load_manifest
from tui_orch.model import NodeSpec, Resources
from tui_orch.nodes.fleet import Fleet
from tui_orch.nodes.sim.simulator import Simulator, set_default_simulator
from tui_orch.store import open_store
from tui_orch.ui.dialogs import (
    ConfirmDialog,
    DeployDialog,
    ScaleDialog,
    TrustDialog,
    complete_path,
    parse_replicas,
)
from tui_orch.nodes.hostkeys import fetch_fingerprint, fetch_offer, trust_node

GIB = 1 << 30
SIZE = (120, 40)


class Host(App[None]):
    """Opens one dialog and keeps what it returned."""

    def __init__(self, dialog: Screen[Any]):
        super().__init__()
        self.dialog = dialog
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


def text_of(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def closed(pilot: Any, app: Host) -> Any:
    await wait_for(lambda: app.results, timeout=5)
    await pilot.pause()
    assert app.screen is not app.dialog
    return app.results[0]


# --------------------------------------------------------------------------- confirm


@pytest.mark.parametrize("keys, answer", [
    (["enter"], False),  # Cancel has the focus: enter right away cancels
    (["escape"], False),
    (["n"], False),
    (["y"], True),
    (["tab", "enter"], True),  # move to the confirm button, press it
])
async def test_confirm_dialog_defaults_to_cancel(keys: list[str], answer: bool) -> None:
    app = Host(ConfirmDialog("Remove service web and stop its 3 replicas?", confirm_label="Remove"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert text_of(app.screen, "#question") == "Remove service web and stop its 3 replicas?"
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        assert str(app.screen.query_one("#confirm", Button).label) == "Remove"
        await pilot.press(*keys)
        assert await closed(pilot, app) is answer


async def test_confirm_bindings_have_ids() -> None:
    ids = {b.id for b in ConfirmDialog.BINDINGS}  # type: ignore[union-attr]
    assert {"dialog.cancel", "dialog.yes", "dialog.no"} <= ids


# --------------------------------------------------------------------------- scale


def test_parse_replicas() -> None:
    assert parse_replicas(" 7 ") == 7 and parse_replicas("0") == 0 and parse_replicas("1000") == 1000
    for bad, says in [("", "type the number of replicas"), ("two", "'two' is not a whole number"),
                      ("1.5", "not a whole number"), ("-1", "-1 is out of range"), ("10001", "10001 is out of range")]:
        with pytest.raises(ValueError, match=says):
            parse_replicas(bad)


async def test_scale_dialog_validates_and_returns_the_count() -> None:
    app = Host(ScaleDialog("web", 3))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        entry = app.screen.query_one("#replicas", Input)
        assert entry.value == "3" and app.focused is entry
        await pilot.press("1", "0", "0", "0", "1")  # replaces the current count
        await pilot.pause()
        assert "10001 is out of range; type 0 to 10000" in text_of(app.screen, "#message")
        assert app.screen.query_one("#scale", Button).disabled
        await pilot.press("enter")  # refused: the dialog stays
        await pilot.pause()
        assert app.results == [] and app.screen is app.dialog
        await pilot.press("backspace", "backspace", "backspace", "backspace", "x")
        await pilot.pause()
        assert "'1x' is not a whole number" in text_of(app.screen, "#message")
        await pilot.press("backspace", "2", "enter")
        assert await closed(pilot, app) == 12


async def test_scale_dialog_keeps_keys_typed_at_once_in_their_order() -> None:
    """Backspace then a digit 20 ms apart or less: Textual ran Backspace (a binding) after the
    digit was inserted, so "13" became "" rather than "5"."""
    app = Host(ScaleDialog("web", 13))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key, char in (("end", None), ("backspace", None), ("backspace", None), ("5", "5"), ("enter", "\r")):
            app.post_message(events.Key(key, char))  # no pause between them
        assert await closed(pilot, app) == 5


async def test_scale_dialog_escape_returns_none() -> None:
    app = Host(ScaleDialog("web", 3))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "escape")
        assert await closed(pilot, app) is None


# --------------------------------------------------------------------------- trust


FP = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"


@pytest.mark.parametrize("keys, answer", [(["enter"], False), (["escape"], False), (["y"], True),
                                          (["tab", "enter"], True)])
async def test_trust_dialog_shows_the_fingerprint_and_defaults_to_cancel(keys: list[str], answer: bool) -> None:
    app = Host(TrustDialog("node1", "127.0.0.2:2222", FP, "ssh-ed25519", known_hosts="/tmp/kh"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert text_of(app.screen, "#fingerprint") == FP
        shown = " ".join(str(s.content) for s in app.screen.query(Static))
        assert "node1 (127.0.0.2:2222) presents the ssh-ed25519 host key" in shown
        assert "Trusting adds this key to /tmp/kh" in shown
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        await pilot.press(*keys)
        assert await closed(pilot, app) is answer


async def test_trust_dialog_of_a_jump_host_names_the_hop_and_the_node_behind_it() -> None:
    app = Host(TrustDialog("node3", "bastion.example.org:2200", FP, "ssh-ed25519", known_hosts="/tmp/kh",
                           hop="jump host bastion.example.org"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        title = str(app.screen.query_one("#trust-title", Label).content)
        assert title == "Trust the host key of jump host bastion.example.org for node node3?"
        assert text_of(app.screen, "#presenter") == ("jump host bastion.example.org (bastion.example.org:2200), "
                                                     "through which node3 is reached, presents the ssh-ed25519 "
                                                     "host key with fingerprint")
        assert text_of(app.screen, "#fingerprint") == FP
        await pilot.press("y")
        assert await closed(pilot, app) is True


def _lab_spec(lab, known_hosts: Path) -> NodeSpec:
    return dataclasses.replace(specs(lab)["node1"], known_hosts=str(known_hosts))


async def test_fetch_fingerprint_and_trust_node_record_the_key_seen(lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    spec = _lab_spec(lab, known)
    fingerprint, key_type = await fetch_fingerprint(spec)
    assert fingerprint == fingerprint_of(lab.node(1).host_key_pub) and key_type == "ssh-ed25519"
    message = await trust_node(spec, fingerprint)
    assert message == f"node1 (127.0.0.2:2222): trusted host key {fingerprint}, recorded in {known}"
    kind, key = lab.node(1).host_key_pub.read_text().split()[:2]
    assert known.read_text() == f"[127.0.0.2]:2222 {kind} {key}\n"
    assert "already trusted" in await trust_node(spec)
    assert known.read_text().count("\n") == 1


async def test_trust_node_refuses_a_key_other_than_the_one_accepted(lab, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    with pytest.raises(TuiOrchError, match="nothing was written"):
        await trust_node(_lab_spec(lab, known), FP)
    assert not known.exists()


async def test_a_changed_key_stays_refused(lab, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    kind, key = lab.node(2).host_key_pub.read_text().split()[:2]
    wrong.write_text(f"[127.0.0.2]:2222 {kind} {key}\n")
    before = wrong.read_text()
    spec = _lab_spec(lab, wrong)
    with pytest.raises(HostKeyChanged, match="HOST KEY CHANGED"):
        await fetch_fingerprint(spec)
    with pytest.raises(HostKeyChanged):
        await trust_node(spec)
    assert wrong.read_text() == before


async def test_the_key_offered_first_is_the_jump_hosts_and_trusting_it_records_that_hop_only(
        lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both keys unknown, the jump host's and the node's: the console's dialog is offered the jump
    host's (host, port, hop) and trusting it records that line; trust_node used to call that a
    refusal ("the host now presents ...") because the node's own key came next."""
    from test_nodes_sshsetup import key_line, sshd

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config of this machine's
    known = tmp_path / "known_hosts"
    with sshd(tmp_path / "jump", "127.0.0.37", lab.authorized_keys) as jump:
        spec = dataclasses.replace(specs(lab)["node1"], known_hosts=str(known), proxy_jump="root@127.0.0.37:2222")
        offer = await fetch_offer(spec)
        assert (offer.jump, offer.hop, offer.host, offer.port) == (True, "jump host 127.0.0.37", "127.0.0.37", 2222)
        assert offer.fingerprint == fingerprint_of(jump.host_key_pub) and offer.file == str(known)
        message = await trust_node(spec, offer.fingerprint)
        assert message == (f"node1: jump host 127.0.0.37 (127.0.0.37:2222): trusted host key {offer.fingerprint}, "
                           f"recorded in {known}\nnode1 (127.0.0.2:2222): not trusted; nothing was written to {known}")
        assert known.read_text() == key_line("[127.0.0.37]:2222", jump.host_key_pub)
        offer = await fetch_offer(spec)  # the next key the console offers: the node's own
        assert not offer.jump and offer.fingerprint == fingerprint_of(lab.node(1).host_key_pub)
        await trust_node(spec, offer.fingerprint)
        assert known.read_text() == (key_line("[127.0.0.37]:2222", jump.host_key_pub)
                                     + key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub))


async def test_nodes_without_ssh_have_no_key_to_trust() -> None:
    with pytest.raises(TuiOrchError, match="sim-1 is reached without SSH"):
        await fetch_fingerprint(NodeSpec(name="sim-1", simulated=True))
    with pytest.raises(TuiOrchError, match="here is reached without SSH"):
        await trust_node(NodeSpec(name="here", local=True))


# --------------------------------------------------------------------------- deploy

WEB = """\
    services:
      web:
        image: nginx:1.27
        deploy:
          replicas: 3
          resources: {reservations: {cpus: "0.25", memory: 64m}}
    """
HUGE = """\
    services:
      huge:
        image: nginx:1.27
        deploy:
          replicas: 1
          resources: {reservations: {cpus: "64", memory: 64m}}
    """
BROKEN = """\
    services:
      web:
        image: nginx:1.27
        deploy:
          replicas: many
    """


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "web.yaml").write_text(textwrap.dedent(WEB))
    (folder / "huge.yml").write_text(textwrap.dedent(HUGE))
    (folder / "broken.yaml").write_text(textwrap.dedent(BROKEN))
    (folder / "nodes.yaml").write_text("nodes:\n  - name: a\n")  # an inventory, not a manifest
    (folder / "sub").mkdir()
    return folder


@pytest.fixture
async def controller(tmp_path: Path) -> AsyncIterator[Controller]:
    sim = Simulator(seed=5, frozen=True, noise=False, start_time=1_767_225_600.0)
    old = set_default_simulator(sim)
    fleet = Fleet(Inventory(nodes=tuple(NodeSpec(name=f"sim-{i}", simulated=True, capacity=Resources(2, 4 * GIB))
                                        for i in range(2))))
    store = open_store(tmp_path / "state")
    try:
        await fleet.start()
        ctl = Controller(store, fleet)
        try:
            yield ctl
        finally:
            await ctl.close()
    finally:
        await fleet.close()
        store.close()
        set_default_simulator(old)


def preview_of(ctl: Controller):
    async def preview(path: Path):
        return await ctl.apply(load_manifest(path), dry_run=True)
    return preview


def plan_shown(app: App[Any]) -> str:
    return str(app.screen.query_one("#plan", Static).content)


async def test_deploy_lists_the_manifests_and_shows_the_plan_of_the_one_picked(
        examples: Path, controller: Controller) -> None:
    app = Host(DeployDialog(examples, preview_of(controller)))
    async with app.run_test(size=SIZE) as pilot:
        files = app.screen.query_one("#files", OptionList)
        await wait_for(lambda: files.option_count == 3)
        assert [files.get_option_at_index(i).prompt for i in range(3)] == ["broken.yaml", "huge.yml", "web.yaml"]
        deploy = app.screen.query_one("#deploy", Button)
        assert deploy.disabled
        files.focus()
        await pilot.press("end", "enter")  # web.yaml
        await wait_for(lambda: "Plan for web.yaml" in plan_shown(app))
        plan = plan_shown(app)
        assert "3 to start" in plan
        assert plan.count(" -> sim-") == 3  # each replica -> its node
        assert not deploy.disabled and app.focused is deploy
        assert app.screen.query_one("#path", Input).value == str(examples / "web.yaml")
        await pilot.press("enter")
        assert await closed(pilot, app) == examples / "web.yaml"
    assert controller.query().spec("web") is None  # a preview deploys nothing


async def test_deploy_shows_what_cannot_be_placed_and_why(examples: Path, controller: Controller) -> None:
    app = Host(DeployDialog(examples, preview_of(controller), start=examples / "huge.yml"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: "cannot be placed" in plan_shown(app))
        plan = plan_shown(app)
        assert "huge" in plan and "1 replica(s) cannot be placed" in plan
        assert "cpu" in plan  # the reason names the resource that is short
        await pilot.press("escape")
        assert await closed(pilot, app) is None


async def test_a_bad_manifest_is_shown_as_text_and_deploy_stays_disabled(examples: Path, controller: Controller) -> None:
    app = Host(DeployDialog(examples, preview_of(controller)))
    async with app.run_test(size=SIZE) as pilot:
        files = app.screen.query_one("#files", OptionList)
        await wait_for(lambda: files.option_count == 3)
        files.focus()
        await pilot.press("home", "enter")  # broken.yaml, the first
        await wait_for(lambda: "cannot be deployed" in plan_shown(app))
        plan = plan_shown(app)
        assert f"{examples / 'broken.yaml'}:5:" in plan and "replicas" in plan  # file:line:col: key: message
        assert "Traceback" not in plan
        deploy = app.screen.query_one("#deploy", Button)
        assert deploy.disabled
        await pilot.click("#deploy")
        await pilot.pause()
        assert app.results == []


async def test_controller_errors_and_bad_paths_are_sentences(examples: Path) -> None:
    asked: list[Path] = []

    async def refuses(path: Path):
        asked.append(path)
        raise TuiOrchError("the state folder is read-only; open the console without --readonly")

    app = Host(DeployDialog(examples, refuses))
    async with app.run_test(size=SIZE) as pilot:
        entry = app.screen.query_one("#path", Input)
        entry.focus()
        entry.value = str(examples / "web.yaml")
        await pilot.press("enter")
        await wait_for(lambda: examples / "web.yaml" in asked)
        await pilot.pause()
        assert plan_shown(app) == "the state folder is read-only; open the console without --readonly"
        entry.value = str(examples / "absent.yaml")
        await pilot.press("enter")
        await wait_for(lambda: "no such file" in plan_shown(app))
        entry.value = str(examples / "sub")
        await pilot.press("enter")
        await wait_for(lambda: "is a folder" in plan_shown(app))
        assert app.screen.query_one("#deploy", Button).disabled


async def test_editing_the_path_after_a_plan_disables_deploy(examples: Path, controller: Controller) -> None:
    app = Host(DeployDialog(examples, preview_of(controller), start=examples / "web.yaml"))
    async with app.run_test(size=SIZE) as pilot:
        deploy = app.screen.query_one("#deploy", Button)
        await wait_for(lambda: not deploy.disabled)
        app.screen.query_one("#path", Input).focus()
        await pilot.press("end", "x")
        await pilot.pause()
        assert deploy.disabled and app.screen.ready is None  # type: ignore[attr-defined]


def test_complete_path(examples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete_path(str(examples / "w")) == str(examples / "web.yaml")
    assert complete_path(str(examples / "h")) == str(examples / "huge.yml")
    assert complete_path(str(examples / "s")) == str(examples / "sub") + "/"
    assert complete_path(str(examples / "n")) == str(examples / "nodes.yaml")
    assert complete_path(str(examples / "zz")) is None
    assert complete_path(str(examples / "web.yaml")) is None  # nothing more to add
    assert complete_path(str(examples.parent / "exa")) == str(examples) + "/"
    monkeypatch.chdir(examples)
    assert complete_path("b") == "broken.yaml"
    monkeypatch.setenv("HOME", str(examples.parent))
    assert complete_path("~/examples/we") == "~/examples/web.yaml"  # what was typed is kept


async def test_tab_accepts_the_completion_in_the_path_input(examples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(examples.parent)

    async def never(path: Path):
        raise AssertionError("not planned yet")

    app = Host(DeployDialog(examples, never))
    async with app.run_test(size=SIZE) as pilot:
        entry = app.screen.query_one("#path", Input)
        entry.focus()
        await pilot.press("e", "x")
        await wait_for(lambda: entry._suggestion == "examples/")
        await pilot.press("tab")
        assert entry.value == "examples/"
        await pilot.press("w")
        await wait_for(lambda: entry._suggestion == "examples/web.yaml")
        await pilot.press("tab")
        assert entry.value == "examples/web.yaml" and app.focused is entry


async def test_typing_while_the_file_list_has_the_focus_goes_to_the_path(examples: Path, controller: Controller) -> None:
    app = Host(DeployDialog(examples, preview_of(controller)))
    async with app.run_test(size=SIZE) as pilot:
        files = app.screen.query_one("#files", OptionList)
        await wait_for(lambda: files.option_count == 3)
        files.focus()
        await pilot.press("/", "t", "m", "p")
        entry = app.screen.query_one("#path", Input)
        assert entry.has_focus and entry.value.endswith("/tmp"), entry.value


async def test_the_dialog_deploys_only_the_file_in_the_path_once_its_plan_is_shown(
        examples: Path, controller: Controller) -> None:
    """Tab x3 then a typed path and enter deployed the file browsed before (the focus sat,
    unseen, on Deploy): typed letters go to the path, enter plans it, Deploy is its own step."""
    app = Host(DeployDialog(examples, preview_of(controller)))
    async with app.run_test(size=SIZE) as pilot:
        files = app.screen.query_one("#files", OptionList)
        entry = app.screen.query_one("#path", Input)
        await wait_for(lambda: files.option_count == 3)
        assert entry.value == "" and plan_shown(app).startswith("Pick a manifest")  # nothing chosen yet
        files.focus()
        await pilot.press("end")  # browse web.yaml: its plan shows
        await wait_for(lambda: "Plan for web.yaml" in plan_shown(app))
        await pilot.press("tab", "tab", "tab")
        for char in str(examples / "huge.yml"):  # typed fast: no pause between the keys
            app.post_message(events.Key(char, char))
        await pilot.press("enter")
        await wait_for(lambda: "Plan for huge.yml" in plan_shown(app))
        assert entry.value == str(examples / "huge.yml") and app.results == []
        deploy = app.screen.query_one("#deploy", Button)
        await wait_for(lambda: app.focused is deploy)
        await pilot.press("enter")
        assert await closed(pilot, app) == examples / "huge.yml"
