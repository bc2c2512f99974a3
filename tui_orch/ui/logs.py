"""Logs, streamed from the nodes in workers: one replica's, or every replica's of a service
interleaved in arrival order, each line prefixed by its replica's name in the replica's colour
(replicas that start later join, those that go away say so once). Follow, pause, wrap,
timestamps, a regex filter (``/re``, ``/!re`` for the lines without it) with its matches
highlighted, and ctrl+s to save the shown lines. Memory is bounded: the last ``max_lines``
lines are kept."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len, chop_cells
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Log, Static

from tui_orch.errors import TuiOrchError, printable
from tui_orch.model import ReplicaState
from tui_orch.nodes.base import Node
from tui_orch.ui.dialog_style import pane_css
from tui_orch.ui.log_lines import (ANSI, STREAM_BROKE, Entry, LogFilter, LogHighlighter, save_lines, short_stamp,
                                   split_stamp)

if TYPE_CHECKING:
    from tui_orch.controller.query import Query

MAX_LINES = 10_000
TAIL = 500  # lines of each replica's past
LOOK_EVERY = 1.0  # s between looks for the replicas of a service that started


@dataclass(frozen=True)
class LogSource:
    """One replica's container, as the logs screen reads it (through its node's ``logs``)."""

    replica: str  # web.2
    node: Node
    container_id: str


Sources = Callable[[], Sequence[LogSource]]
# replicas with no container to read: planned, on a lost node, or stopped on purpose
NO_LOGS = (ReplicaState.PENDING, ReplicaState.LOST, ReplicaState.STOPPED)


def log_sources(reader: Query, service: str) -> Callable[[], list[LogSource]]:
    """The containers of ``service``'s replicas whose logs can be read now, asked again by the
    logs screen for the replicas that started since (a restart is a new container)."""
    def sources() -> list[LogSource]:
        found = []
        for rep in reader.replicas(service):
            node = reader.node(rep.node)
            if node is not None and rep.container_id and rep.state not in NO_LOGS:
                found.append(LogSource(rep.key, node, rep.container_id))
        return found
    return sources


class LogsScreen(Screen[None]):
    """``node.logs(container_id, follow=True)`` of each source in a Log, with the keys k9s
    users know. ``of_replica``: one replica's, lines as docker gives them; ``of_service``:
    every replica's, ``sources`` asked again every ``LOOK_EVERY`` s for those that started."""

    DEFAULT_CSS = pane_css("LogsScreen", "logs-title", "log", "filter", "logs-status")
    BINDINGS = [
        Binding("escape", "back", "Back", id="logs.back"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow"),
        Binding("p", "toggle_pause", "Pause", id="logs.pause"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap"),
        Binding("t", "toggle_timestamps", "Timestamps", id="logs.timestamps"),
        Binding("slash", "filter", "Filter", key_display="/", id="logs.filter"),
        Binding("ctrl+s", "save", "Save", id="logs.save"),
    ]
    END = "end of the logs: the container is not running"  # one replica's stream ended
    GONE = "went away: its container is not running"  # one of a service's did

    def __init__(self, title: str, sources: Sources, *, name: str, prefixed: bool = False,
                 max_lines: int = MAX_LINES, tail: int = TAIL):
        """``name``: what a saved file is named after; ``prefixed``: each line begins with
        its replica's name (a service's logs)."""
        super().__init__()
        self.title_text = title
        self.sources = sources
        self.save_name = name
        self.prefixed = prefixed
        self.max_lines = max_lines
        self.tail = tail
        self.lines: deque[Entry] = deque(maxlen=max_lines)  # what came in, raw (with timestamps)
        self.follow = True
        self.paused = False
        self.wrap = False
        self.timestamps = True
        self.filter = LogFilter()
        self.highlighter = LogHighlighter(prefixed)
        self.ended: str | None = None  # why the last stream ended, once one has
        self.received = 0  # lines received since the screen opened
        self.unseen = 0  # lines that came in while paused (the last ones kept)
        self.streams: dict[tuple[str, str], bool] = {}  # (replica, container id) -> still streaming
        self.prefix_width = 0  # the longest replica name seen: prefixes line up
        self._incoming: list[Entry] = []
        self._flush_pending = False
        self._look_failed = False

    @classmethod
    def of_replica(cls, node: Node, container_id: str, replica: str, **kw: int) -> LogsScreen:
        simulated = " [SIMULATED]" if node.simulated else ""
        source = LogSource(replica, node, container_id)
        return cls(f"Logs: {replica} on {node.name}{simulated}", lambda: (source,), name=replica, **kw)

    @classmethod
    def of_service(cls, service: str, sources: Sources, **kw: int) -> LogsScreen:
        simulated = any(s.node.simulated for s in sources())  # as the replicas view marks them
        title = f"Logs: service {service}, every replica{' [SIMULATED]' if simulated else ''}"
        return cls(title, sources, name=service, prefixed=True, **kw)

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(Text(printable(self.title_text)), id="logs-title")
        log = Log(id="log", max_lines=self.max_lines, highlight=True, auto_scroll=self.follow)
        log.highlighter = self.highlighter
        yield log
        yield Input(placeholder="filter: a regular expression, or !re for the lines without it "
                                "(enter applies, esc clears)", id="filter", select_on_focus=False)
        yield Static("", id="logs-status")
        yield Footer()

    def on_mount(self) -> None:
        self._look()
        if self.prefixed:
            self.set_interval(LOOK_EVERY, self._look)

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "logs")

    @property
    def log_widget(self) -> Log:
        return self.query_one("#log", Log)

    # ----------------------------------------------------------------- streaming
    def _look(self) -> None:
        """Start a stream for each source not seen yet (a replica that started, or got a new
        container)."""
        try:
            found = [s for s in self.sources() if (s.replica, s.container_id) not in self.streams]
        except TuiOrchError as exc:  # the state cannot be read now: the streams go on
            if not self._look_failed:  # said once, not every second
                self.notify(f"cannot look for new replicas: {exc}", title="logs", severity="warning")
            self._look_failed = True
            return
        self._look_failed = False
        if self.prefixed and not self.streams and not found:
            self._take([Entry("", "no replica runs now: each one that starts joins here", note=True)])
        for source in found:
            self.streams[(source.replica, source.container_id)] = True
            self.prefix_width = max(self.prefix_width, len(source.replica))
            self.run_worker(self._stream(source), group="logs", exit_on_error=False)
        self._status()

    async def _stream(self, source: LogSource) -> None:
        name = source.replica if self.prefixed else ""
        why = self.GONE if self.prefixed else self.END
        try:
            async for line in source.node.logs(source.container_id, follow=True, tail=self.tail, timestamps=True):
                self._incoming.append(Entry(name, line.rstrip("\r\n")))
                if not self._flush_pending:
                    self._flush_pending = True
                    self.call_later(self._flush)
        except TuiOrchError as exc:
            why = f"{STREAM_BROKE}: {exc}"
        except Exception as exc:  # noqa: BLE001 - one line on screen, never a traceback
            why = f"{STREAM_BROKE}: {type(exc).__name__}: {exc}"
        self.streams[(source.replica, source.container_id)] = False
        self._end(name, why)

    def _flush(self) -> None:
        self._flush_pending = False
        batch, self._incoming = self._incoming, []
        self._take(batch)

    def _take(self, batch: list[Entry]) -> None:
        """Keep ``batch`` and show it (unless paused: then it is shown on resume)."""
        if not batch:
            return
        self.lines.extend(batch)
        self.received += sum(1 for e in batch if not e.note)
        if self.paused:
            self.unseen += len(batch)
        else:
            self._write(batch)
        self._status()

    def _end(self, source: str, why: str) -> None:
        self._flush()  # the lines that came before it first
        self.ended = printable(why)  # an error from a host may hold anything
        self._take([Entry(source, self.ended, note=True)])

    # ----------------------------------------------------------------- drawing
    def format_line(self, line: str) -> str | None:
        """A line as shown (unfolded, without its replica), or None when the filter hides it."""
        stamp, text = split_stamp(line)
        # colours and cursor moves dropped, tabs expanded, a CRLF's CR dropped; any other
        # control character (a lone ESC, CR, U+202E...) escaped: nothing raw reaches the terminal
        text = printable(ANSI.sub("", text).rstrip("\r").expandtabs())
        if not self.filter.keeps(text):
            return None
        return f"{short_stamp(stamp)} {text}" if self.timestamps and stamp else text

    def format_entry(self, entry: Entry) -> str | None:
        """An entry as shown: ``web.2 | line`` for a service's; notes whatever the filter."""
        shown = f"-- {entry.raw}" if entry.note else self.format_line(entry.raw)
        if shown is None or not entry.source:
            return shown
        return f"{entry.source:<{self.prefix_width}} | {shown}"

    def shown_lines(self, entries: Iterable[Entry]) -> list[str]:
        return [shown for e in entries if (shown := self.format_entry(e)) is not None]

    def _fold(self, text: str, width: int) -> list[str]:
        return chop_cells(text, width) if width and cell_len(text) > width else [text]

    def _write(self, entries: Iterable[Entry]) -> None:
        log = self.log_widget
        width = log.scrollable_content_region.width if self.wrap else 0
        out = [part for shown in self.shown_lines(entries) for part in self._fold(shown, width)]
        if out:
            log.write_lines(out, scroll_end=self.follow)

    def drawn(self) -> list[Entry]:
        """The kept lines the Log shows: while paused, not those that came in since."""
        kept = list(self.lines)
        return kept[:max(0, len(kept) - self.unseen)] if self.paused else kept

    def on_resize(self) -> None:
        if self.wrap:
            self.call_after_refresh(self.redraw)  # fold again at the new width

    def redraw(self) -> None:
        """Draw the kept lines again (after wrap, timestamps or the filter changed). While
        paused, the lines that came in since stay unseen: resuming appends them once."""
        log = self.log_widget
        log.clear()
        self._write(self.drawn())
        if self.follow:
            log.scroll_end(animate=False, immediate=True)

    def _status(self) -> None:
        on = {True: "on", False: "off"}
        parts = [f"follow {on[self.follow]}", f"wrap {on[self.wrap]}", f"timestamps {on[self.timestamps]}"]
        if self.filter:
            parts.append(f"filter {'!' if self.filter.inverse else ''}'{printable(self.filter.needle)}'"
                         f"{' (as text)' if self.filter.problem else ''}")
        if self.paused:
            parts.insert(0, f"PAUSED ({self.unseen} new)")
        parts.append(f"{len(self.lines)} lines")
        live = sum(self.streams.values())
        if self.prefixed:
            parts.append(f"{live} replica{'' if live == 1 else 's'} streaming")
        elif self.streams and not live:
            parts.append("stream ended")
        self.query_one("#logs-status", Static).update(Text("  ".join(parts)))

    @property
    def status_text(self) -> str:
        return str(self.query_one("#logs-status", Static).content)

    # ----------------------------------------------------------------- actions
    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.log_widget.auto_scroll = self.follow
        if self.follow:
            self.log_widget.scroll_end(animate=False)
        self._status()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self.unseen:
            self._write(list(self.lines)[-min(self.unseen, len(self.lines)):])
        self.unseen = 0
        self._status()

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.redraw()
        self._status()

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self.redraw()
        self._status()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.filter.spec
        box.select_all()  # what is typed replaces it (selected now, not on focus: see key_for_prompt)
        box.add_class("-open")
        box.focus()

    def key_for_prompt(self, event: events.Key, sent_to: Widget | None) -> bool:
        """Keys typed right after '/' (a terminal hands fast typing over in one read) were sent
        to the log before the filter box took the focus: the app asks here before f, p, w and
        t toggle follow, pause, wrap and timestamps; they are the box's (as the main screen's
        prompt takes them). ``sent_to``: the widget the app first sent the key to. True when
        the key was given to the box."""
        box = self.query_one("#filter", Input)
        if not box.has_class("-open") or sent_to is box or event.key == "escape":
            return False
        if event.key == "enter":
            self.call_later(box.action_submit)
        elif event.key == "backspace":
            box.action_delete_left()
        elif event.is_printable and event.character is not None:
            box.replace(event.character, *box.selection)  # the filter shown is selected: replaced
        else:
            return False
        self.set_focus(box)  # now: the keys after this one reach it the usual way
        return True

    def set_filter(self, spec: str) -> None:
        self.filter = self.highlighter.filter = LogFilter(spec.strip())
        if self.filter.problem:
            self.notify(self.filter.problem, title="filter", severity="warning")
        self.redraw()
        self._status()

    @on(Input.Submitted, "#filter")
    def _filter_entered(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_filter()
        self.set_filter(event.value)

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("-open")
        self.log_widget.focus()

    def action_save(self) -> None:
        """ctrl+s: the shown lines (filtered, as drawn, unfolded) to a file; says where."""
        lines = self.shown_lines(self.drawn())

        async def save() -> None:
            try:
                path = await asyncio.to_thread(save_lines, self.save_name, lines)
            except OSError as exc:
                self.notify(f"could not save the logs: {printable(str(exc))}; "
                            f"run the console from a folder you can write to", severity="error", timeout=10)
            else:
                self.notify(f"saved {len(lines)} line{'' if len(lines) == 1 else 's'} to {printable(str(path))}",
                            title="logs", timeout=10)

        self.run_worker(save(), group="save", exit_on_error=False)

    def action_back(self) -> None:
        """esc: close the filter box, else clear the filter, else leave the logs."""
        box = self.query_one("#filter", Input)
        if box.has_class("-open"):
            self._close_filter()
            if self.filter:
                self.set_filter("")
        elif self.filter:
            self.set_filter("")
        else:
            self.dismiss(None)
