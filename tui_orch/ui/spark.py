"""A sparkline of percentages on a fixed 0-100 scale.

Textual's Sparkline scales between the smallest and the largest value shown, so a node idling
between 2 % and 6 % cpu draws full-height bars; an operator reads height as load. This one
draws 100 % as full height, newest sample on the right, coloured like the usage bars.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BARS = " ▁▂▃▄▅▆▇█"  # eighths of a cell


def style_of(percent: float) -> str:
    return "red" if percent >= 85 else "yellow" if percent >= 60 else "green"


def columns(values: Sequence[float], width: int) -> list[float]:
    """The newest ``width`` columns: each the mean of its share of ``values`` when there are
    more values than columns, the values themselves (right-aligned) when fewer."""
    if width <= 0 or not values:
        return []
    if len(values) <= width:
        return list(values)
    step = len(values) / width
    out = []
    for i in range(width):
        part = values[int(i * step): max(int((i + 1) * step), int(i * step) + 1)]
        out.append(sum(part) / len(part))
    return out


def spark_lines(values: Sequence[float], width: int, height: int) -> Text:
    """``height`` lines of ``width`` cells; column heights in eighths of a cell, 100 = full."""
    cols = columns(values, width)
    pad = width - len(cols)
    styles = [style_of(v) for v in cols]
    text = Text()
    for row in reversed(range(height)):
        if pad:
            text.append(" " * pad)
        run, run_style = [], ""
        for v, style in zip(cols, styles):
            level = max(0.0, min(100.0, v)) / 100 * height * 8
            eighths = int(round(level - row * 8))
            if row == 0 and eighths <= 0:
                eighths = 1  # the baseline shows there is a sample
            if style != run_style and run:
                text.append("".join(run), style=run_style)
                run = []
            run_style = style
            run.append(BARS[max(0, min(8, eighths))])
        if run:  # cells of one colour in one span: a span per cell made a render 4-5 ms
            text.append("".join(run), style=run_style)
        if row:
            text.append("\n")
    return text


class PercentSpark(Widget):
    """``data``: percentages, oldest first."""

    DEFAULT_CSS = "PercentSpark { height: 2; }"
    data: reactive[list[float]] = reactive(list, layout=False)

    def render(self) -> Text:
        return spark_lines(self.data, self.size.width, max(1, self.size.height))
