"""Compose variable interpolation: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``$$``...

The forms are Compose's: ``${VAR:-d}`` (unset or empty: d), ``${VAR-d}`` (unset: d),
``${VAR:?msg}``/``${VAR?msg}`` (error), ``${VAR:+alt}``/``${VAR+alt}`` (set: alt), nested
forms inside the default, and ``$$`` for a literal ``$``. A lone ``$`` is an error, as in
Compose. An unset variable with no default becomes the empty string and is reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

Lookup = Callable[[str], "str | None"]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(ValueError):
    """A ``$`` form that cannot be read, or a ``${VAR:?message}`` whose variable is missing."""


@dataclass
class Result:
    text: str
    unset: list[str] = field(default_factory=list)  # variables used with no value and no default


def interpolate(text: str, lookup: Lookup) -> Result:
    """Replace the variables of ``text``; raise ``InterpolationError`` on a bad form."""
    result = Result("")
    result.text = _expand(text, lookup, result, 0)
    return result


MAX_NESTING = 10


def _expand(text: str, lookup: Lookup, result: Result, depth: int) -> str:
    if "$" not in text:
        return text
    if depth > MAX_NESTING:
        raise InterpolationError(f"invalid interpolation: nested more than {MAX_NESTING} levels deep")
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        nxt = text[dollar + 1] if dollar + 1 < n else ""
        if nxt == "$":
            out.append("$")
            i = dollar + 2
        elif nxt == "{":
            end = _closing_brace(text, dollar + 2)
            out.append(_braced(text[dollar + 2 : end], lookup, result, depth))
            i = end + 1
        else:
            match = _NAME_RE.match(text, dollar + 1)
            if not match:
                raise InterpolationError(
                    f"invalid interpolation at {text[dollar:dollar + 10]!r}: write $$ for a literal $"
                )
            out.append(_value(match.group(), lookup, result))
            i = match.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth, i = 1, start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text.startswith("$$", i):
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"invalid interpolation: {text[start - 2:start + 20]!r} has no closing }}")


def _braced(inner: str, lookup: Lookup, result: Result, depth: int) -> str:
    match = _NAME_RE.match(inner)
    if not match:
        raise InterpolationError(f"invalid interpolation ${{{inner}}}: expected a variable name")
    name, rest = match.group(), inner[match.end():]
    if not rest:
        return _value(name, lookup, result)
    op = next((o for o in _OPERATORS if rest.startswith(o)), None)
    if op is None:
        raise InterpolationError(f"invalid interpolation ${{{inner}}}: expected :-, -, :?, ?, :+ or + after {name}")
    word = rest[len(op):]
    value = lookup(name)
    present = value is not None and (value != "" or not op.startswith(":"))
    if op in (":-", "-"):
        return value if present and value is not None else _expand(word, lookup, result, depth + 1)
    if op in (":+", "+"):
        return _expand(word, lookup, result, depth + 1) if present else ""
    if not present or value is None:
        reason = _expand(word, lookup, result, depth + 1) if word else f"set {name}"
        raise InterpolationError(f"required variable {name} is missing a value: {reason}")
    return value


def _value(name: str, lookup: Lookup, result: Result) -> str:
    value = lookup(name)
    if value is None:
        result.unset.append(name)
        return ""
    return value


__all__ = ["InterpolationError", "Lookup", "Result", "interpolate"]
