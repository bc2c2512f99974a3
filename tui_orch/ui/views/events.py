"""Events: a live tail, newest first, filterable; restarts and failures highlighted."""

from __future__ import annotations

import time
from collections import deque

from rich.text import Text

from tui_orch.model import Event
from tui_orch.ui import data
from tui_orch.ui.table import Row
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

    def __init__(self) -> None:
        super().__init__()
        self.events: deque[tuple[int, Event]] = deque(maxlen=KEEP)
        self._seq = 0
        self._rows: dict[int, Row] = {}

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
                row = Row(str(seq), (Text(stamp), Text(ev.level, style=style), Text(ev.kind, style=style),
                                     data.event_object(ev), Text(ev.message, style=style)))
                self._rows[seq] = row
            if self.scope is None or getattr(ev, self.scope[0]) == self.scope[1]:
                out.append(row)
        return out
