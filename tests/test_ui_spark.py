"""The nodes view's sparklines use a fixed 0-100 scale: 2-6 % stays low, 100 % is full height."""

from __future__ import annotations

from tui_orch.ui.spark import columns, spark_lines


def test_low_usage_draws_low_bars() -> None:
    text = spark_lines([2, 6, 4, 3], 4, 2).plain.split("\n")
    assert text[0] == "    "  # nothing reaches the upper row
    assert set(text[1]) <= set("▁▂")


def test_full_usage_fills_both_rows_and_newest_is_right() -> None:
    top, bottom = spark_lines([0, 50, 100], 5, 2).plain.split("\n")
    assert top == "    █" and bottom == "  ▁██"


def test_more_samples_than_columns_are_averaged() -> None:
    assert columns([0, 100, 0, 100], 2) == [50.0, 50.0]
    assert columns([], 3) == [] and columns([1.0], 0) == []
