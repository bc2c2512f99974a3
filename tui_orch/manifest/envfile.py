"""Env files (``env_file:`` and the ``.env`` beside a manifest), read as Compose reads them.

One ``KEY=VALUE`` a line; blank lines and ``#`` comments are skipped; ``export KEY=VALUE`` is
accepted. Values may be single-quoted (taken literally), double-quoted (``\\n``, ``\\t``,
``\\"``, ``\\\\`` escapes, then variables interpolated) or bare (trimmed, `` #`` starts a
comment, variables interpolated). ``KEY`` alone takes its value from the environment and is
left out when the environment has none. Quoted values end on the line they start on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tui_orch.manifest.files import read_limited
from tui_orch.manifest.interpolate import InterpolationError, Lookup, interpolate

_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$$"}


@dataclass
class EnvFile:
    values: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[int, int, str]] = field(default_factory=list)  # (line, column, message), 1-based


def read_text(path: str) -> str:
    """The file's text; OSError (``FileRefused`` for a FIFO, device, folder or a file too
    large) or UnicodeDecodeError when it cannot be read."""
    return read_limited(path, kind="env file").decode("utf-8-sig")


def parse_env(text: str, lookup: Lookup) -> EnvFile:
    """Every variable of an env file; earlier lines are visible to later ones' ``${VAR}``."""
    out = EnvFile()

    def scoped(name: str) -> str | None:
        return out.values[name] if name in out.values else lookup(name)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export"):].lstrip()
        key, eq, rest = line.partition("=")
        key = key.strip()
        if not _KEY_RE.fullmatch(key):
            out.errors.append((number, indent + 1, f"expected KEY=VALUE, got {_shown(line)}"))
            continue
        if not eq:
            value = lookup(key)
            if value is not None:
                out.values[key] = value
            continue
        column = indent + raw.strip().find("=") + 2
        try:
            out.values[key] = _value(rest.lstrip(), scoped)
        except (ValueError, InterpolationError) as exc:
            out.errors.append((number, column, f"{key}: {exc}"))
    return out


def _value(text: str, lookup: Lookup) -> str:
    if text.startswith("'"):
        end = text.find("'", 1)
        if end < 0:
            raise ValueError("no closing ' on this line")
        _only_comment_after(text[end + 1:])
        return text[1:end]
    if text.startswith('"'):
        chars: list[str] = []
        i = 1
        while i < len(text) and text[i] != '"':
            if text[i] == "\\" and i + 1 < len(text):
                chars.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
                i += 2
                continue
            chars.append(text[i])
            i += 1
        if i >= len(text):
            raise ValueError('no closing " on this line')
        _only_comment_after(text[i + 1:])
        return interpolate("".join(chars), lookup).text
    comment = re.search(r"\s#", text)
    if comment:
        text = text[: comment.start()]
    return interpolate(text.strip(), lookup).text


def _only_comment_after(rest: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise ValueError(f"unexpected {_shown(rest)} after the closing quote")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


__all__ = ["EnvFile", "parse_env", "read_text"]
