"""A line chart in braille characters: each cell is 2 dots wide and 4 high, so a 100 x 8 cell
chart plots 200 points on 32 levels. Values are percentages or amounts on a fixed scale
(0 to ``top``); NaN is no sample, drawn as a gap. Pure functions: the plot screen gives them
the series (``controller/usage.py``) and its size."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from rich.text import Text

BRAILLE = 0x2800
# the bit of the dot at (column 0..1, row 0..3 from the top) of a braille cell
DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
AXIS = 7  # cells left of the chart for the scale's labels


def points(values: Sequence[float], count: int) -> list[float]:
    """``count`` points of ``values`` (oldest first): each the mean of the samples in its
    share (NaN when all of them are), or the samples spread out when fewer than points."""
    n = len(values)
    out = []
    for i in range(count):
        lo, hi = i * n // count, max((i + 1) * n // count, i * n // count + 1)
        part = [v for v in values[lo:hi] if not math.isnan(v)]
        out.append(sum(part) / len(part) if part else math.nan)
    return out


def nice_top(peak: float, floor: float) -> float:
    """A round scale above ``peak`` (1, 2, 2.5 or 5 times a power of ten), at least ``floor``."""
    peak = max(peak, floor)
    power = 10 ** math.floor(math.log10(peak))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= peak)


def braille_lines(values: Sequence[float], width: int, height: int, top: float) -> list[str]:
    """``height`` lines of ``width`` braille cells: the line through ``values`` on 0..top,
    consecutive points joined by a vertical run so the line has no holes."""
    if width <= 0 or height <= 0:
        return []
    levels = height * 4
    cells = [[0] * width for _ in range(height)]
    prev: int | None = None
    for x, v in enumerate(points(values, width * 2)):
        if math.isnan(v):
            prev = None
            continue
        y = min(levels - 1, max(0, round(v / top * (levels - 1)))) if top > 0 else 0
        lo, hi = (y, y) if prev is None else (min(prev, y), max(prev, y))
        for level in range(lo, hi + 1):
            row = levels - 1 - level  # from the top
            cells[row // 4][x // 2] |= DOTS[row % 4][x % 2]
        prev = y
    return ["".join(chr(BRAILLE + c) if c else " " for c in line) for line in cells]


def chart(values: Sequence[float], width: int, height: int, top: float, label: str, style: str) -> Text:
    """The chart with its scale on the left (``label``: how a value reads, e.g. "{:.0f}%"),
    ``height`` lines, ``width`` cells in all."""
    lines = braille_lines(values, max(1, width - AXIS), height, top)
    text = Text(no_wrap=True, overflow="crop")
    for i, line in enumerate(lines):
        mark = top if i == 0 else top / 2 if i == height // 2 else 0.0 if i == height - 1 else None
        scale = label.format(mark) if mark is not None else ""
        text.append(f"{scale[:AXIS - 1]:>{AXIS - 1}}┤" if mark is not None else " " * (AXIS - 1) + "│", style="dim")
        text.append(line, style=style)
        if i < len(lines) - 1:
            text.append("\n")
    return text


def time_axis(width: int, end: float, span: float, ticks: int = 4) -> Text:
    """The clock times under a chart of ``width`` cells that ends at ``end`` and spans ``span``
    seconds: one at each of ``ticks + 1`` even places, the last one at the right edge."""
    inner = max(1, width - AXIS)
    line = [" "] * (AXIS + inner)
    for i in range(ticks + 1):
        at = end - span + span * i / ticks
        stamp = time.strftime("%H:%M", time.localtime(at))
        col = AXIS + round((inner - 1) * i / ticks)
        start = min(max(0, col - len(stamp) // 2), len(line) - len(stamp))
        line[start:start + len(stamp)] = stamp
    return Text("".join(line), style="dim", no_wrap=True)
