"""The lines of the logs screen (logs.py): docker's timestamps, the filter (a regular expression,
or the text as typed when it is not one), the colours (a stable one per replica, as
``docker compose logs`` gives, dim timestamps, levels, the filter's matches) and the file the
shown lines are saved to."""

from __future__ import annotations

import os
import re
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import platformdirs
from rich.highlighter import Highlighter
from rich.text import Text

from tui_orch.config import APP

# colours and cursor moves (CSI), window titles and links (OSC, to BEL or ST), other escapes
ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ?")
# docker compose's order: replica 1 cyan, 2 yellow...; enough that neighbours differ
PALETTE = ("cyan", "yellow", "green", "magenta", "blue",
           "bright_cyan", "bright_yellow", "bright_green", "bright_magenta", "bright_blue")
STREAM_BROKE = "the log stream ended"  # how a note about a stream that broke begins


class Entry(NamedTuple):
    """One line the logs screen keeps: the replica it came from ("" when the screen shows one
    replica), and docker's line with its timestamp; ``note``: the screen's own words (a stream
    ended, a replica went away), shown whatever the filter."""

    source: str
    raw: str
    note: bool = False


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


def replica_colour(name: str) -> str:
    """The same colour for a replica every time: by its slot (web.2 the second colour), a
    global replica's (web.node1) by its name; never by the order replicas were seen in."""
    _, _, tail = name.rpartition(".")
    index = int(tail) - 1 if tail.isdigit() else zlib.crc32(name.encode())
    return PALETTE[index % len(PALETTE)]


class LogFilter:
    """``text`` keeps the lines a regular expression finds in (any case); ``!text`` the lines
    it finds nothing in. A text that is not a regular expression (``a[b``) is looked for as
    typed, and ``problem`` says so."""

    def __init__(self, spec: str = ""):
        self.spec = spec
        self.inverse = spec.startswith("!")
        self.needle = spec[1:] if self.inverse else spec
        self.problem = ""
        try:
            self.regex = re.compile(self.needle, re.IGNORECASE)
        except re.error as exc:
            self.problem = f"{self.needle!r} is not a regular expression ({exc}): filtering on the text as typed"
            self.regex = re.compile(re.escape(self.needle), re.IGNORECASE)

    def __bool__(self) -> bool:
        return bool(self.needle)

    def keeps(self, text: str) -> bool:
        return not self.needle or ((self.regex.search(text) is not None) != self.inverse)

    def spans(self, text: str, start: int = 0) -> list[tuple[int, int]]:
        """Where the filter matched in ``text`` from ``start`` (none for an inverse filter)."""
        if not self.needle or self.inverse:
            return []
        return [m.span() for m in self.regex.finditer(text, start) if m.end() > m.start()]


class LogHighlighter(Highlighter):
    """The replica's name in its colour (``prefixed``), timestamps dim, warnings in yellow,
    errors and a broken stream in red, the filter's matches reversed."""

    PREFIX = re.compile(r"^(\S+) *\| ")
    SHORT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? ")
    LEVEL = re.compile(r"\b(?:(ERROR|FATAL|PANIC|CRITICAL)|(WARN|WARNING))\b", re.IGNORECASE)

    def __init__(self, prefixed: bool = False):
        self.prefixed = prefixed
        self.filter = LogFilter()

    def highlight(self, text: Text) -> None:
        plain = text.plain
        at = 0
        if self.prefixed and (prefix := self.PREFIX.match(plain)):
            text.stylize(f"bold {replica_colour(prefix.group(1))}", 0, prefix.end() - 1)
            at = prefix.end()
        if plain.startswith("-- ", at):
            text.stylize("bold red" if plain.startswith(f"-- {STREAM_BROKE}", at) else "bold", at)
            return
        stamp = self.SHORT.match(plain[at:])
        if stamp:
            text.stylize("dim", at, at + stamp.end())
            at += stamp.end()
        level = self.LEVEL.search(plain, at)
        if level:
            text.stylize("bold red" if level.group(1) else "yellow", level.start(), level.end())
        for start, end in self.filter.spans(plain, at):
            text.stylize("reverse", start, end)


# --------------------------------------------------------------------------- saving


def save_lines(name: str, lines: Iterable[str], now: float | None = None) -> Path:
    """Write ``lines`` to ``NAME-YYYYmmdd-HHMMSS.log`` in the current folder, or in the state
    folder's ``logs/`` ($XDG_STATE_HOME/tui-orch/logs) when the current one cannot be written.
    Mode 0600 (logs may hold what only the operator should read); an existing file is never
    overwritten (``-2``, ``-3``... added). Raises OSError when neither folder can be written,
    its message one sentence naming both and why."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "logs"
    stem = f"{safe}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}"
    data = "".join(f"{line}\n" for line in lines).encode()
    try:
        return _write_new(Path.cwd(), stem, data)
    except OSError as exc:
        here = exc
    folder = platformdirs.user_state_path(APP) / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _write_new(folder, stem, data)
    except OSError as exc:
        raise OSError(f"neither the current folder ({_why(here)}) nor {folder} ({_why(exc)}) can be "
                      f"written") from None


def _why(exc: OSError) -> str:
    """``Permission denied`` rather than ``[Errno 13] Permission denied: '/x'``."""
    return exc.strerror or str(exc)


def _write_new(folder: Path, stem: str, data: bytes) -> Path:
    for n in range(1, 100):
        path = folder / (f"{stem}.log" if n == 1 else f"{stem}-{n}.log")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path.absolute()
    raise FileExistsError(f"{folder}: {stem}.log and 98 others exist already")
