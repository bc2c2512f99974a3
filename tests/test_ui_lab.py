"""The console on the lab's real nodes: the nodes view lists node1..node3, Ready; a node with
an unknown host key is trusted from the console after the operator saw its fingerprint."""

from __future__ import annotations

from pathlib import Path

from controller_support import controller, prefix
from tui_orch.ui.app import OrchApp
from tui_orch.ui.settings import UiSettings
from ui_support import SIZE, cells, until


async def test_the_console_lists_the_lab_nodes_ready(lab, tmp_path: Path) -> None:
    async with controller(lab, tmp_path / "state", prefix()) as (ctl, store, fleet):
        app = OrchApp(ctl, UiSettings(deterministic=True, themes_dir=tmp_path / "themes"))
        async with app.run_test(size=SIZE) as pilot:
            table = app.main.current.table
            await until(pilot, lambda: table.shown_keys == ["node1", "node2", "node3"], timeout=15)
            for name in ("node1", "node2", "node3"):
                row = cells(table, name)
                assert row[0] == name and "SIMULATED" not in row[0]  # real nodes carry no marker
                assert row[1] == "Ready"
            await until(pilot, lambda: all(cells(table, n)[2] != "-" for n in ("node1", "node2", "node3")),
                        timeout=15, what="cpu bars from the live metrics")
            assert "3/3 Ready" in str(app.main.query_one("#header").render())
            # the three lab nodes are one machine: its cores are counted once in the header
            import os

            assert ctl.query().summary(0).cpu_total == os.cpu_count()


async def test_trusting_a_node_from_the_console(lab, tmp_path: Path) -> None:
    """node1 with an empty known_hosts: refused (HostKeyUnknown) until the operator presses
    `t`, reads the fingerprint the host presents, and trusts it; then it connects."""
    import dataclasses

    from nodes_support import fingerprint_of
    from tui_orch.controller import Controller
    from tui_orch.inventory import load_inventory
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.store import open_store
    from tui_orch.ui.dialogs import TrustDialog

    known = tmp_path / "known_hosts"
    known.write_text("")
    inv = load_inventory(lab.inventory)
    inv = dataclasses.replace(inv, nodes=tuple(dataclasses.replace(n, known_hosts=str(known))
                                               if n.name == "node1" else n for n in inv.nodes))
    store = open_store(tmp_path / "state")
    fleet = Fleet(inv)
    ctl = Controller(store, fleet)
    try:
        await fleet.start()
        app = OrchApp(ctl, UiSettings(deterministic=True, themes_dir=tmp_path / "themes"))
        async with app.run_test(size=SIZE) as pilot:
            table = app.main.current.table
            await until(pilot, lambda: table.row_count == 3, timeout=15)
            await until(pilot, lambda: cells(table, "node1")[1].startswith("HostKeyUnknown"), timeout=15,
                        what="node1 refused for its unknown host key")
            table.select_key("node1")
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TrustDialog), timeout=10)
            shown = str(app.screen.query_one("#fingerprint").render())
            assert shown == fingerprint_of(lab.node(1).host_key_pub)
            await pilot.press("y")
            await until(pilot, lambda: cells(table, "node1")[1] == "Ready", timeout=20, what="node1 Ready")
            assert "127.0.0.2" in known.read_text()
    finally:
        await ctl.close()
        await fleet.close()
        store.close()
