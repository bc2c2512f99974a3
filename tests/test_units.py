"""Sizes, durations and cpus as Compose writes them, and their display forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_orch.errors import UnitError
from tui_orch.units import format_bytes, format_duration, parse_bytes, parse_cpus, parse_duration

KiB, MiB, GiB = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2b", 2),
        ("1024kb", 1024 * KiB),
        ("300m", 300 * MiB),
        ("1gb", GiB),
        ("1g", GiB),
        ("1024m", GiB),
        ("512k", 512 * KiB),
        ("1.5g", int(1.5 * GiB)),
        ("1GiB", GiB),
        ("2G", 2 * GiB),
        ("512 m", 512 * MiB),
        ("1t", 1024**4),
        ("100", 100),
        ("0", 0),
        (" 64m ", 64 * MiB),
        (4096, 4096),
        (0, 0),
        (2.5, 2),
    ],
)
def test_parse_bytes(text: object, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12q", "expected a size such as 512m or 2g, got '12q'"),
        ("", "expected a size such as 512m or 2g, got ''"),
        ("m", "expected a size such as 512m or 2g, got 'm'"),
        ("1.5.5g", "expected a size such as 512m or 2g, got '1.5.5g'"),
        ("-1m", "a size cannot be negative, got '-1m'"),
        (-5, "a size cannot be negative, got '-5'"),
        (True, "expected a size such as 512m or 2g, got 'True'"),
        (None, "expected a size such as 512m or 2g, got 'None'"),
        ([1], "expected a size such as 512m or 2g, got '[1]'"),
        ("99999999999p", "size '99999999999p' is too large"),
        (10**30, f"size '{10**30}' is too large"),
        (float("nan"), "expected a size such as 512m or 2g, got 'nan'"),
    ],
)
def test_parse_bytes_errors(value: object, message: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_bytes(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1m30s", 90.0),
        ("1h5m30s20ms", 3930.02),
        ("10s", 10.0),
        ("500ms", 0.5),
        ("2us", 2e-6),
        ("2µs", 2e-6),
        ("100ns", 1e-7),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("30", 30.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("0s", 0.0),
        (30, 30.0),
        (1.25, 1.25),
    ],
)
def test_parse_duration(text: object, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10x", "expected a duration such as 10s, 1m30s or 500ms, got '10x'"),
        ("1m30", "expected a duration such as 10s, 1m30s or 500ms, got '1m30'"),
        ("s", "expected a duration such as 10s, 1m30s or 500ms, got 's'"),
        ("", "expected a duration such as 10s, 1m30s or 500ms, got ''"),
        ("1 m", "expected a duration such as 10s, 1m30s or 500ms, got '1 m'"),
        ("-5s", "a duration cannot be negative, got '-5s'"),
        (-1, "a duration cannot be negative, got '-1'"),
        (None, "expected a duration such as 10s, 1m30s or 500ms, got 'None'"),
        (False, "expected a duration such as 10s, 1m30s or 500ms, got 'False'"),
        ("99999999h", "duration '99999999h' is too long (at most about 292 years)"),
        (10**400, "duration '1000000000000000000000000000000000000...' is too long (at most about 292 years)"),
        (float("inf"), "duration 'inf' is too long (at most about 292 years)"),
    ],
)
def test_parse_duration_errors(value: object, message: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize(("value", "expected"), [("0.5", 0.5), (2, 2.0), (1.5, 1.5), ("2", 2.0), (0, 0.0), (" 4 ", 4.0)])
def test_parse_cpus(value: object, expected: float) -> None:
    assert parse_cpus(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "expected a number of cpus such as 0.5 or 2, got 'abc'"),
        ("500m", "expected a number of cpus such as 0.5 or 2 (cores, not millicores: 500m is 0.5), got '500m'"),
        (-1, "cpus cannot be negative, got '-1'"),
        ("-0.5", "cpus cannot be negative, got '-0.5'"),
        (True, "expected a number of cpus such as 0.5 or 2, got 'True'"),
        (None, "expected a number of cpus such as 0.5 or 2, got 'None'"),
        (float("inf"), "'inf' cpus is too many"),
        (10**400, f"'{str(10**400)[:37]}...' cpus is too many"),
    ],
)
def test_parse_cpus_errors(value: object, message: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_cpus(value)
    assert str(info.value) == message


def test_unit_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_bytes("12q")


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (512 * MiB, "512 MiB"),
        (1288490188, "1.2 GiB"),
        (GiB, "1 GiB"),
        (3 * 1024**4, "3 TiB"),
        (-2 * MiB, "-2 MiB"),
    ],
)
def test_format_bytes(n: int, text: str) -> None:
    assert format_bytes(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (90, "1m30s"),
        (10, "10s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (2e-6, "2us"),
        (3600, "1h"),
        (3630, "1h30s"),
        (3661.5, "1h1m1.5s"),
        (3930.02, "1h5m30.02s"),
        (-5, "-5s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e8, allow_nan=False))
def test_format_duration_reads_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=5e-4, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.sampled_from(["", "b", "k", "kb", "m", "mb", "g", "gb"]))
def test_parse_bytes_multiples(n: int, unit: str) -> None:
    power = {"": 0, "b": 0, "k": 1, "kb": 1, "m": 2, "mb": 2, "g": 3, "gb": 3}[unit]
    assert parse_bytes(f"{n}{unit}") == n * 1024**power
    assert parse_bytes(f"{n}{unit.upper()}") == n * 1024**power


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=12), st.integers(), st.floats(), st.booleans(), st.none()))
def test_readers_raise_only_unit_errors(value: object) -> None:
    for parse in (parse_bytes, parse_duration, parse_cpus):
        try:
            result = parse(value)
        except UnitError as exc:
            assert str(exc)
        else:
            assert result >= 0 and math.isfinite(result)
