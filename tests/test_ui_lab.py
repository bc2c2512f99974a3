"""The console on the lab's real nodes: the nodes view lists node1..node3, Ready."""

from __future__ import annotations

from pathlib import Path

from controller_support import controller, prefix
from tui_orch.ui.app import OrchApp
from tui_orch.ui.config import UiConfig
from ui_support import SIZE, cells, until


async def test_the_console_lists_the_lab_nodes_ready(lab, tmp_path: Path) -> None:
    async with controller(lab, tmp_path / "state", prefix()) as (ctl, store, fleet):
        app = OrchApp(ctl, UiConfig(deterministic=True, themes_dir=tmp_path / "themes"))
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
