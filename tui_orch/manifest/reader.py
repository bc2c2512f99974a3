"""Reading composed YAML nodes with their positions.

The document is composed, never constructed: PyYAML's SafeLoader composer (with a nesting
limit) and resolver build nodes that keep their marks (line, column), and no tag can build a
Python object. The events come from libyaml's parser when PyYAML has it (the same YAML, about
ten times faster; only some syntax-error wordings differ), else from SafeLoader's own.

The ``Reader`` turns nodes into plain values, records each problem with ``file:line:column``
and its key path, and raises ``Invalid`` for a value it cannot read so that the caller can go
on with the next key.
"""

from __future__ import annotations

import dataclasses

import contextlib
import gc
import math
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tui_orch.errors import Problem, UnitError
from tui_orch.manifest.interpolate import InterpolationError, Lookup, interpolate
from tui_orch.units import parse_bytes, parse_cpus, parse_duration

T = TypeVar("T")

_TAG = "tag:yaml.org,2002:"
MAP, SEQ, MERGE, NULL = _TAG + "map", _TAG + "seq", _TAG + "merge", _TAG + "null"
SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
MAX_DEPTH = 40  # nesting levels of the YAML document
MAX_VALUES = 200_000  # values in the document once aliases are expanded
MAX_PROBLEMS = 100  # errors (and warnings) kept per file; the rest are only counted

Entries = dict[str, tuple[Node, Node]]  # key -> (key node, value node), in document order


class Invalid(Exception):
    """A value that cannot be read. ``node`` (default: the value) is where it is reported."""

    def __init__(self, message: str, node: Node | None = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.node = node
        self.path = path


class Reported(Invalid):
    """A value whose problems were already recorded: stop reading it, report nothing more."""

    def __init__(self) -> None:
        super().__init__("already reported")


# --------------------------------------------------------------------------- composing

try:  # libyaml: the same YAML events, scanned about ten times faster than in Python
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CParser = None

USE_LIBYAML = _CParser is not None  # tests switch it off to check the pure-Python path too
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


class _Composer(yaml.composer.Composer):
    """PyYAML's composer with a nesting limit, so that no input can exhaust the stack. Nodes
    are only composed, never constructed: no tag can build a Python object."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1


class _SafeLoader(_Composer, yaml.SafeLoader):
    """yaml.SafeLoader (pure Python) with the limited composer."""


if _CParser is not None:

    class _FastLoader(_Composer, _CParser, yaml.resolver.Resolver):  # type: ignore[misc, valid-type]
        """libyaml's scanner and parser, then the same composer and resolver as SafeLoader's."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)


def compose(text: str, file: str) -> Node | None:
    """The document's root node (None for an empty document). Text that is not valid YAML
    raises ``YamlProblem`` carrying the problem with its position."""
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line, col = position(text, bad.start())
        raise YamlProblem(Problem(file, line, col, "", f"invalid YAML: character {bad.group()!r} is not allowed"))
    loader: Any = None
    try:
        with collector_paused():
            loader = _FastLoader(text) if USE_LIBYAML else _SafeLoader(text)
            return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = ", ".join(str(part) for part in (exc.context, exc.problem) if part) or "cannot be read"
        raise YamlProblem(Problem(file, line, col, "", f"invalid YAML: {problem}")) from None
    except yaml.reader.ReaderError as exc:  # libyaml counts bytes of UTF-8
        before = text.encode("utf-8", "surrogatepass")[: exc.position].decode("utf-8", "ignore")
        line, col = position(text, len(before))
        raise YamlProblem(Problem(file, line, col, "", f"invalid YAML: {exc.reason}")) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(Problem(file, 1, 1, "", f"invalid YAML: {exc}")) from None
    finally:
        if loader is not None:
            loader.dispose()


MARKED = "\x00file:"  # before a file name in a node's mark: the node comes from that file (mark_file)


def mark_file(root: Node | None, file: str) -> None:
    """Say in each node of ``root`` that it comes from ``file``: a problem found in it once it
    is merged into another file's service (extends) names the file it is written in."""
    name = MARKED + file
    todo = [root] if root is not None else []
    while todo:
        node = todo.pop()
        m = node.start_mark  # libyaml's marks are read-only: a new one
        node.start_mark = yaml.error.Mark(name, m.index, m.line, m.column, None, None)
        if isinstance(node, MappingNode):
            for key, value in node.value:
                todo += (key, value)
        elif isinstance(node, SequenceNode):
            todo += node.value


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration (back on after, if it was on).
    Reading a file makes about 13 nodes per line that all live until the end, and each of the
    collector's passes walks them all: for a 3.9 MB inventory the passes took 13 s of 17 s.
    What reading makes is freed by reference counting; nothing waits on the collector."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class YamlProblem(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def decode(data: str | bytes, file: str) -> str:
    """The text of a file's bytes (UTF-8, with or without a BOM); YamlProblem if it is not."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", "replace")
        line, col = position(before, len(before))
        byte = data[exc.start:exc.start + 1].hex()
        raise YamlProblem(Problem(file, line, col, "", f"not UTF-8 text (byte 0x{byte}); save the file as UTF-8")) from None


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    index = max(0, min(index, len(text)))
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def expanded_size(root: Node, limit: int = MAX_VALUES) -> int:
    """How many values the document holds once aliases are expanded (capped just above
    ``limit``), without recursion and without looping on recursive aliases."""
    sizes: dict[int, int] = {}
    started: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            total = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
            sizes[key] = min(total, limit + 1)
            continue
        if key in started:
            continue
        started.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in started)
    return sizes[id(root)]


def _children(node: Node) -> Iterable[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value


# --------------------------------------------------------------------------- reading


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_tag(node: Node, path: str) -> None:
    """Refuse any tag but the plain YAML ones, so that no tag can mean more than text."""
    if isinstance(node, MappingNode):
        ok, kind = node.tag == MAP, "mapping"
    elif isinstance(node, SequenceNode):
        ok, kind = node.tag == SEQ, "list"
    else:
        ok, kind = node.tag in SCALAR_TAGS, "value"
    if not ok:
        raise Invalid(f"unsupported YAML tag {tag_name(node.tag)}: write a plain {kind} without a tag", node, path)


def is_null(node: Node) -> bool:
    """A null value (``key:``, ``~``, ``null``): an optional key set to it counts as absent."""
    return isinstance(node, ScalarNode) and node.tag == NULL


def no_nul(text: str, node: Node | None = None, path: str | None = None) -> str:
    """``text``, or Invalid when it holds a NUL character: Docker's API and the nodes' shells
    end a string at NUL, so the value the container got would be cut short."""
    if "\x00" in text:
        raise Invalid("contains a NUL character (\\0), which no container setting can hold; remove it", node, path)
    return text


def tag_name(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def got(node: Node) -> str:
    """How a value is named in 'expected X, got Y'."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL:
        return "nothing (null)"
    return shown(node.value)


def shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


class Reader:
    """Problems found so far, and typed readers of nodes that raise ``Invalid``."""

    def __init__(self, file: str, lookup: Lookup):
        self.file = file
        self.lookup = lookup
        self.problems: list[Problem] = []
        self.error_count = 0  # every error, the dropped ones too
        self._kept: dict[tuple[str, str], int] = {}
        self._dropped: dict[tuple[str, str], int] = {}
        self._unchecked = ""  # what was left unread once the error cap was reached
        self._entries: dict[int, Entries] = {}
        self._merging: set[int] = set()
        self._unset: set[str] = set()
        # files of the operator's machine bound by a relative path are checked (localtree.py)
        # only when the manifest was read from a file: a text parsed alone names no real folder
        self.check_local = False
        # each service's profiles as read, also of a service in error: one that the active
        # profiles leave out has its errors said as warnings (document.leave_out)
        self.profiles_of: dict[str, tuple[str, ...]] = {}
        # each service's links (service, alias), with where they are written: given as aliases
        # once every service's networks are known (networks.attach)
        self.links: dict[str, tuple[tuple[tuple[str, str], ...], Node, str]] = {}

    # ------------------------------------------------------------------ problems

    def error(self, node: Node | None, path: str, message: str) -> None:
        self.add(self._problem(node, path, message, "error"))

    def warn(self, node: Node | None, path: str, message: str) -> None:
        self.add(self._problem(node, path, message, "warning"))

    def add(self, problem: Problem) -> None:
        """Record a problem; past ``MAX_PROBLEMS`` of a severity in one file it is only counted
        (a file of 100,000 bad services must not build and print 100,000 messages)."""
        self.error_count += problem.severity == "error"
        key = (problem.file, problem.severity)
        kept = self._kept.get(key, 0)
        if kept >= MAX_PROBLEMS:
            self._dropped[key] = self._dropped.get(key, 0) + 1
            return
        self._kept[key] = kept + 1
        self.problems.append(problem)

    @property
    def full(self) -> bool:
        """Whether the reader's own file has as many errors as are shown: reading on would only
        spend time on messages no one sees."""
        return self._kept.get((self.file, "error"), 0) >= MAX_PROBLEMS

    def stop(self, left: int, what: str) -> None:
        """Note that reading stopped with ``left`` more ``what`` (plural) not checked."""
        self._unchecked = f"{left} more {what} not checked" if left else ""

    def demote(self, prefix: str, note: str) -> int:
        """The errors kept of key path ``prefix`` (and below) become warnings starting with
        ``note``; how many."""
        count = 0
        for i, p in enumerate(self.problems):
            if p.severity == "error" and (p.path == prefix or p.path.startswith(prefix + ".")):
                self.problems[i] = dataclasses.replace(p, message=f"{note}{p.message}", severity="warning")
                count += 1
        self.error_count -= count
        return count

    def capped(self) -> list[Problem]:
        """The problems kept, then one "and N more" line for each file and severity cut short."""
        more = []
        for (file, severity), n in self._dropped.items():
            text = f"and {n} more {severity}{'s' if n != 1 else ''} (only the first {MAX_PROBLEMS} are shown)"
            if file == self.file and severity == "error" and self._unchecked:
                text += f"; stopped reading there, {self._unchecked}"
            more.append(Problem(file, 0, 0, "", text, severity))
        if self._unchecked and (self.file, "error") not in self._dropped:
            more.append(Problem(self.file, 0, 0, "", f"only the first {MAX_PROBLEMS} errors are shown; "
                                                     f"stopped reading there, {self._unchecked}"))
        return [*self.problems, *more]

    def _problem(self, node: Node | None, path: str, message: str, severity: str) -> Problem:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)
        # a node of another file merged in (extends: mark_file) names that file
        named = getattr(node.start_mark, "name", "") if node is not None else ""
        file = named if isinstance(named, str) and named.startswith(MARKED) else self.file
        return Problem(file.removeprefix(MARKED), line, col, path, message, severity)

    def read(self, fn: Callable[[Node, str], T], node: Node, path: str) -> T | None:
        """``fn(node, path)``, or None after recording the problem it raised."""
        try:
            return fn(node, path)
        except Reported:
            return None
        except Invalid as exc:
            self.error(exc.node if exc.node is not None else node, exc.path or path, exc.message)
            return None

    # ------------------------------------------------------------------ collections

    def entries(self, node: Node, path: str) -> Entries:
        """A mapping's entries, with ``<<`` merge keys applied (explicit keys win, then the
        first merged mapping). Duplicate and non-scalar keys are reported and skipped."""
        check_tag(node, path)
        if not isinstance(node, MappingNode):
            raise Invalid(f"expected a mapping (key: value), got {got(node)}", node, path)
        if id(node) in self._entries:
            return self._entries[id(node)]
        if id(node) in self._merging:
            raise Invalid("this mapping merges itself (<< through a recursive alias)", node)
        self._merging.add(id(node))
        try:
            own: Entries = {}
            merged: Entries = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag == MERGE:
                    for source in self._merge_sources(value):
                        sub = self.read(self.entries, source, join(path, "<<"))
                        for name, entry in (sub or {}).items():
                            merged.setdefault(name, entry)
                    continue
                if not isinstance(key, ScalarNode) or key.tag not in SCALAR_TAGS:
                    kind = got(key) if not isinstance(key, ScalarNode) else tag_name(key.tag)
                    self.error(key, path, f"keys must be plain names, got {kind}")
                    continue
                if "\x00" in key.value:
                    self.error(key, path, "a key contains a NUL character (\\0); remove it")
                    continue
                if key.value in own:
                    first = own[key.value][0].start_mark.line + 1
                    self.error(key, join(path, key.value), f"duplicate key (first set on line {first})")
                    continue
                own[key.value] = (key, value)
            for name, entry in merged.items():
                own.setdefault(name, entry)
            self._entries[id(node)] = own
            return own
        finally:
            self._merging.discard(id(node))

    def _merge_sources(self, node: Node) -> list[Node]:
        """The mappings a ``<<`` key merges: one mapping or a list of them (first wins)."""
        if isinstance(node, SequenceNode):
            return list(node.value)
        return [node]

    def items(self, node: Node, path: str) -> list[Node]:
        check_tag(node, path)
        if not isinstance(node, SequenceNode):
            raise Invalid(f"expected a list, got {got(node)}", node, path)
        return list(node.value)

    # ------------------------------------------------------------------ scalars

    def scalar(self, node: Node, path: str, expected: str = "a single value") -> str | None:
        """A scalar's text with variables interpolated; None for null."""
        check_tag(node, path)
        if not isinstance(node, ScalarNode):
            raise Invalid(f"expected {expected}, got {got(node)}", node, path)
        if node.tag == NULL:
            return None
        if "$" not in node.value:
            return no_nul(node.value, node, path)
        try:
            result = interpolate(node.value, self.lookup)
        except InterpolationError as exc:
            raise Invalid(str(exc), node, path) from None
        for name in result.unset:
            if name not in self._unset:
                self._unset.add(name)
                self.warn(node, path, f"variable {name} is not set; using an empty string")
        return no_nul(result.text, node, path)

    def text(self, node: Node, path: str, expected: str = "a string") -> str:
        value = self.scalar(node, path, expected)
        if value is None:
            raise Invalid(f"expected {expected}, got nothing (null)", node, path)
        return value

    def strings(self, node: Node, path: str, expected: str = "a string") -> list[str]:
        return [self.text(item, join(path, i), expected) for i, item in enumerate(self.items(node, path))]

    def whole(self, node: Node, path: str, minimum: int = 0, maximum: int | None = None) -> int:
        text = self.text(node, path, "a whole number").strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise Invalid(f"expected a whole number, got {shown(text)}", node)
        if len(text) > 30:
            raise Invalid(f"{text[:20]}... is too large", node)
        value = int(text)
        if value < minimum:
            raise Invalid(f"must be {minimum} or more, got {value}", node)
        if maximum is not None and value > maximum:
            raise Invalid(f"must be at most {maximum}, got {value}", node)
        return value

    def number(self, node: Node, path: str, minimum: float, maximum: float) -> float:
        text = self.text(node, path, "a number").strip()
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
            raise Invalid(f"expected a number, got {shown(text)}", node)
        value = float(text)
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise Invalid(f"must be between {minimum:g} and {maximum:g}, got {shown(text)}", node)
        return value

    def boolean(self, node: Node, path: str) -> bool:
        text = self.text(node, path, "true or false").strip().lower()
        if text in ("true", "yes", "on"):
            return True
        if text in ("false", "no", "off"):
            return False
        raise Invalid(f"expected true or false, got {shown(text)}", node)

    def choice(self, node: Node, path: str, options: Iterable[str]) -> str:
        options = list(options)
        text = self.text(node, path, "one of " + ", ".join(options))
        if text not in options:
            raise Invalid(f"expected one of {', '.join(options)}, got {shown(text)}", node)
        return text

    def duration(self, node: Node, path: str) -> float:
        return self._unit(parse_duration, node, path)

    def size(self, node: Node, path: str) -> int:
        return self._unit(parse_bytes, node, path)

    def cpus(self, node: Node, path: str) -> float:
        return self._unit(parse_cpus, node, path)

    def _unit(self, parse: Callable[[str], T], node: Node, path: str) -> T:
        text = self.text(node, path, "a value")
        try:
            return parse(text)
        except UnitError as exc:
            raise Invalid(str(exc), node) from None


__all__ = [
    "MAX_DEPTH", "MAX_VALUES", "USE_LIBYAML", "Entries", "Invalid", "Reader", "Reported", "YamlProblem",
    "MAX_PROBLEMS", "check_tag", "no_nul", "collector_paused", "compose", "decode", "expanded_size", "got", "is_null", "join", "position", "shown",
]
