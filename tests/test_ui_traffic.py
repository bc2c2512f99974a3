"""The console shows traffic (issue 13) on simulated nodes: a service that publishes an ingress
port (`ports: ["8080:80"]`) shows where clients reach it and how many of its replicas are in
rotation; each replica says whether it is in rotation; its drill down lists the addresses; a
replica that turns unhealthy shows `out`; the events view says who entered and left rotation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from textual.widgets import Static

from tui_orch.controller import Controller
from tui_orch.nodes.sim.simulator import Simulator
from ui_support import (cells, command, config, deploy_from_dialog, fleet, manifest,  # noqa: F401
                        open_console, services_view, until)

WEB = """
services:
  web:
    image: tuiorch/web:1
    ports: ["8080:80"]
    healthcheck: {test: ["CMD", "true"], interval: 1s, timeout: 1s, retries: 1}
    deploy: {replicas: 3}
  cache:
    image: tuiorch/redis:7
    deploy: {replicas: 1}
"""


@contextlib.asynccontextmanager
async def ticking(sim: Simulator, every: float = 0.05) -> AsyncIterator[None]:
    """The frozen simulator moved on a second every ``every`` s: health probes run."""
    async def tick() -> None:
        while True:
            await sim.advance(1)
            await asyncio.sleep(every)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def rotation_column(table) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: cells(table, k)[5] for k in table.shown_keys}


async def test_a_published_port_shows_its_address_and_replicas_in_rotation_and_an_unhealthy_one_out(
        fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:
    ctl, sim = fleet
    path = tmp_path / "web.yaml"
    path.write_text(WEB)
    async with ticking(sim), open_console(ctl, sim, config(tmp_path, examples_dir=tmp_path)) as opened:
        app, pilot = opened.app, opened.pilot
        await deploy_from_dialog(pilot, path)
        await until(pilot, lambda: len(ctl.query().replicas("web")) == 3, timeout=10, what="3 replicas of web")
        await ctl.start()  # the reconcile loop: a replica's health as its node reports it

        table = await services_view(pilot, app, rows=2)
        await until(pilot, lambda: cells(table, "web")[-1] == "3/3", what="3/3 in rotation")
        assert cells(table, "web")[-2] == "8080 on every node"
        assert cells(table, "cache")[-2:] == ["-", "-"]  # publishes no port: no address, no rotation

        await command(pilot, "rs")
        replicas = app.main.current.table
        await until(pilot, lambda: replicas.row_count == 4)
        assert rotation_column(replicas) == {"web.1": "in", "web.2": "in", "web.3": "in", "cache.1": "-"}

        # the drill down lists where the port answers: on simulated nodes, said to be simulated
        await services_view(pilot, app, select="web", rows=2)
        await pilot.press("enter")
        reach = app.main.current.query_one("#service-reach", Static)
        await until(pilot, lambda: reach.display, what="the addresses above web's replicas")
        text = str(reach.content)
        assert "SIMULATED" in text and "sim-1:8080, sim-2:8080, sim-3:8080" in text

        one = ctl.query().replica("web.1")
        ctl.query().node(one.node).make_unhealthy(one.container_id)  # type: ignore[union-attr]
        await until(pilot, lambda: rotation_column(replicas)["web.1"] == "out", timeout=5, what="web.1 out")
        assert rotation_column(replicas) == {"web.1": "out", "web.2": "in", "web.3": "in"}

        await pilot.press("escape")
        await until(pilot, lambda: cells(table, "web")[-1] == "2/3", what="2/3 in rotation")
        await command(pilot, "rs")
        await until(pilot, lambda: not reach.display, what="the replicas of every service: no addresses above")

        await command(pilot, "ev")
        events = app.main.current.table
        await until(pilot, lambda: any(cells(events, k)[4] == "web.1 leaves rotation" for k in events.shown_keys),
                    what="the event: web.1 leaves rotation")
        traffic = [cells(events, k) for k in events.shown_keys if cells(events, k)[2] == "traffic"]
        assert {c[4] for c in traffic} >= {"web.1 enters rotation", "web.2 enters rotation", "web.3 enters rotation"}


BOUND = """
services:
  web:
    image: tuiorch/web:1
    ports: ["8080:80", "127.0.0.1:8443:443", {target: 9000, published: 9000, mode: host}]
    deploy: {replicas: 3}
"""


async def test_a_replica_drained_before_its_stop_shows_draining(fleet: tuple[Controller, Simulator],
                                                                tmp_path: Path) -> None:
    ctl, sim = fleet
    assert (await ctl.apply(manifest(BOUND))).ok
    async with open_console(ctl, sim, config(tmp_path)) as opened:
        app, pilot = opened.app, opened.pilot
        table = await services_view(pilot, app, rows=1)
        await until(pilot, lambda: cells(table, "web")[-1] == "3/3")
        # only the ingress ports: the mode-host one answers on its replica's node alone
        assert cells(table, "web")[-2] == "8080, 127.0.0.1:8443 on every node"
        two = ctl.query().replica("web.2")
        ctl.ctx.rotation.draining.add(two.container_id)  # as traffic.drain marks it before a stop
        await until(pilot, lambda: cells(table, "web")[-1] == "2/3 1 draining", what="2/3 1 draining")
        await command(pilot, "rs")
        replicas = app.main.current.table
        await until(pilot, lambda: replicas.row_count == 3)
        assert rotation_column(replicas) == {"web.1": "in", "web.2": "draining", "web.3": "in"}
