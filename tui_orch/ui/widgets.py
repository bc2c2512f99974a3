"""Small renderables of the console: coloured usage bars, sizes, rates, the fleet header."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from tui_orch.ui.data import FleetSummary
from tui_orch.ui.keys import action_name
from tui_orch.units import format_bytes

BAR_WIDTH = 8
UNITS = ("", "K", "M", "G", "T", "P")


def level_style(percent: float) -> str:
    return "green" if percent < 70 else "yellow" if percent < 90 else "bold red"


def bar(percent: float | None, width: int = BAR_WIDTH) -> Text:
    """``██████░░░░  62%`` coloured by how full it is; ``-`` without a value. The Text is
    shared by every cell that shows the same bar (a thousand nodes redrawn each second
    make no new objects): do not change it."""
    if percent is None:
        return _bar(-1, "", "", width)
    pct = max(0.0, min(100.0, percent))
    return _bar(round(pct / 100 * width), f" {pct:3.0f}%", level_style(pct), width)


@lru_cache(maxsize=4096)
def _bar(filled: int, label: str, style: str, width: int) -> Text:
    if filled < 0:
        return Text("-", style="dim")
    out = Text("█" * filled, style=style)
    out.append("░" * (width - filled), style="dim")
    out.append(label)
    return out


def size(n: int | float | None) -> str:
    return "-" if n is None else format_bytes(int(n)).replace(" ", "")


def short(n: float | None) -> str:
    """A compact binary size for narrow columns: ``512M``, ``1.5G``, ``8G``."""
    if n is None:
        return "-"
    value, unit = float(n), 0
    while value >= 1000 and unit < len(UNITS) - 1:
        value, unit = value / 1024, unit + 1
    text = f"{value:.1f}" if value < 10 and unit else f"{value:.0f}"
    return text.removesuffix(".0") + UNITS[unit]


def rate(bps: float | None) -> str:
    return "-" if bps is None else f"{size(bps)}/s"


def cores(n: float) -> str:
    return f"{n:.1f}" if n < 100 else f"{n:.0f}"


def ratio(used: float, total: float) -> str:
    return f"{100 * used / total:.0f}%" if total else "-"


def uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


Segment = tuple[str, str, str]  # label, value, style of the value


def _line(segments: list[Segment]) -> Text:
    t = Text()
    for i, (label, value, style) in enumerate(segments):
        if label:
            t.append(("   " if i else " ") + label + " ", style="bold")
        else:
            t.append("   " if i else " ")
        t.append(value, style=style)
    return t


def _fitting(width: int | None, *variants: list[Segment]) -> Text:
    """The first variant that fits ``width`` cells (else the last one, cropped); with no
    width, the first. Built one at a time: the wide ones usually fit (a redraw a second)."""
    for variant in variants:
        line = _line(variant)
        if not width or line.cell_len <= width:
            return line
    line.truncate(width, overflow="ellipsis")  # cropped here: a Static wraps a long line of a Text
    return line


READONLY_BADGE = Text(" READ-ONLY ", style="bold white on red")


def header_text(s: FleetSummary, clock: str = "", controller: str = "", width: int | None = None,
                readonly: bool = False) -> Text:
    """Two lines: the fleet at a glance, and which controller acts on it. Each line is one
    line at any ``width``: shorter words first, then what is least needed goes, then it is
    cropped (a wrapped first line would push the second out of the header). ``readonly``:
    the first line begins with a READ-ONLY badge (--readonly: no key changes the fleet)."""
    ready = "green" if s.nodes_ready == s.nodes_total else "yellow"
    healthy = "green" if s.services_healthy == s.services_total else "yellow"
    head: list[Segment] = [("nodes", f"{s.nodes_ready}/{s.nodes_total} Ready", ready),
                           ("services", f"{s.services_healthy}/{s.services_total} healthy", healthy)]
    roll, rest = ("cyan" if s.rollouts_active else ""), ("yellow" if s.restarts_hour else "")
    named = controller.split(" since ")[0]
    ctl = [("controller", controller, "")] if controller else []
    short_ctl = [("controller", named, "")] if controller else []
    time_ = [("", clock, "dim")] if clock else []
    full = head + [("rollouts", f"{s.rollouts_active} in progress", roll),
                   ("restarts", f"{s.restarts_hour} in the last hour", rest)]
    short = head + [("rollouts", f"{s.rollouts_active} active", roll), ("restarts", f"{s.restarts_hour} in 1h", rest)]
    tight = [("nodes", f"{s.nodes_ready}/{s.nodes_total}", ready), ("healthy", f"{s.services_healthy}/{s.services_total}", healthy),
             ("rollouts", str(s.rollouts_active), roll), ("restarts/h", str(s.restarts_hour), rest)]
    tight_ctl = [("ctl", named, "")] if controller else []
    badge = READONLY_BADGE if readonly else Text()
    room = width - badge.cell_len if width else None
    first = _fitting(room, full + ctl + time_, short + ctl + time_, short + short_ctl + time_, short + short_ctl,
                     tight + tight_ctl)
    cpu = (f"{cores(s.cpu_allocated)}/{cores(s.cpu_allocatable)}", ratio(s.cpu_allocated, s.cpu_allocatable),
           f"{cores(s.cpu_used)}/{cores(s.cpu_total)}", ratio(s.cpu_used, s.cpu_total))
    mem = (f"{size(s.mem_allocated)}/{size(s.mem_allocatable)}", ratio(s.mem_allocated, s.mem_allocatable),
           f"{size(s.mem_used)}/{size(s.mem_total)}", ratio(s.mem_used, s.mem_total))
    second = _fitting(width, [("cpu", f"allocated {cpu[0]} cores ({cpu[1]}), used {cpu[2]} ({cpu[3]})", ""),
                              ("memory", f"allocated {mem[0]} ({mem[1]}), used {mem[2]} ({mem[3]})", "")],
                      [("cpu", f"alloc {cpu[0]} ({cpu[1]}) used {cpu[2]} ({cpu[3]})", ""),
                       ("mem", f"alloc {mem[0]} ({mem[1]}) used {mem[2]} ({mem[3]})", "")],
                      [("cpu", f"{cpu[1]} alloc {cpu[3]} used", ""), ("mem", f"{mem[1]} alloc {mem[3]} used", "")])
    t = Text(no_wrap=True, overflow="crop")
    t.append_text(badge)
    t.append_text(first)
    t.append("\n")
    t.append_text(second)
    return t


class FleetHeader(Static):
    """The fleet at a glance (two lines, each fitted to the width: see header_text)."""

    # never wrapped: a first line wider than the terminal (drawn before the width was known,
    # or the terminal made narrower) would push the cpu/memory line out of the two
    DEFAULT_CSS = """
    FleetHeader { height: 2; background: $panel; color: $foreground; text-wrap: nowrap; text-overflow: ellipsis; }
    """
    _shown: Text | None = None
    _what: tuple[FleetSummary, str, str, bool] | None = None

    def show(self, s: FleetSummary, clock: str = "", controller: str = "", readonly: bool = False) -> None:
        self._what = (s, clock, controller, readonly)
        text = header_text(s, clock, controller, self.size.width or None, readonly)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)  # two lines, always: no layout pass

    def on_resize(self) -> None:
        """Fitted again to the new width at once (not at the next redraw, a second later)."""
        if self._what is not None:
            self.show(*self._what)


class StableFooter(Footer):
    """Textual's Footer, rebuilt only when the keys it shows change, and held still while
    ``frozen`` (the ``:``/``/`` prompt is open: the input takes the letter keys, and Textual's
    footer would drop them from the list on opening and bring them back on closing, each time
    rebuilding and restyling every key, ~10-20 ms of every view switch for the same keys).

    The keys of every view are made once; ``shows(action name)`` says which the view shown
    lists (the others are hidden, not dimmed), and a view switch only shows and hides some
    (``show_keys``, in the switch's own layout pass). Rebuilding them on each switch cost
    55-75 ms of cpu per switch, restyling them ~20 ms more (measured, 2 busy cpus)."""

    _shown_keys: tuple[tuple[object, ...], ...] | None = None
    frozen = False

    def __init__(self, shows: Callable[[str], bool] = lambda action: True):
        super().__init__()
        self.shows = shows

    def _keys(self) -> tuple[tuple[object, ...], ...]:
        return tuple((b.key, b.action, b.description, b.group, tooltip)
                     for _, b, _enabled, tooltip in self.screen.active_bindings.values() if b.show)

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # made as enabled (a key of another view is disabled now): styled and clicked
                # as it will be when shown
                widget.remove_class("-disabled")
                widget._disabled = False
                widget.display = self.shows(action_name(widget.action))
            yield widget

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self.frozen:
            return
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = self._keys()
            if keys == self._shown_keys:
                self.show_keys()
                return
            self._shown_keys = keys
        super().bindings_changed(screen)

    def show_keys(self) -> None:
        """Show the keys ``shows`` says, hide the others: display changes only (no rebuild, no
        restyle); a view switch calls it, so that its one layout pass has them."""
        for key in self.query(FooterKey):
            on = self.shows(action_name(key.action))
            if key.display != on:
                key.display = on

    def freeze(self, frozen: bool) -> None:
        """Hold the keys shown (``True``), or show the keys of now again (``False``)."""
        self.frozen = frozen
        if not frozen and self.is_attached:
            self.call_next(self.bindings_changed, self.screen)  # in the footer's own context


class LiveScreen(Screen[None]):
    """A screen over the main one that shows the state as it changes: the app's once-a-second
    redraw (and refresh_now) calls its ``refresh_view`` while it is on top."""

    def refresh_view(self) -> None:
        raise NotImplementedError
