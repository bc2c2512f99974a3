"""The logs of one replica, streamed from its node in a worker: follow, pause, wrap,
timestamps and a filter (``/text``, ``/!text`` for the lines without it). Memory is bounded:
the last ``max_lines`` lines are kept."""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from rich.cells import cell_len, chop_cells
from rich.highlighter import Highlighter
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Log, Static

from tui_orch.errors import TuiOrchError, printable
from tui_orch.nodes.base import Node

MAX_LINES = 10_000
TAIL = 500
# colours and cursor moves (CSI), window titles and links (OSC, to BEL or ST), other escapes
ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?")


def split_stamp(line: str) -> tuple[str, str]:
    """(timestamp, text) of a line docker wrote with ``timestamps=True``."""
    m = STAMP.match(line)
    return (m.group(1), line[m.end():]) if m else ("", line)


def short_stamp(stamp: str) -> str:
    """2026-01-01T10:00:00.123456789Z -> 2026-01-01 10:00:00.123"""
    date, _, clock = stamp.partition("T")
    clock = clock.rstrip("Z")
    whole, dot, frac = clock.partition(".")
    return f"{date} {whole}{'.' + frac[:3] if dot else ''}"


class LogHighlighter(Highlighter):
    """Dim timestamps, warnings in yellow, errors and the end of a broken stream in red."""

    SHORT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? ")
    LEVEL = re.compile(r"\b(?:(ERROR|FATAL|PANIC|CRITICAL)|(WARN|WARNING))\b", re.IGNORECASE)

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if plain.startswith("-- the log stream ended"):
            text.stylize("bold red")
            return
        if plain.startswith("-- "):
            text.stylize("bold")
            return
        m = self.SHORT.match(plain)
        if m:
            text.stylize("dim", 0, m.end())
        level = self.LEVEL.search(plain)
        if level:
            text.stylize("bold red" if level.group(1) else "yellow", level.start(), level.end())


class LogFilter:
    """``text`` keeps the lines containing it (any case); ``!text`` the lines without it."""

    def __init__(self, spec: str = ""):
        self.spec = spec
        self.inverse = spec.startswith("!")
        self.needle = (spec[1:] if self.inverse else spec).lower()

    def __bool__(self) -> bool:
        return bool(self.needle)

    def keeps(self, text: str) -> bool:
        return not self.needle or ((self.needle in text.lower()) != self.inverse)


class LogsScreen(Screen[None]):
    """``node.logs(container_id, follow=True)`` in a Log, with the keys k9s users know."""

    DEFAULT_CSS = """
    LogsScreen #logs-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    LogsScreen #log { height: 1fr; }
    LogsScreen #filter { dock: bottom; display: none; }
    LogsScreen #filter.-open { display: block; }
    LogsScreen #logs-status { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="logs.back"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow"),
        Binding("p", "toggle_pause", "Pause", id="logs.pause"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap"),
        Binding("t", "toggle_timestamps", "Timestamps", id="logs.timestamps"),
        Binding("slash", "filter", "Filter", key_display="/", id="logs.filter"),
    ]

    def __init__(self, node: Node, container_id: str, title: str, *, max_lines: int = MAX_LINES,
                 tail: int = TAIL):
        super().__init__()
        self.node = node
        self.container_id = container_id
        self.title_text = title
        self.max_lines = max_lines
        self.tail = tail
        self.lines: deque[str] = deque(maxlen=max_lines)  # what came in, raw (with timestamps)
        self.follow = True
        self.paused = False
        self.wrap = False
        self.timestamps = True
        self.filter = LogFilter()
        self.ended: str | None = None  # why the stream ended, once it has
        self.ended_badly = False
        self.received = 0  # lines received since the screen opened
        self.unseen = 0  # lines that came in while paused
        self._incoming: list[str] = []
        self._flush_pending = False
        self._end_written = False

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        simulated = " [SIMULATED]" if self.node.simulated else ""
        where = "" if self.node.name in self.title_text else f" on {self.node.name}"
        yield Static(Text(printable(f"Logs: {self.title_text}{where}{simulated}")), id="logs-title")
        log = Log(id="log", max_lines=self.max_lines, highlight=True, auto_scroll=self.follow)
        log.highlighter = LogHighlighter()
        yield log
        yield Input(placeholder="filter: text, or !text for the lines without it (enter applies, esc clears)",
                    id="filter")
        yield Static("", id="logs-status")
        yield Footer()

    def on_mount(self) -> None:
        self._status()
        self._stream()

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "logs")

    @property
    def log_widget(self) -> Log:
        return self.query_one("#log", Log)

    # ----------------------------------------------------------------- streaming
    @work(exclusive=True, group="logs")
    async def _stream(self) -> None:
        try:
            async for line in self.node.logs(self.container_id, follow=True, tail=self.tail, timestamps=True):
                self._incoming.append(line.rstrip("\r\n"))
                if not self._flush_pending:
                    self._flush_pending = True
                    self.call_later(self._flush)
        except TuiOrchError as exc:
            self._end(f"the log stream ended: {exc}", badly=True)
        except Exception as exc:  # noqa: BLE001 - one line on screen, never a traceback
            self._end(f"the log stream ended: {type(exc).__name__}: {exc}", badly=True)
        else:
            self._end("end of the logs: the container is not running")

    def _flush(self) -> None:
        self._flush_pending = False
        batch, self._incoming = self._incoming, []
        if not batch:
            return
        self.lines.extend(batch)
        self.received += len(batch)
        if self.paused:
            self.unseen += len(batch)
        else:
            self._write(batch)
        self._status()

    def _end(self, why: str, badly: bool = False) -> None:
        self._flush()
        self.ended, self.ended_badly = printable(why), badly  # an error from a host may hold anything
        if not self.paused:  # else shown on resume, after the lines that came before it
            self._write_end()
        self._status()

    # ----------------------------------------------------------------- drawing
    def format_line(self, line: str) -> str | None:
        """The line as shown (unfolded), or None when the filter hides it."""
        stamp, text = split_stamp(line)
        # colours and cursor moves dropped, tabs expanded, a CRLF's CR dropped; any other
        # control character (a lone ESC, CR, U+202E...) escaped: nothing raw reaches the terminal
        text = printable(ANSI.sub("", text).rstrip("\r").expandtabs())
        if not self.filter.keeps(text):
            return None
        return f"{short_stamp(stamp)} {text}" if self.timestamps and stamp else text

    def _fold(self, text: str, width: int) -> list[str]:
        return chop_cells(text, width) if width and cell_len(text) > width else [text]

    def _write(self, lines: Any) -> None:
        log = self.log_widget
        width = log.scrollable_content_region.width if self.wrap else 0
        out: list[str] = []
        for line in lines:
            shown = self.format_line(line)
            if shown is not None:
                out.extend(self._fold(shown, width))
        if out:
            log.write_lines(out, scroll_end=self.follow)

    def _write_end(self) -> None:
        if self.ended is not None and not self._end_written:
            self._end_written = True
            log = self.log_widget
            width = log.scrollable_content_region.width if self.wrap else 0
            log.write_lines(self._fold(f"-- {self.ended}", width), scroll_end=self.follow)

    def on_resize(self) -> None:
        if self.wrap:
            self.call_after_refresh(self.redraw)  # fold again at the new width

    def redraw(self) -> None:
        """Draw the kept lines again (after wrap, timestamps or the filter changed)."""
        log = self.log_widget
        log.clear()
        self._end_written = False
        self._write(self.lines)
        self._write_end()
        if self.follow:
            log.scroll_end(animate=False, immediate=True)

    def _status(self) -> None:
        on = {True: "on", False: "off"}
        parts = [f"follow {on[self.follow]}", f"wrap {on[self.wrap]}", f"timestamps {on[self.timestamps]}"]
        if self.filter:
            parts.append(f"filter {'!' if self.filter.inverse else ''}{self.filter.needle!r}")
        if self.paused:
            parts.insert(0, f"PAUSED ({self.unseen} new)")
        parts.append(f"{len(self.lines)} lines")
        if self.ended:
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
        if not self.paused:
            if self.unseen:
                self._write(list(self.lines)[-min(self.unseen, len(self.lines)):])
            self._write_end()
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
        box.add_class("-open")
        box.focus()

    def set_filter(self, spec: str) -> None:
        self.filter = LogFilter(spec.strip())
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
