"""The logs of a whole service, in the console on a simulated fleet: `l` on a service and `L`
on a replica stream every replica's lines interleaved, each prefixed by its replica in the
replica's colour; a replica that starts later joins, one that goes away says so once; the
regex filter and its highlighted matches; ctrl+s saves the shown lines."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Log

from tui_orch.ui.log_lines import replica_colour
from tui_orch.ui.logs import LogsScreen
from ui_support import Console, deployed, fleet, notes, services_view, until  # noqa: F401 (fixtures)

PREFIXED = re.compile(r"^(cache\.\d) \| (.*)$")


def shown(screen: LogsScreen) -> list[str]:
    return list(screen.query_one("#log", Log).lines)


def replicas_in(lines: list[str]) -> set[str]:
    return {m.group(1) for line in lines if (m := PREFIXED.match(line))}


async def open_service_logs(console: Console, service: str = "cache") -> LogsScreen:
    ctl, sim, app, pilot = console
    await services_view(pilot, app, service)
    await pilot.press("l")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))
    screen = app.screen
    assert isinstance(screen, LogsScreen)
    await until(pilot, lambda: replicas_in(shown(screen)) == {"cache.1", "cache.2"}, what="both replicas' lines")
    return screen


async def test_l_on_a_service_interleaves_its_replicas_prefixed_and_coloured(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    screen = await open_service_logs(deployed)
    title = str(screen.query_one("#logs-title").render())
    assert title == "Logs: service cache, every replica [SIMULATED]"
    before = len(shown(screen))
    assert all(PREFIXED.match(line) for line in shown(screen)), shown(screen)
    # timestamped as docker gave them, after the prefix
    assert all(re.match(r"cache\.\d \| 2026-01-01 00:\d\d:\d\d\.\d{3} ", line) for line in shown(screen))
    await sim.advance(5)  # both replicas write; their lines come in as they arrive
    await until(pilot, lambda: replicas_in(shown(screen)[before:]) == {"cache.1", "cache.2"}, what="new lines of both")
    assert "2 replicas streaming" in screen.status_text

    # one colour per replica, the same every time (by its slot)
    assert replica_colour("cache.1") != replica_colour("cache.2") == replica_colour("web.2")
    for line in shown(screen)[:1] + shown(screen)[-1:]:
        name = PREFIXED.match(line).group(1)  # type: ignore[union-attr]
        styles = {str(span.style) for span in screen.highlighter(Text(line)).spans if span.start == 0}
        assert styles == {f"bold {replica_colour(name)}"}

    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)


async def test_a_replica_that_starts_joins_and_one_that_goes_away_says_so_once(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    screen = await open_service_logs(deployed)
    await ctl.scale("cache", 3)
    await until(pilot, lambda: "cache.3" in replicas_in(shown(screen)), what="cache.3 joining")
    assert "3 replicas streaming" in screen.status_text

    await ctl.scale("cache", 1)
    gone = "went away: its container is not running"
    await until(pilot, lambda: sum(gone in line for line in shown(screen)) == 2, what="two replicas going away")
    await sim.advance(5)
    await pilot.pause(1.2)  # a look for replicas or two later: nothing said again
    assert sorted(line for line in shown(screen) if gone in line) == [f"cache.2 | -- {gone}", f"cache.3 | -- {gone}"]
    assert "1 replica streaming" in screen.status_text


async def test_L_in_a_service_s_replicas_streams_the_whole_service(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    await services_view(pilot, app, "cache")
    await pilot.press("enter")  # the replicas of cache
    await until(pilot, lambda: app.main.current.scope == ("service", "cache"))
    app.main.current.table.select_key("cache.2")
    await pilot.press("L")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen.prefixed)
    screen = app.screen
    await until(pilot, lambda: replicas_in(shown(screen)) == {"cache.1", "cache.2"}, what="both replicas' lines")
    await pilot.press("escape")
    await until(pilot, lambda: app.screen is app.main)
    await pilot.press("l")  # l on the replica: that replica's alone, as before
    await until(pilot, lambda: isinstance(app.screen, LogsScreen) and not app.screen.prefixed)
    assert "cache.2" in str(app.screen.query_one("#logs-title").render())


async def test_the_regex_filter_keeps_its_matches_and_highlights_them(deployed: Console) -> None:
    ctl, sim, app, pilot = deployed
    screen = await open_service_logs(deployed)
    before = len(screen.lines)
    await sim.advance(20)  # 2 lines a second from each replica
    await until(pilot, lambda: len(screen.lines) >= before + 80, what="40 more lines of each")
    every = shown(screen)
    wanted = [line for line in every if re.search(r"get|post", line.split(" | ", 1)[1][24:], re.I)]
    assert 0 < len(wanted) < len(every)
    await pilot.press("slash", *"GET|post", "enter")  # a regex, any case
    assert shown(screen) == wanted and "filter 'GET|post'" in screen.status_text
    line = shown(screen)[0]
    at = re.search(r"GET|POST", line).span()  # type: ignore[union-attr]
    assert any((s.start, s.end) == at and str(s.style) == "reverse" for s in screen.highlighter(Text(line)).spans)
    prefix_hit = "cache"  # the prefix and timestamp are not searched: a filter on them keeps nothing
    await pilot.press("slash", "ctrl+a", "ctrl+k", *prefix_hit, "enter")
    assert shown(screen) == []

    await pilot.press("slash", "ctrl+a", "ctrl+k", *"GET (", "enter")  # not a regex: the text as typed
    await pilot.pause()
    assert any("'GET (' is not a regular expression" in n and "as typed" in n for n in notes(app))
    assert "filter 'GET (' (as text)" in screen.status_text and shown(screen) == []


async def test_a_filter_typed_fast_after_the_slash_is_the_filter_s(deployed: Console) -> None:
    """'/get' + enter in one read (fast typing): the letters reached the log before the filter
    box had the focus and came back up to the screen's bindings (t turned the timestamps off),
    the filter stayed empty and the box open. Typed again, the filter shown is replaced, as
    when typed slowly."""
    from textual import events
    from textual.widgets import Input

    ctl, sim, app, pilot = deployed
    screen = await open_service_logs(deployed)
    box = screen.query_one("#filter", Input)
    await sim.advance(20)
    await until(pilot, lambda: any("GET" in line for line in shown(screen)), what="a GET line")
    gets = [line for line in shown(screen) if "get" in line.split(" | ", 1)[1][24:].lower()]
    assert gets
    for spec in ("get", "wpt"):
        for key, char in (("slash", "/"), *((c, c) for c in spec), ("enter", "\r")):
            app.post_message(events.Key(key, char))  # no pause between them
        await until(pilot, lambda: screen.filter.spec == spec and not box.has_class("-open"), what=f"filter {spec}")
        assert screen.timestamps and screen.follow and not screen.paused and not screen.wrap
        assert shown(screen) == (gets if spec == "get" else [])  # no line holds 'wpt'
    await pilot.press("slash", *"get", "enter")  # typed slowly: the same
    assert screen.filter.spec == "get" and shown(screen) == gets


async def test_ctrl_s_saves_the_shown_lines_to_a_private_file(deployed: Console, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ctl, sim, app, pilot = deployed
    monkeypatch.chdir(tmp_path)
    screen = await open_service_logs(deployed)
    await sim.advance(10)
    await until(pilot, lambda: len(screen.lines) >= 40, what="more lines")
    await pilot.press("slash", *"GET", "enter")
    expected = shown(screen)
    await pilot.press("ctrl+s")
    await until(pilot, lambda: any(n.startswith("saved ") for n in notes(app)), what="the save")
    files = list(tmp_path.glob("cache-*.log"))
    assert len(files) == 1 and re.fullmatch(r"cache-\d{8}-\d{6}\.log", files[0].name)
    assert files[0].read_text().splitlines() == expected
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert f"saved {len(expected)} lines to {files[0]}" in notes(app)

    # the current folder cannot be written: the state folder ($XDG_STATE_HOME) instead
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state-home"))
    await pilot.press("ctrl+s")
    await until(pilot, lambda: sum(n.startswith("saved ") for n in notes(app)) == 2, what="the second save")
    saved = list((tmp_path / "state-home" / "tui-orch" / "logs").glob("cache-*.log"))
    assert len(saved) == 1 and saved[0].read_text().splitlines() == expected
    assert os.stat(saved[0]).st_mode & 0o077 == 0
