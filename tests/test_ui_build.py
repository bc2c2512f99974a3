"""A service with ``build:`` deployed from the console (simulated nodes; the engine's build is
the stand-in of tests/test_controller_building.py): the build's progress shows as
notifications (where it builds, each step, the image it gave), and a failed build is one error
notification with the build's own error, nothing deployed."""

from __future__ import annotations

from pathlib import Path

from test_controller_building import FakeEngine, write
from tui_orch.controller import Controller
from tui_orch.nodes.sim.simulator import Simulator
from ui_support import config, deploy_from_dialog, fleet, notes, open_console, until  # noqa: F401


async def test_a_build_shows_its_progress_and_a_failed_one_its_error(
        fleet: tuple[Controller, Simulator], tmp_path: Path, monkeypatch) -> None:
    engine = FakeEngine(monkeypatch)
    path = write(tmp_path)
    ctl, sim = fleet
    async with open_console(ctl, sim, config(tmp_path, examples_dir=tmp_path)) as (_, _, app, pilot):
        await deploy_from_dialog(pilot, path)
        await until(pilot, lambda: len(ctl.query().replicas("web")) == 2, what="2 replicas")
        await until(pilot, lambda: "built web: shop-web:latest-111111111111" in notes(app))
        assert [n for n in notes(app) if "web" in n and "deploy" not in n] == [
            "building web as shop-web on this machine", "web | Step 1/1 : FROM tuiorch/busybox:1",
            "built web: shop-web:latest-111111111111"]
        app.clear_notifications()
        engine.fail = "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        (tmp_path / "app" / "Dockerfile").write_text("FROM tuiorch/busybox:1\nRUN exit 3\n")
        await deploy_from_dialog(pilot, path)
        await until(pilot, lambda: any("non-zero code: 3" in n for n in notes(app)), what="the error")
        errors = [n for n in notes(app) if "non-zero code: 3" in n]
        assert len(errors) == 1 and "the build of web failed on this machine" in errors[0], notes(app)
        assert ctl.query().spec("web").image == "shop-web:latest-111111111111"
