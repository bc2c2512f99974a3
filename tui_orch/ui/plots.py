"""The last hour of cpu and memory of one node or one service, as two braille line charts with
clock times under them (`g` in the nodes, services or replicas view). The data is the console's
usage history (ui/usage.py: a sample of ``Query.usage_now`` every 10 s, kept across restarts);
a node's scale is 0-100 %, a service's is rounded up from its peak (cores, memory)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer, Static

from tui_orch.controller.usage import GIB, RES, SLOTS, node_key, service_key
from tui_orch.errors import printable
from tui_orch.ui.chart import chart, nice_top, time_axis
from tui_orch.ui.keys import PLOT_KEYS, bindings
from tui_orch.ui.spark import style_of
from tui_orch.ui.widgets import LiveScreen
from tui_orch.units import format_bytes

if TYPE_CHECKING:
    from tui_orch.ui.app import OrchApp

SPAN = RES * SLOTS  # seconds shown: one hour


def _peak(values: list[float]) -> float:
    seen = [v for v in values if not math.isnan(v)]
    return max(seen) if seen else 0.0


def _last(values: list[float]) -> float | None:
    return next((v for v in reversed(values) if not math.isnan(v)), None)


class Plot(Widget):
    """One chart: a title line, the braille lines, the time axis. ``show`` sets what it draws."""

    DEFAULT_CSS = "Plot { height: 1fr; }"

    def __init__(self, id: str) -> None:
        super().__init__(id=id)
        self.values: list[float] = []
        self.top = 100.0
        self.label = "{:.0f}%"
        self.title = Text()
        self.end = 0.0

    def show(self, values: list[float], top: float, label: str, title: Text, end: float) -> None:
        self.values, self.top, self.label, self.title, self.end = values, top, label, title, end
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, max(1, self.size.height - 2)
        last = _last(self.values)
        style = style_of(100 * last / self.top) if last is not None and self.top else "green"
        out = Text(no_wrap=True, overflow="crop")
        out.append_text(self.title)
        out.append("\n")
        out.append_text(chart(self.values, width, height, self.top, self.label, style))
        out.append("\n")
        out.append_text(time_axis(width, self.end, SPAN))
        return out


class PlotScreen(LiveScreen):
    """``kind`` "node" or "service", ``target`` its name: its last hour of cpu and memory."""

    BINDINGS = bindings(readonly=False, of=PLOT_KEYS)
    DEFAULT_CSS = """
    PlotScreen #plot-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    PlotScreen Plot { height: 1fr; padding: 0 1; margin-top: 1; }
    """

    def __init__(self, kind: str, name: str) -> None:
        super().__init__()
        self.kind, self.target = kind, name
        self.key = node_key(name) if kind == "node" else service_key(name)

    @property
    def orch(self) -> "OrchApp":
        from tui_orch.ui.app import OrchApp

        return cast(OrchApp, self.app)

    def compose(self) -> ComposeResult:
        yield Static(Text(printable(f"Usage of {self.kind} {self.target}: the last hour, a sample every {RES} s")),
                     id="plot-title")
        yield Plot(id="cpu-plot")
        yield Plot(id="mem-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        now = self.orch.now()
        cpu, mem = self.orch.usage.history.series(self.key, now)
        samples = sum(1 for v in cpu if not math.isnan(v))
        if self.kind == "node":
            tops, labels = (100.0, 100.0), ("{:.0f}%", "{:.0f}%")
            now_cpu, now_mem = (f"{v:.0f}%" if v is not None else "-" for v in (_last(cpu), _last(mem)))
        else:  # cores and GiB, on a round scale above the hour's peak
            tops = (nice_top(_peak(cpu), 0.1), nice_top(_peak(mem), 0.1))
            labels = ("{:.3g}", "{:.3g}G")
            last_cpu, last_mem = _last(cpu), _last(mem)
            now_cpu = "-" if last_cpu is None else f"{last_cpu:.2f} cores"
            now_mem = "-" if last_mem is None else format_bytes(int(last_mem * GIB))
        seen = f"  ({samples} of {SLOTS} samples)" if samples < SLOTS else ""
        self.query_one("#cpu-plot", Plot).show(cpu, tops[0], labels[0], Text.assemble(
            ("cpu ", "bold"), f"now {now_cpu}{seen}"), now)
        self.query_one("#mem-plot", Plot).show(mem, tops[1], labels[1], Text.assemble(
            ("memory ", "bold"), f"now {now_mem}"), now)

    def action_back(self) -> None:
        self.dismiss()
