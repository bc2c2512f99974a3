"""The ``:``/``/`` prompt: Tab completes (the ``:`` verbs of keys.COMMANDS, then the names
their arguments take: services, replicas, nodes), cycling through the candidates on repeated
Tab and listing them under the line; up and down recall what was typed before, each prompt
its own list, kept across restarts in a small file of the console's state folder."""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding
from textual.markup import escape
from textual.suggester import Suggester
from textual.widgets import Input

from tui_orch.ui.keys import COMMAND_ARGS, COMMANDS, DESTRUCTIVE_ACTIONS

HISTORY_FILE = "console-history.json"
HISTORY_KEEP = 200  # entries of each prompt
HISTORY_ENTRY = 1000  # characters at most of one entry (longer ones are not kept)
HINT_NAMES = 8  # candidates listed under the line (the rest counted)
MODES = {":": "command", "/": "filter"}  # prompt -> its list in the file

Names = Callable[[str], Sequence[str]]  # a kind ("service", "replica", "node") -> its names, sorted


class PromptHistory:
    """What was typed at each prompt, oldest first, a line typed again moved to the end.
    Kept in ``folder/console-history.json`` (mode 0600: commands name services and hosts),
    ``HISTORY_KEEP`` lines a prompt; with no folder, for this run only. ``problem``: why the
    file could not be read or written (the screen says it once)."""

    def __init__(self, folder: Path | None):
        self.path = folder / HISTORY_FILE if folder is not None else None
        self.lines: dict[str, list[str]] = {mode: [] for mode in MODES}
        self.problem: str | None = None
        self._said = False

    def load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.problem = f"{self.path}: the command history cannot be read ({exc}); a new one is started"
            return
        if not isinstance(data, dict):
            self.problem = f"{self.path}: the command history is not a mapping; a new one is started"
            return
        for mode, name in MODES.items():
            found = data.get(name)
            if isinstance(found, list):  # a line that is not printable text is left out (it came from a file)
                self.lines[mode] = [s for s in found if isinstance(s, str) and s.isprintable()
                                    and 0 < len(s) <= HISTORY_ENTRY][-HISTORY_KEEP:]

    def add(self, mode: str, text: str) -> None:
        """Remember ``text`` typed at ``mode`` and write the file."""
        text = text.strip()
        lines = self.lines.get(mode)
        if lines is None or not text or len(text) > HISTORY_ENTRY:
            return
        if text in lines:
            lines.remove(text)
        lines.append(text)
        del lines[:-HISTORY_KEEP]
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        body = json.dumps({name: self.lines[mode] for mode, name in MODES.items()}, indent=0)
        tmp = self.path.with_name(f".{HISTORY_FILE}.tmp-{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # whatever the umask
                os.write(fd, body.encode("utf-8"))
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.problem = f"{self.path}: the command history cannot be written ({exc.strerror or exc})"

    def take_problem(self) -> str | None:
        """The problem to say, once."""
        if self.problem is None or self._said:
            return None
        self._said = True
        return self.problem


@dataclass(frozen=True)
class Completion:
    """The word under completion: it begins at ``start`` of the line; ``candidates`` (sorted,
    at most ``limit``) replace it; ``total``: how many there are in all; ``kinds``: what it
    names ("command" for the verb)."""

    start: int
    word: str
    candidates: tuple[str, ...]
    total: int
    kinds: tuple[str, ...]


def starting_with(names: Sequence[str], prefix: str, limit: int) -> tuple[list[str], int]:
    """The first ``limit`` of sorted ``names`` that start with ``prefix``, and how many do
    (a bisection: ten thousand node names cost nothing per key)."""
    lo = bisect_left(names, prefix)
    hi = bisect_left(names, prefix + "\U0010ffff", lo)
    return list(names[lo:min(hi, lo + limit)]), hi - lo


def verbs(readonly: bool) -> list[str]:
    """The ``:`` aliases Tab offers (a read-only console leaves out those that change the fleet)."""
    return sorted(a for a, verb in COMMANDS.items() if not (readonly and verb in DESTRUCTIVE_ACTIONS))


def complete(line: str, names: Names, readonly: bool = False, limit: int = 200) -> Completion:
    """What Tab offers for the last word of a ``:`` line: a verb, or a name its argument
    takes (keys.COMMAND_ARGS)."""
    start = len(line) - len(line.split(" ")[-1])
    word, words = line[start:], line[:start].split()
    if not words:
        found, total = starting_with(verbs(readonly), word.lower(), limit)
        return Completion(start, word, tuple(found), total, ("command",))
    args = COMMAND_ARGS.get(COMMANDS.get(words[0].lstrip(":").lower(), ""), ())
    kinds = args[len(words) - 1] if len(words) - 1 < len(args) else ()
    merged: set[str] = set()
    total = 0
    for kind in kinds:
        found, count = starting_with(names(kind), word, limit)
        total += count - len(merged.intersection(found))  # a service and a node of one name: once
        merged.update(found)
    return Completion(start, word, tuple(sorted(merged)[:limit]), total, kinds)


def hint(c: Completion, current: int = -1) -> str:
    """One line under the prompt (markup: a border subtitle): the candidates (the one Tab
    put in, in bold brackets), or what the word would name when none fits."""
    if not c.kinds:
        return ""
    if not c.candidates:
        what = " or ".join(c.kinds)
        return escape(f"no {what} starts with {c.word!r}" if c.word else f"no {what} to name")
    first = max(0, current - HINT_NAMES + 1)  # the window of names shown holds the current one
    shown = c.candidates[first:first + HINT_NAMES]
    words = [f"[b]{escape(f'[{n}]')}[/b]" if first + i == current else escape(n) for i, n in enumerate(shown)]
    more = c.total - len(shown)
    return "Tab: " + "  ".join(words) + (f"  (+{more} more)" if more > 0 else "")


class CompletionSuggester(Suggester):
    """The first candidate, shown dimmed after the cursor (right or end takes it)."""

    def __init__(self, prompt: "Prompt"):
        super().__init__(use_cache=False, case_sensitive=True)
        self.prompt = prompt

    async def get_suggestion(self, value: str) -> str | None:
        if self.prompt.mode != ":" or not value or value.endswith(" "):
            return None
        c = self.prompt.completion(value)
        first = c.candidates[0] if c.candidates else ""
        return value[:c.start] + first if first.startswith(c.word) and first != c.word else None


@dataclass
class _Cycle:
    """Tab pressed again on the line Tab made: the next candidate."""

    line: str  # the line as Tab left it
    completion: Completion
    index: int


class Prompt(Input):
    """The console's prompt line. ``names(kind)``: the names Tab completes with; the screen
    opens it with ``begin`` (``mode`` is ":" or "/")."""

    BINDINGS = [
        Binding("tab", "complete(1)", "Complete", show=False),
        Binding("shift+tab", "complete(-1)", "Complete (back)", show=False),
        Binding("up", "recall(-1)", "Previous line", show=False),
        Binding("down", "recall(1)", "Next line", show=False),
    ]

    def __init__(self, names: Names, history: PromptHistory, readonly: bool = False, *, id: str | None = None):
        super().__init__(id=id)
        self.suggester = CompletionSuggester(self)
        self.names = names
        self.history = history
        self.readonly = readonly
        self.mode = ""
        self._cycle: _Cycle | None = None
        self._known: dict[str, list[str]] = {}  # kind -> sorted names, read once per opening
        self._at = 0  # where up/down are in the history (len: the line being typed)
        self._draft = ""

    def begin(self, mode: str, value: str = "") -> None:
        self.mode = mode
        self._cycle = None
        self._known = {}
        self._at = len(self.history.lines.get(mode, ()))
        self._draft = value
        self.value = value
        self.cursor_position = len(value)
        self.border_subtitle = ""

    def completion(self, line: str) -> Completion:
        return complete(line, self._names, self.readonly)

    def _names(self, kind: str) -> Sequence[str]:
        if kind not in self._known:
            self._known[kind] = sorted(set(self.names(kind)))
        return self._known[kind]

    # ------------------------------------------------------------------ Tab
    def action_complete(self, step: int) -> None:
        """Put the next (``step`` 1) or previous (-1) candidate in place of the last word; one
        candidate only: it, and a space for the next word."""
        if self.mode != ":":
            return
        cycle = self._cycle
        if cycle is None or cycle.line != self.value:
            c = self.completion(self.value[:self.cursor_position])
            if not c.candidates:
                self.border_subtitle = hint(c)
                return
            cycle = _Cycle("", c, 0 if step > 0 else len(c.candidates) - 1)
        else:
            cycle.index = (cycle.index + step) % len(cycle.completion.candidates)
        c = cycle.completion
        chosen = c.candidates[cycle.index]
        line = self.value[:c.start] + chosen + (" " if len(c.candidates) == 1 else "")
        cycle.line = line
        self.value = line
        self.cursor_position = len(line)
        self._cycle = cycle if len(c.candidates) > 1 else None
        self.border_subtitle = hint(c, cycle.index) if len(c.candidates) > 1 else ""

    def on_input_changed(self, event: Input.Changed) -> None:
        """Typing shows what Tab would offer (not stopped: the screen may listen)."""
        if self.mode == ":" and (self._cycle is None or self._cycle.line != event.value):
            self._cycle = None
            self.border_subtitle = hint(self.completion(event.value)) if event.value else ""

    # ------------------------------------------------------------------ history
    def action_recall(self, step: int) -> None:
        """up (-1): the line typed before; down (1): the next, then the line being typed."""
        lines = self.history.lines.get(self.mode, [])
        at = max(0, min(len(lines), self._at + step))
        if at == self._at:
            return
        if self._at == len(lines):
            self._draft = self.value
        self._at = at
        self.value = lines[at] if at < len(lines) else self._draft
        self.cursor_position = len(self.value)
