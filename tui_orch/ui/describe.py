"""``d`` describe, ``y`` the Compose text, as k9s users know them: a full screen of text
(scroll, ``/`` search, ``n``/``N`` the next and previous match, esc closes). What is shown is
made by the controller's read side (controller/describe.py); this module only draws it."""

from __future__ import annotations

import re

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Log, Static

from tui_orch.controller.describe import Described
from tui_orch.errors import printable
from tui_orch.ui.dialog_style import pane_css

HEADING = "── "
# a describe's change (a unified diff, indented by 2): its lines' first characters -> their style
CHANGE = {"  ---": "bold", "  +++": "bold", "  @@": "cyan", "  -": "red", "  +": "green", "  #": "yellow"}


def described_lines(d: Described) -> list[str]:
    """The sections of a describe, each under a heading line, a blank line between."""
    out: list[str] = []
    for section in d.sections:
        if out:
            out.append("")
        out.append(f"{HEADING}{section.title}")
        out.extend(f"  {line}" for line in section.lines)
    return out


class TextHighlighter(Highlighter):
    """Headings bold, a change's - and + lines red and green, YAML comments dim, and the
    search's matches reversed."""

    def __init__(self) -> None:
        self.needle = ""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if plain.startswith(HEADING):
            text.stylize("bold")
        elif plain.lstrip().startswith("#") and not plain.startswith("  # secret"):
            text.stylize("dim")
        else:
            start = next((s for s in CHANGE if plain.startswith(s)), None)  # the longest first
            if start is not None:
                text.stylize(CHANGE[start])
        if self.needle:
            for m in re.finditer(re.escape(self.needle), plain, re.IGNORECASE):
                text.stylize("reverse", m.start(), m.end())


class TextScreen(Screen[None]):
    """Lines of text under a title: scroll, search, esc closes."""

    DEFAULT_CSS = pane_css("TextScreen", "text-title", "text", "search", "text-status")
    BINDINGS = [
        Binding("escape", "back", "Back", id="text.back"),
        Binding("slash", "search", "Search", key_display="/", id="text.search"),
        Binding("n", "next_match", "Next match", id="text.next"),
        Binding("N", "previous_match", "Previous match", id="text.previous"),
    ]

    def __init__(self, title: str, lines: list[str], status: str = "", *, name: str | None = None):
        super().__init__(name=name)
        self.title_text = title
        self.lines = [printable(line) for line in lines]  # names and messages come from files and hosts
        self.status_base = status
        self.needle = ""
        self.match = -1  # the line of the match shown
        self.highlighter = TextHighlighter()

    def compose(self) -> ComposeResult:
        yield Static(Text(printable(self.title_text)), id="text-title")
        log = Log(id="text", highlight=True, auto_scroll=False)
        log.highlighter = self.highlighter
        yield log
        yield Input(placeholder="search: text (enter finds it, n/N the next/previous, esc clears)", id="search")
        yield Static("", id="text-status")
        yield Footer()

    def on_mount(self) -> None:
        self.text_widget.write_lines(self.lines, scroll_end=False)
        self.text_widget.focus()
        self._status()

    @property
    def text_widget(self) -> Log:
        return self.query_one("#text", Log)

    @property
    def status_text(self) -> str:
        return str(self.query_one("#text-status", Static).content)

    def _status(self, note: str = "") -> None:
        parts = [self.status_base] if self.status_base else []
        parts.append(f"{len(self.lines)} lines")
        if self.needle:
            found = self.matches()
            at = f"match {found.index(self.match) + 1} of {len(found)}" if self.match in found else f"{len(found)} matches"
            parts.append(f"search {self.needle!r}: {at}")
        if note:
            parts.append(note)
        self.query_one("#text-status", Static).update(Text(printable("  ".join(parts))))

    # ----------------------------------------------------------------- search
    def matches(self) -> list[int]:
        needle = self.needle.lower()
        return [i for i, line in enumerate(self.lines) if needle and needle in line.lower()]

    def set_search(self, needle: str) -> None:
        self.needle = needle.strip()
        self.highlighter.needle = self.needle
        log = self.text_widget
        log.clear()  # drawn again: its lines are cached with the old highlights
        log.write_lines(self.lines, scroll_end=False)
        self.match = -1
        self._go(1, start=int(log.scroll_y) - 1)

    def _go(self, step: int, start: int | None = None) -> None:
        """Scroll to the next (``step`` 1) or previous (-1) match after ``start`` (the match shown)."""
        found = self.matches()
        if not self.needle:
            self._status()
            return
        if not found:
            self._status("no match")
            return
        at = self.match if start is None else start
        after = [i for i in found if (i > at if step > 0 else i < at)]
        self.match = (after[0] if step > 0 else after[-1]) if after else (found[0] if step > 0 else found[-1])
        self.text_widget.scroll_to(y=max(0, self.match - 3), animate=False, immediate=True)
        self._status("wrapped" if not after else "")

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.value = self.needle
        box.add_class("-open")
        box.focus()

    def action_next_match(self) -> None:
        self._go(1)

    def action_previous_match(self) -> None:
        self._go(-1)

    @on(Input.Submitted, "#search")
    def _searched(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_search()
        self.set_search(event.value)

    def _close_search(self) -> None:
        self.query_one("#search", Input).remove_class("-open")
        self.text_widget.focus()

    def action_back(self) -> None:
        """esc: close the search box, else clear the search, else leave."""
        box = self.query_one("#search", Input)
        if box.has_class("-open"):
            self._close_search()
        elif self.needle:
            self.set_search("")
        else:
            self.dismiss(None)
