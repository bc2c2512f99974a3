"""The console on simulated nodes, about the hosts behind it and what runs there without the
state's word: services the state does not know (unowned), the trust dialog of a jump host's
key, a node's connection warnings (a missing identity file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from tui_orch.controller import Controller
from tui_orch.nodes.sim.simulator import Simulator
from ui_support import (Console, cells, command, config, console, deployed, fleet, notes,  # noqa: F401
                        open_console, services_view, until)


async def test_an_unowned_service_is_shown_marked_and_never_counted_as_a_healthy_service(deployed: Console) -> None:
    """Containers of ours (the state's owner label) of a service the state does not know: the
    controller keeps them; the console shows them, marked unowned, as `get` does."""
    from tui_orch.controller.containers import LABEL_OWNER
    from tui_orch.nodes.base import LABEL_REPLICA, LABEL_SERVICE, ContainerRequest

    ctl, sim, app, pilot = deployed
    for slot, node in ((1, "sim-2"), (2, "sim-3")):
        labels = ((LABEL_OWNER, ctl.ctx.owner), (LABEL_SERVICE, "ghost"), (LABEL_REPLICA, f"ghost.{slot}"))
        await ctl.query().node(node).run_container(ContainerRequest(f"ghost-{slot}", "tuiorch/ghost:1", labels))
    await ctl.reconciler.full_pass()
    table = await services_view(pilot, app, rows=4)
    assert cells(table, "ghost")[:5] == ["ghost", "tuiorch/ghost:1", "-/2/-", "-",
                                         "unowned: not in this state, kept (restore the state, or remove it)"]
    header = str(app.main.query_one("#header").render())
    assert "3/3 healthy" in header  # the desired services only
    await command(pilot, "rs")
    replicas = app.main.current.table
    await until(pilot, lambda: replicas.row_count == 10, what="8 replicas and 2 unowned containers")
    assert cells(replicas, "ghost.2")[:4] == ["ghost", "ghost.2", "sim-3", "unowned"]
    assert sum(1 for c in ctl.query().node("sim-3").containers.values() if c.name == "ghost-2") == 1  # kept


async def test_the_trust_dialog_shows_the_jump_host_and_trusts_the_key_of_that_hop(console: Console) -> None:
    """The node's first unknown key is its jump host's: the dialog names that hop (host, port,
    type, fingerprint) and trusting hands that fingerprint on. The fleet's two SSH calls are
    stood in for (simulated nodes have no SSH; the lab tests in test_nodes_sshsetup.py walk a
    real jump host)."""
    from tui_orch.nodes.hostkeys import Offer
    from tui_orch.ui.dialogs import TrustDialog

    ctl, sim, app, pilot = console
    fp = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
    offer = Offer("sim-3", "jump host bastion", "ops@10.0.0.9:2200", fp, "ssh-ed25519", "/home/ops/kh",
                  "[10.0.0.9]:2200 ssh-ed25519 AAAA\n", "10.0.0.9", 2200, True)
    trusted: list[tuple[str, str | None]] = []

    async def host_key(name: str) -> Offer:
        return offer

    async def trust(name: str, fingerprint: str | None = None) -> str:
        trusted.append((name, fingerprint))
        return f"{name}: jump host bastion (10.0.0.9:2200): trusted host key {fingerprint}, recorded in /home/ops/kh"

    ctl.ctx.fleet.host_key, ctl.ctx.fleet.trust = host_key, trust  # type: ignore[method-assign]
    table = app.main.current.table
    await until(pilot, lambda: table.row_count == 3)
    table.select_key("sim-3")
    await pilot.press("t")
    await until(pilot, lambda: isinstance(app.screen, TrustDialog), what="the trust dialog")
    shown = " ".join(str(w.content) for w in app.screen.query(Static))
    assert "Trust the host key of jump host bastion for node sim-3?" in shown
    assert "jump host bastion (10.0.0.9:2200), through which sim-3 is reached, presents the ssh-ed25519" in shown
    assert fp in shown and "Trusting adds this key to /home/ops/kh" in shown
    await pilot.press("y")
    await until(pilot, lambda: trusted == [("sim-3", fp)], what="the trust of the key shown")
    await until(pilot, lambda: any("jump host bastion" in n and "trusted host key" in n for n in notes(app)))


async def test_a_missing_identity_file_is_shown_once_and_in_the_nodes_detail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenSSH warns about a missing IdentityFile and goes on with the other keys; so does the
    CLI. The console showed nothing: a node that then failed to log in gave no hint why."""
    from tui_orch.inventory import Inventory
    from tui_orch.model import NodeSpec
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.nodes.remote import RemoteNode
    from tui_orch.nodes.sim.node import SimulatedNode
    from tui_orch.store import open_store
    from ui_support import T0, inventory

    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config of this machine's
    missing = tmp_path / "keys" / "id_gone"
    far = NodeSpec(name="far", address="127.0.0.9", port=1, user="ops", identity_file=str(missing),
                   known_hosts=str(tmp_path / "known_hosts"))  # nothing listens there: Unreachable at once
    sim = Simulator(7, frozen=True, noise=False, start_time=T0)
    fleet = Fleet(Inventory(nodes=(*inventory(2).nodes, far)),
                  lambda spec: SimulatedNode(spec, sim) if spec.simulated else RemoteNode(spec, connect_timeout=2))
    store = open_store(tmp_path / "state")
    try:
        await fleet.start()
        ctl = Controller(store, fleet)
        async with open_console(ctl, sim, config(tmp_path)) as (_, _, app, pilot):
            table = app.main.current.table
            await until(pilot, lambda: table.row_count == 3)
            said = f"far: identity file {missing} does not exist; trying the other keys and ssh-agent"
            await until(pilot, lambda: said in notes(app), what="the warning as a notification")
            for _ in range(3):
                app.refresh_now()
                await pilot.pause()
            assert notes(app).count(said) == 1  # once, not at every redraw
            table.select_key("far")
            await pilot.pause()
            detail = lambda: str(app.main.current.query_one("#node-replicas").render()).replace("\n", " ")  # noqa: E731
            await until(pilot, lambda: f"identity file {missing} does not exist" in detail(), what="the detail")
    finally:
        await fleet.close()
        store.close()
