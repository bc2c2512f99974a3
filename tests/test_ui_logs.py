"""The logs screen: streamed from a simulated node (frozen clock, deterministic lines) and from
real containers on the lab (one replica's, a service's two); follow, pause, wrap, timestamps,
the regex filter, a node error, esc."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Input, Log

from nodes_support import containers, node1, wait_for  # noqa: F401 (fixtures)
from tui_orch.model import NodeSpec
from tui_orch.nodes.base import LABEL_SERVICE, ContainerRequest, Node
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Simulator
from tui_orch.ui.log_lines import LogFilter, short_stamp, split_stamp
from tui_orch.ui.logs import LogSource, LogsScreen

SIZE = (120, 40)
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Host(App[None]):
    def __init__(self, screen: LogsScreen):
        super().__init__()
        self.logs = screen

    def on_mount(self) -> None:
        self.push_screen(self.logs)


def shown(screen: LogsScreen) -> list[str]:
    return list(screen.query_one("#log", Log).lines)


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, SimulatedNode, str]]:
    simulator = Simulator(seed=1, frozen=True, noise=False, start_time=T0)
    node = SimulatedNode(NodeSpec(name="sim-1", simulated=True), simulator)
    await node.start()
    info = await node.run_container(ContainerRequest(name="web-1", image="nginx:1.27",
                                                     labels=((LABEL_SERVICE, "web"),)))
    await simulator.advance(30)  # 61 lines so far
    try:
        yield simulator, node, info.id
    finally:
        await node.close()


def test_helpers() -> None:
    assert split_stamp("2026-01-01T00:00:01.500000000Z hello world") == ("2026-01-01T00:00:01.500000000Z", "hello world")
    assert split_stamp("no stamp here") == ("", "no stamp here")
    assert short_stamp("2026-01-01T10:00:00.123456789Z") == "2026-01-01 10:00:00.123"
    f, inv = LogFilter("GET"), LogFilter("!get")
    assert f.keeps("a GET /") and not f.keeps("a POST /") and f.keeps("a get /")
    assert inv.keeps("a POST /") and not inv.keeps("a GET /")
    assert LogFilter("").keeps("anything") and not LogFilter("") and not LogFilter("!")


async def test_logs_of_a_simulated_replica_follow_with_timestamps(sim) -> None:
    simulator, node, cid = sim
    screen = LogsScreen.of_replica(node, cid, "web.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(shown(screen)) == 61)
        lines = shown(screen)
        assert lines[0] == "2026-01-01 00:00:00.000 INFO starting (simulated replica)"
        assert lines[1].startswith("2026-01-01 00:00:00.500 ")
        assert "follow on" in screen.status_text and "timestamps on" in screen.status_text
        await simulator.advance(5)  # 10 more lines, shown as they come
        await wait_for(lambda: len(shown(screen)) == 71)
        assert shown(screen)[-1].startswith("2026-01-01 00:00:35.000 ")
        await pilot.pause()
        log = screen.query_one("#log", Log)
        assert log.is_vertical_scroll_end  # following: the newest line is on screen

        await pilot.press("t")
        assert shown(screen)[0] == "INFO starting (simulated replica)" and len(shown(screen)) == 71
        assert "timestamps off" in screen.status_text
        await pilot.press("t")
        assert shown(screen)[0].startswith("2026-01-01 00:00:00.000 ")


async def test_follow_off_keeps_the_view_where_it_is(sim) -> None:
    simulator, node, cid = sim
    screen = LogsScreen.of_replica(node, cid, "web.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        log = screen.query_one("#log", Log)
        await wait_for(lambda: len(shown(screen)) == 61)
        await pilot.press("f")
        assert "follow off" in screen.status_text and not log.auto_scroll
        log.scroll_home(animate=False)
        await pilot.pause()
        await simulator.advance(10)
        await wait_for(lambda: len(shown(screen)) == 81)
        await pilot.pause()
        assert log.scroll_y == 0  # new lines arrive, the view does not move
        await pilot.press("f")
        await pilot.pause()
        assert log.is_vertical_scroll_end and "follow on" in screen.status_text


@contextlib.asynccontextmanager
async def paused_with_10_new(sim) -> AsyncIterator[tuple[LogsScreen, Any]]:
    """The logs of web.1 shown (61 lines), paused, and 10 lines come in."""
    simulator, node, cid = sim
    screen = LogsScreen.of_replica(node, cid, "web.1")
    async with Host(screen).run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(shown(screen)) == 61)
        await pilot.press("p")
        await simulator.advance(5)
        await wait_for(lambda: screen.unseen == 10)
        yield screen, pilot


async def test_pause_buffers_and_resume_shows_what_came_in(sim) -> None:
    async with paused_with_10_new(sim) as (screen, pilot):
        await pilot.pause()
        assert len(shown(screen)) == 61  # nothing appended while paused
        assert "PAUSED (10 new)" in screen.status_text
        await pilot.press("p")
        assert len(shown(screen)) == 71 and "PAUSED" not in screen.status_text
        stamps = [line[:23] for line in shown(screen)]
        assert stamps == sorted(stamps) and stamps[-1] == "2026-01-01 00:00:35.000"  # in order, none lost


async def test_filter_and_inverse_filter_and_esc_clears_then_leaves(sim) -> None:
    simulator, node, cid = sim
    screen = LogsScreen.of_replica(node, cid, "web.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(shown(screen)) == 61)
        every = shown(screen)
        gets = [line for line in every if "GET" in line]
        assert 0 < len(gets) < len(every)
        await pilot.press("slash")
        box = screen.query_one("#filter", Input)
        assert box.display and app.focused is box
        await pilot.press(*"get", "enter")  # any case
        assert shown(screen) == gets and not box.display
        assert "filter 'get'" in screen.status_text
        await simulator.advance(10)  # new lines are filtered too
        await wait_for(lambda: len(screen.lines) == 81)
        await pilot.pause()
        assert all("GET" in line for line in shown(screen)) and len(shown(screen)) > len(gets)

        await pilot.press("slash", "ctrl+a", "ctrl+k", *"!GET", "enter")
        assert shown(screen) and all("GET" not in line for line in shown(screen))
        assert len(shown(screen)) + len([e for e in screen.lines if "GET" in e.raw]) == 81

        await pilot.press("escape")  # clears the filter first
        assert len(shown(screen)) == 81 and "filter" not in screen.status_text
        assert app.screen is screen
        await pilot.press("escape")  # then goes back
        await pilot.pause()
        assert app.screen is not screen


async def test_wrap_folds_long_lines() -> None:
    class Talky(SimulatedNode):
        async def logs(self, container_id: str, follow: bool = False, since: float | None = None,
                       tail: int | None = 200, timestamps: bool = False):
            yield "2026-01-01T00:00:00.000000000Z " + "x" * 300
            yield "2026-01-01T00:00:01.000000000Z short"

    node = Talky(NodeSpec(name="sim-2", simulated=True), Simulator(frozen=True, start_time=T0))
    screen = LogsScreen.of_replica(node, "c1", "web.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: screen.ended is not None)
        await pilot.pause()
        assert len(shown(screen)) == 3  # 2 lines + the end line
        assert shown(screen)[-1] == "-- end of the logs: the container is not running"
        await pilot.press("w")
        await pilot.pause()
        assert "wrap on" in screen.status_text
        assert len(shown(screen)) >= 5 and all(len(line) <= SIZE[0] for line in shown(screen))
        assert "".join(shown(screen)[:4]).count("x") == 300  # nothing lost in the folding


async def test_a_node_error_ends_the_stream_with_one_line(sim) -> None:
    simulator, node, cid = sim
    screen = LogsScreen.of_replica(node, cid, "web.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(shown(screen)) == 61)
        node.fail("network cut")
        await wait_for(lambda: screen.ended is not None)
        await pilot.pause()
        last = shown(screen)[-1]
        assert last == f"-- the log stream ended: sim-1: lost the node while reading the logs of {cid[:12]}"
        assert "stream ended" in screen.status_text
        assert "Traceback" not in "\n".join(shown(screen))


async def test_a_stream_that_cannot_start_says_why(sim) -> None:
    simulator, node, cid = sim
    node.fail("power cut")
    screen = LogsScreen.of_replica(node, cid, "web.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: screen.ended is not None)
        await pilot.pause()
        assert shown(screen) == [f"-- the log stream ended: {screen.ended[len('the log stream ended: '):]}"]
        assert "sim-1" in shown(screen)[0] and "power cut" in shown(screen)[0]


async def test_memory_is_bounded() -> None:
    class Flood(SimulatedNode):
        async def logs(self, container_id: str, follow: bool = False, since: float | None = None,
                       tail: int | None = 200, timestamps: bool = False):
            for i in range(5000):
                yield f"line {i}"

    node = Flood(NodeSpec(name="sim-3", simulated=True), Simulator(frozen=True, start_time=T0))
    screen = LogsScreen.of_replica(node, "c1", "flood", max_lines=1000)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: screen.ended is not None)
        await pilot.pause()
        assert screen.received == 5000 and len(screen.lines) == 1000
        assert screen.lines[0].raw == "line 4001" and screen.lines[-2].raw == "line 4999"  # and the end
        assert len(shown(screen)) <= 1000 and shown(screen)[-2] == "line 4999"


async def test_a_filter_changed_while_paused_shows_no_line_twice(sim) -> None:
    """A redraw while paused (filter, timestamps, wrap) drew the lines that came in since the
    pause, and resuming appended them again: each was shown twice."""
    async with paused_with_10_new(sim) as (screen, pilot):
        await pilot.press("slash", *"GET", "enter")
        assert all(line[:23] <= "2026-01-01 00:00:30.000" for line in shown(screen))  # still paused
        await pilot.press("t", "t", "p")
        lines = shown(screen)
        assert len(lines) == len(set(lines)) and lines == sorted(lines)
        assert lines == [screen.format_line(e.raw) for e in screen.lines if "GET" in e.raw]


class Counter(SimulatedNode):
    """A container that wrote "line 1" to "line 80" and stopped."""

    async def logs(self, container_id: str, follow: bool = False, since: float | None = None,
                   tail: int | None = 200, timestamps: bool = False):
        for i in range(1, 81):
            yield f"2026-01-01T00:00:{i % 60:02d}.000000000Z line {i}"


async def test_a_regex_filter_keeps_the_lines_ending_in_7() -> None:
    """The lab test filtered with `/7` and checked every line ended in 7: true until the
    stream reached "line 70" (a slow, loaded run). The filter is a regex: `/7$` says it."""
    node = Counter(NodeSpec(name="sim-4", simulated=True), Simulator(frozen=True, start_time=T0))
    screen = LogsScreen.of_replica(node, "c1", "ticker.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: screen.ended is not None)
        await pilot.press("t", "slash", *"7$", "enter")
        assert shown(screen)[:-1] == [f"line {n}" for n in range(7, 80, 10)]
        await pilot.press("slash", "ctrl+a", "ctrl+k", "7", "enter")  # contains a 7
        assert "line 70" in shown(screen) and "line 17" in shown(screen)


def test_bindings_have_ids() -> None:
    ids = {b.id for b in LogsScreen.BINDINGS}  # type: ignore[union-attr]
    assert ids == {"logs.back", "logs.follow", "logs.pause", "logs.wrap", "logs.timestamps", "logs.filter",
                   "logs.save"}


# --------------------------------------------------------------------------- lab


async def test_logs_of_a_real_container_on_the_lab(lab, node1: Node, containers: Any) -> None:
    script = 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.1; done'
    info = await node1.run_container(containers.request(["sh", "-c", script]))
    screen = LogsScreen.of_replica(node1, info.id, "ticker.1")
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: len(shown(screen)) >= 5, timeout=20)
        first = shown(screen)
        assert first[0][:4].isdigit() and first[0].endswith("line 1")  # timestamped, from the start
        numbers = [int(line.rsplit(" ", 1)[1]) for line in first]
        assert numbers == list(range(1, len(numbers) + 1))

        # follow: new lines keep coming
        await wait_for(lambda: len(shown(screen)) >= len(first) + 5, timeout=20)

        # pause: nothing appended; resume shows every line that came in, in order
        await pilot.press("p")
        frozen = len(shown(screen))
        await wait_for(lambda: screen.unseen >= 10, timeout=20)
        assert len(shown(screen)) == frozen and "PAUSED" in screen.status_text
        await pilot.press("p")
        numbers = [int(line.rsplit(" ", 1)[1]) for line in shown(screen)]
        assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= frozen + 10

        # timestamps off: the bare lines
        await pilot.press("t")
        assert shown(screen)[0] == "line 1"

        # filter (a regex): the lines ending in 7
        await pilot.press("slash", *"7$", "enter")
        assert shown(screen) and all(line.endswith("7") for line in shown(screen))

        # the container stops: the stream ends with one line
        await node1.stop_container(info.id, timeout=1)
        await wait_for(lambda: screen.ended is not None, timeout=20)
        await pilot.pause()
        assert shown(screen)[-1].startswith("-- ")


async def test_logs_of_a_service_of_two_replicas_on_the_lab(lab, node1: Node, containers: Any) -> None:
    script = 'i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.2; done'
    labels = containers.labels("ticker")
    ids = [(await node1.run_container(containers.request(["sh", "-c", script], labels=labels))).id for _ in range(2)]
    sources = [LogSource(f"ticker.{n}", node1, cid) for n, cid in enumerate(ids, 1)]
    screen = LogsScreen.of_service("ticker", lambda: sources)
    app = Host(screen)
    prefixed = re.compile(r"^(ticker\.[12]) \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} line (\d+)$")
    async with app.run_test(size=SIZE) as pilot:
        def lines_of(name: str) -> list[int]:
            return [int(m.group(2)) for line in shown(screen) if (m := prefixed.match(line)) and m.group(1) == name]

        await wait_for(lambda: len(lines_of("ticker.1")) >= 5 and len(lines_of("ticker.2")) >= 5, timeout=20)
        assert all(prefixed.match(line) for line in shown(screen)), shown(screen)
        for name in ("ticker.1", "ticker.2"):  # each replica's lines in order, none lost
            assert lines_of(name) == list(range(1, len(lines_of(name)) + 1))
        assert "2 replicas streaming" in screen.status_text

        await node1.stop_container(ids[1], timeout=1)  # one goes away: it says so once
        await wait_for(lambda: "1 replica streaming" in screen.status_text, timeout=20)
        await pilot.pause()
        assert [line for line in shown(screen) if line.startswith("ticker.2 | --")] == [
            "ticker.2 | -- went away: its container is not running"]
        count = len(lines_of("ticker.1"))
        await wait_for(lambda: len(lines_of("ticker.1")) > count + 2, timeout=20)  # the other goes on


def test_saving_where_no_folder_can_be_written_names_both_in_one_sentence(tmp_path, monkeypatch) -> None:
    """ctrl+s with neither the current folder nor the state folder writable said only the
    second's error, as Python words it: "[Errno 2] No such file or directory: '/x'"."""
    from tui_orch.ui.log_lines import save_lines

    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))  # a file: no folder can be made in it
    with pytest.raises(OSError) as caught:
        save_lines("web", ["a line"])
    said = str(caught.value)
    assert "[Errno" not in said and "\n" not in said
    assert said.startswith("neither the current folder (") and f"nor {blocker}/tui-orch/logs (" in said
