"""Sizes, durations and cpu counts as Compose writes them, and back for display.

Sizes use binary multiples like Docker and Compose (``1k`` = 1024 bytes); durations use Go's
format (``1m30s``, ``500ms``) and plain numbers are seconds; cpus are cores (``0.5``).
Every reader raises ``UnitError`` with one clear sentence on a value it cannot read.
"""

from __future__ import annotations

import math
import re

from tui_orch.errors import UnitError

INT64_MAX = 2**63 - 1
MAX_SECONDS = INT64_MAX / 1e9  # Docker stores durations as int64 nanoseconds (~292 years)

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*([kmgtp]?)(i?)(b?)$", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_NUMBER_RE = re.compile(rf"^{_NUMBER}$")
_DURATION_RE = re.compile(rf"^(?:{_NUMBER}(?:ns|us|µs|μs|ms|s|m|h))+$")
_DURATION_PART_RE = re.compile(rf"({_NUMBER})(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

SIZE_EXAMPLE = "expected a size such as 512m or 2g"
DURATION_EXAMPLE = "expected a duration such as 10s, 1m30s or 500ms"
CPUS_EXAMPLE = "expected a number of cpus such as 0.5 or 2"


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def parse_bytes(value: object) -> int:
    """Bytes from ``2b``, ``512k``, ``300m``, ``1gb``, ``1.5g``, ``1GiB`` or a plain number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"{SIZE_EXAMPLE}, got {_shown(value)}")
    if isinstance(value, str):
        match = _SIZE_RE.match(value.strip())
        if not match:
            if value.strip().startswith("-"):
                raise UnitError(f"a size cannot be negative, got {_shown(value)}")
            raise UnitError(f"{SIZE_EXAMPLE}, got {_shown(value)}")
        number, unit, _, _ = match.groups()
        if len(number) > 30:
            raise UnitError(f"size {_shown(value)} is too large")
        multiple = 1024 ** _SIZE_POWERS[unit.lower()]
        size = int(number) * multiple if number.isdigit() else float(number) * multiple
    else:
        size = float(value) if not isinstance(value, int) or value <= INT64_MAX else math.inf
        if size < 0:
            raise UnitError(f"a size cannot be negative, got {_shown(value)}")
        if math.isnan(size):
            raise UnitError(f"{SIZE_EXAMPLE}, got {_shown(value)}")
    if size > INT64_MAX:
        raise UnitError(f"size {_shown(value)} is too large")
    return int(size)


def _number(value: int | float, example: str, negative: str) -> float:
    """A YAML number as a float (too large -> inf), refusing NaN and negatives."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if math.isnan(number):
        raise UnitError(f"{example}, got {_shown(value)}")
    if number < 0:
        raise UnitError(f"{negative}, got {_shown(value)}")
    return number


def parse_duration(value: object) -> float:
    """Seconds from Go/Compose durations (``1h5m30s20ms``, ``500ms``, ``2us``) or plain seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"{DURATION_EXAMPLE}, got {_shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise UnitError(f"a duration cannot be negative, got {_shown(value)}")
        text = text.lstrip("+")
        if _NUMBER_RE.match(text):
            seconds = float(text)
        elif _DURATION_RE.match(text):
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART_RE.findall(text))
        else:
            raise UnitError(f"{DURATION_EXAMPLE}, got {_shown(value)}")
    else:
        seconds = _number(value, DURATION_EXAMPLE, "a duration cannot be negative")
    if seconds > MAX_SECONDS:
        raise UnitError(f"duration {_shown(value)} is too long (at most about 292 years)")
    return seconds


def parse_cpus(value: object) -> float:
    """Cores from ``0.5``, ``'1.5'`` or ``2``; 0 means no reservation or no limit."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"{CPUS_EXAMPLE}, got {_shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-"):
            raise UnitError(f"cpus cannot be negative, got {_shown(value)}")
        if re.fullmatch(r"\d+m", text):
            raise UnitError(f"{CPUS_EXAMPLE} (cores, not millicores: 500m is 0.5), got {_shown(value)}")
        if not _NUMBER_RE.match(text):
            raise UnitError(f"{CPUS_EXAMPLE}, got {_shown(value)}")
        cpus = float(text)
    else:
        cpus = _number(value, CPUS_EXAMPLE, "cpus cannot be negative")
    if not math.isfinite(cpus) or cpus > 1e6:
        raise UnitError(f"{_shown(value)} cpus is too many")
    return cpus


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(n: int | float) -> str:
    """``1288490188`` -> ``'1.2 GiB'``; ``536870912`` -> ``'512 MiB'``; ``512`` -> ``'512 B'``."""
    if n < 0:
        return "-" + format_bytes(-n)
    value = float(n)
    unit = 0
    while value >= 1024 and unit < len(_BYTE_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{int(n)} B"
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return f"{text} {_BYTE_UNITS[unit]}"


def format_duration(seconds: float) -> str:
    """``90`` -> ``'1m30s'``, ``0.5`` -> ``'500ms'``, ``3600`` -> ``'1h'``, ``0`` -> ``'0s'``.

    The result reads back with ``parse_duration`` (to the millisecond above one second)."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1e-3:
        return f"{_trim(seconds * 1e6, 3)}us"
    if seconds < 1:
        return f"{_trim(seconds * 1e3, 3)}ms"
    total = round(seconds, 3)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{int(hours)}h")
    if minutes:
        parts.append(f"{int(minutes)}m")
    if secs or not parts:
        parts.append(f"{_trim(secs, 3)}s")
    return "".join(parts)


def _trim(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text or "0"


__all__ = ["format_bytes", "format_duration", "parse_bytes", "parse_cpus", "parse_duration"]
