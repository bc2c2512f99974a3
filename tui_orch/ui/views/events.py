"""Events: a live tail, newest first, filterable; restarts and failures highlighted."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tui_orch.model import Event
from tui_orch.ui import data
from tui_orch.ui.arrange import natural
from tui_orch.ui.table import Row, printable_text
from tui_orch.ui.views.base import View

KEEP = 1000  # events the view holds


def event_style(ev: Event) -> str:
    if ev.level == "error" or ev.kind in ("die", "lost", "failed"):
        return "bold red"
    if ev.kind == "restart":
        return "bold yellow"
    if ev.level == "warning":
        return "yellow"
    return ""


class EventsView(View):
    NAME = "events"
    COLUMNS = (("time", "TIME"), ("level", "LEVEL"), ("kind", "KIND"), ("object", "OBJECT"), ("message", "MESSAGE"))
    DESCENDING = frozenset({"time"})  # newest first, as the view's own order
    DEFAULT_CSS = """
    EventsView > ResourceTable { height: 1fr; }
    EventsView #event-detail { height: 4; border-top: solid $primary; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield self.make_table()
        yield Static(id="event-detail")  # the selected event in full: long messages are cut in the table

    def on_mount(self) -> None:
        self.table.on_cursor_moved = self.show_detail

    def refresh_view(self) -> None:
        super().refresh_view()
        self.show_detail(self.selected_key())

    def event(self, key: str | None) -> Event | None:
        """The event of a row key (its sequence number)."""
        return next((e for seq, e in self.events if str(seq) == key), None) if key else None

    def show_detail(self, key: str | None) -> None:
        ev = self.event(key)
        shown = f"{key}:{ev is not None}"
        if shown == self._shown:
            return
        self._shown = shown
        text = Text()
        if ev is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev.time))
            text.append(f"{stamp}  {ev.level} {ev.kind}  ", style=event_style(ev) or "dim")
            text.append(ev.message)
            facts = [("service", ev.service), ("replica", ev.replica), ("node", ev.node), *ev.data]
            text.append("\n" + "  ".join(f"{k}={v}" for k, v in facts if v), style="dim")
        self.query_one("#event-detail", Static).update(printable_text(text))  # messages quote hosts

    def __init__(self) -> None:
        super().__init__()
        self.events: deque[tuple[int, Event]] = deque(maxlen=KEEP)
        self._seq = 0
        self._rows: dict[int, Row] = {}
        self._shown: str | None = None  # what the detail shows (key and whether found)

    def add(self, ev: Event) -> None:
        self._seq += 1
        self.events.append((self._seq, ev))

    def rows(self) -> list[Row]:
        live = {seq for seq, _ in self.events}
        for seq in [s for s in self._rows if s not in live]:
            del self._rows[seq]
        out = []
        for seq, ev in reversed(self.events):
            row = self._rows.get(seq)
            if row is None:
                style = event_style(ev)
                stamp = time.strftime("%H:%M:%S", time.localtime(ev.time))
                obj = data.event_object(ev)
                row = Row(str(seq), (Text(stamp), Text(ev.level, style=style), Text(ev.kind, style=style),
                                     obj, Text(ev.message, style=style)),
                          sort=((ev.time, seq), ev.level, ev.kind, natural(obj), ev.message.lower()))
                self._rows[seq] = row
            if self.scope is None or getattr(ev, self.scope[0]) == self.scope[1]:
                out.append(row)
        return out
