"""The last hour of cpu and memory per node and per service: the history's rings and file
(controller/usage.py), the braille chart (ui/chart.py), and the plot screen (`g`) on the
simulated fleet, its samples kept across a restart of the console."""

from __future__ import annotations

import math
import stat
import zlib
from pathlib import Path

import numpy as np

from tui_orch.controller import Controller
from tui_orch.controller.usage import RES, SLOTS, UsageHistory, load, node_key, service_key, write
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.ui.chart import braille_lines, nice_top, time_axis
from tui_orch.ui.plots import PlotScreen
from ui_support import T0, command, config, fleet, manifest, notes, open_console, until  # noqa: F401


def test_a_sample_lands_in_its_slot_and_skipped_slots_are_blank() -> None:
    h = UsageHistory()
    h.record(T0, {"node/a": (10.0, 20.0), "node/b": (1.0, 2.0)})
    h.record(T0 + RES, {"node/a": (30.0, 40.0)})  # b away
    h.record(T0 + 5 * RES, {"node/a": (50.0, 60.0)})  # the console was closed for 30 s
    cpu, mem = h.series("node/a", T0 + 5 * RES)
    assert len(cpu) == SLOTS and cpu[-6:-4] == [10.0, 30.0] and cpu[-1] == 50.0
    assert all(math.isnan(v) for v in cpu[-4:-1])
    assert mem[-1] == 60.0 and all(math.isnan(v) for v in cpu[:-6])
    b_cpu, _ = h.series("node/b", T0 + 5 * RES)
    assert b_cpu[-6] == 1.0 and all(math.isnan(v) for v in b_cpu[-5:])
    # an hour later the old slots are gone, and b, with no sample for an hour, is dropped
    h.record(T0 + (SLOTS + 6) * RES, {"node/a": (70.0, 80.0)})
    cpu, _ = h.series("node/a", T0 + (SLOTS + 6) * RES)
    assert cpu[-1] == 70.0 and sum(not math.isnan(v) for v in cpu) == 1
    assert "node/b" not in h.rows and len(h) == 1
    h.record(T0 + (SLOTS + 7) * RES, {"node/c": (5.0, 5.0)})  # its row reused, blank
    assert h.rows["node/c"] == 1 and sum(not math.isnan(v) for v in h.series("node/c", T0 + (SLOTS + 7) * RES)[0]) == 1


def test_the_file_round_trips_is_private_and_a_damaged_one_starts_afresh(tmp_path: Path) -> None:
    h = UsageHistory()
    for i in range(30):
        h.record(T0 + i * RES, {node_key(f"n{k}"): (float(i), 50.0) for k in range(1000)}
                 | {service_key("web"): (1.5, 0.25)})
    path = tmp_path / "state" / "console-usage.bin"
    write(path, h.snapshot())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size < 1_000_000  # 1,001 keys, an hour each
    back, problem = load(path)
    assert problem == "" and back.last == h.last and len(back) == 1001
    assert back.series("node/n7", T0 + 29 * RES)[0][-30:] == [float(i) for i in range(30)]
    assert back.series("service/web", T0 + 29 * RES)[1][-1] == 0.25
    path.write_bytes(zlib.compress(b'{"format":"tui-orch usage 1","res":10,"slots":360,"last":1,"keys":["a"],'
                                   b'"seen":[1]}\n' + b"\0" * 10))
    fresh, problem = load(path)
    assert len(fresh) == 0 and "is damaged" in problem and str(path) in problem
    path.write_bytes(b"not zlib")
    assert "is damaged" in load(path)[1]
    nothing, problem = load(tmp_path / "none.bin")
    assert len(nothing) == 0 and problem == ""


def test_a_braille_line_and_its_gaps() -> None:
    flat = braille_lines([50.0] * 10, 5, 2, 100.0)
    assert len(flat) == 2 and all(len(line) == 5 for line in flat)
    assert flat[0].strip() == "" or flat[1].strip() == ""  # one level: one of the two lines
    # 0 then 100 in one cell: the left column's bottom dot, then the right column joined all the way up
    assert braille_lines([0.0, 100.0], 1, 2, 100.0) == [chr(0x2800 + 0xB8), chr(0x2800 + 0xB8 + 0x40)]
    gap = braille_lines([10.0, math.nan, math.nan, 10.0], 2, 1, 100.0)
    assert gap[0][0] != " " and gap[0][1] != " "  # a point either side of the gap, nothing joined
    assert nice_top(3.2, 0.1) == 5 and nice_top(0.01, 0.1) == 0.1 and nice_top(0.11, 0.1) == 0.2 and nice_top(180, 1) == 200
    axis = time_axis(47, T0 + 3600, 3600).plain  # T0 is 00:00 UTC; the labels are local times
    assert len(axis) == 47 and axis.count(":") == 5


async def test_the_plot_shows_the_last_hour_and_keeps_it_across_a_restart(
        fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:  # noqa: F811
    ctl, sim = fleet
    await ctl.apply(manifest())
    await sim.advance(2)  # the replicas' first metrics
    now = [T0]
    usage = tmp_path / "state" / "console-usage.bin"
    settings = config(tmp_path, usage_file=usage, clock=lambda: now[0])
    async with open_console(ctl, sim, settings) as (_, _, app, pilot):
        await until(pilot, lambda: len(app.usage.history) > 0, what="the first sample")
        assert node_key("sim-1") in app.usage.history.rows and service_key("api") in app.usage.history.rows
        for _ in range(20):  # 200 s of samples, as the 10-second timer takes them
            now[0] += RES
            app.usage.record()
        await pilot.press("1", "g")
        await until(pilot, lambda: isinstance(app.screen, PlotScreen), what="the plot screen")
        screen = app.screen
        assert (screen.kind, screen.target) == ("node", "sim-1")
        drawn = str(screen.query_one("#cpu-plot").render())
        assert "cpu now" in drawn and "(21 of 360 samples)" in drawn
        assert any(0x2800 < ord(c) <= 0x28FF for c in drawn), drawn  # the braille line
        assert "100%┤" in drawn and "0%┤" in drawn
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        before = app.usage.history.series(node_key("sim-1"), now[0])
    assert usage.is_file() and stat.S_IMODE(usage.stat().st_mode) == 0o600  # written as the console closed

    now[0] += 3 * RES  # 30 s closed
    async with open_console(ctl, sim, settings) as (_, _, app, pilot):
        await until(pilot, lambda: app.usage.history.last == int(now[0] // RES), what="the history read back")
        cpu, _ = app.usage.history.series(node_key("sim-1"), now[0])
        assert np.allclose(cpu[-24:-3], before[0][-21:])  # the first console's samples (no NaN among them)
        assert all(math.isnan(v) for v in cpu[-3:-1]) and not math.isnan(cpu[-1])  # closed for 30 s: a gap
        await command(pilot, "svc")
        app.main.current.table.select_key("api")
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PlotScreen))
        assert (app.screen.kind, app.screen.target) == ("service", "api")
        assert "(22 of 360 samples)" in str(app.screen.query_one("#cpu-plot").render())


def test_a_console_closed_before_it_read_the_file_leaves_it_as_it_was(tmp_path: Path) -> None:
    from tui_orch.ui.usage import UsageKeeper

    path = tmp_path / "console-usage.bin"
    h = UsageHistory()
    h.record(T0, {"node/a": (1.0, 2.0)})
    write(path, h.snapshot())
    keeper = UsageKeeper(path, dict, lambda: T0 + RES)
    keeper.record()
    keeper.save_now()  # closing while the file is still being read: nothing written
    assert len(load(path)[0]) == 1
    assert keeper.open() == "" and len(keeper.history) == 1
    keeper.history.record(T0 + RES, {"node/b": (3.0, 4.0)})
    keeper.save_now()
    assert len(load(path)[0]) == 2


async def test_a_damaged_usage_file_is_said_once_and_the_plots_start_afresh(
        fleet: tuple[Controller, Simulator], tmp_path: Path) -> None:  # noqa: F811
    ctl, sim = fleet
    usage = tmp_path / "console-usage.bin"
    usage.write_bytes(b"garbage")
    async with open_console(ctl, sim, config(tmp_path, usage_file=usage)) as (_, _, app, pilot):
        await until(pilot, lambda: len(app.usage.history) > 0)
        assert [n for n in notes(app) if "usage history" in n] == [
            f"the usage history {usage} is damaged (Error -3 while decompressing data: incorrect header check); "
            "the plots start afresh"]
