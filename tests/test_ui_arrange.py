"""How the table arranges rows and columns (tui_orch.ui.arrange), without a screen: sort
values by value, the sort steps of ``<`` ``>`` ``~``, the columns that fit a width with whole
titles, the filter's matches marked."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from tui_orch.ui.arrange import Sort, mark_matches, natural, number, order, shown_span


def test_names_sort_with_their_numbers_as_numbers() -> None:
    names = ["sim-10", "sim-2", "api.10", "api.9", "Sim-1", "web"]
    assert sorted(names, key=natural) == ["api.9", "api.10", "Sim-1", "sim-2", "sim-10", "web"]


def test_numbers_sort_by_value_and_a_missing_one_below_every_number() -> None:
    values = [12.5, None, 3.0, 100.0, 0.0]
    assert sorted(values, key=number) == [None, 0.0, 3.0, 12.5, 100.0]
    assert sorted(values, key=number, reverse=True)[-1] is None  # largest first: missing last


def test_sort_steps_through_every_column_and_the_views_own_order() -> None:
    numeric = {2, 3}
    first = lambda i: i in numeric  # noqa: E731

    steps, sort = [], Sort()
    for _ in range(5):
        sort = sort.step(1, 4, first)
        steps.append((sort.column, sort.descending))
    assert steps == [(0, False), (1, False), (2, True), (3, True), (None, False)]
    assert Sort().step(-1, 4, first) == Sort(3, True)  # < from the view's order: the last column
    assert Sort(0).step(-1, 4, first) == Sort()
    assert Sort(2, True).reversed() == Sort(2, False) and Sort(2, False).mark() == "▲"


def test_order_is_stable_both_ways() -> None:
    keys, values = ["a", "b", "c", "d"], [2, 1, 2, 1]
    assert order(keys, values, False) == ["b", "d", "a", "c"]
    assert order(keys, values, True) == ["a", "c", "b", "d"]  # ties keep the view's order


STARTS = [0, 10, 20, 35, 45, 60]  # five columns: widths 10 10 15 10 15 (padding 1 included)
TITLES = [4, 5, 6, 4, 7]


def test_all_columns_fit_a_wide_screen() -> None:
    span = shown_span(STARTS, TITLES, 1, 1, 80)
    assert (span.fixed, span.start, span.stop, span.more) == (60, 60, 60, False)


def test_only_whole_columns_and_titles_are_shown() -> None:
    # 40 cells: column 0 (10), then 1 (10) and 2 (15) whole; 3 starts at 35 and would end at 45,
    # its title (1 + 4 cells) fits the 5 cells left: shown cut at the edge
    span = shown_span(STARTS, TITLES, 1, 1, 40)
    assert (span.fixed, span.start, span.stop, span.more) == (10, 10, 40, True)
    # 38 cells: column 3's title does not fit the 3 cells left: left off, no title cut
    span = shown_span(STARTS, TITLES, 1, 1, 38)
    assert (span.start, span.stop, span.more) == (10, 35, True)


def test_scrolled_the_first_column_stays_and_the_last_ends_the_scroll() -> None:
    span = shown_span(STARTS, TITLES, 1, 3, 40)  # column 0, then 3 (10) and 4 (15 less its right pad)
    assert (span.fixed, span.start, span.stop, span.more) == (10, 35, 60, False)
    too_far = shown_span(STARTS, TITLES, 1, 9, 40)
    assert too_far.start == STARTS[4]


def test_a_column_wider_than_the_screen_is_shown_cut() -> None:
    span = shown_span([0, 10, 200], [4, 7], 1, 1, 50)
    assert (span.fixed, span.start, span.stop, span.more) == (10, 10, 50, True)


def test_matches_are_marked_in_any_case() -> None:
    style = Style(reverse=True)
    line = Text("api.1 on API-node", style="green")
    mark_matches(line, "api", style)
    assert [(s.start, s.end, s.style) for s in line.spans] == [(0, 3, style), (9, 12, style)]
    for needle in ("zzz", ""):
        untouched = Text("api")
        mark_matches(untouched, needle, style)
        assert untouched.spans == []
