"""ResourceTable with many rows: columns fit their widest cell (growing and shrinking), and a
row changed while off the screen shows its newest cells once scrolled to."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tui_orch.ui.table import ResourceTable, Row

COLUMNS = (("name", "NAME"), ("value", "VALUE"))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ResourceTable(COLUMNS, id="t")


def rows(count: int, value: str) -> list[Row]:
    return [Row(f"row-{i:03d}", (f"row-{i:03d}", value)) for i in range(count)]


def shown(table: ResourceTable, key: str) -> list[str]:
    return [c.plain if hasattr(c, "plain") else str(c) for c in table.get_row(key)]


async def test_columns_grow_and_shrink_with_their_cells() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResourceTable)
        table.sync(rows(5, "x" * 30))
        await pilot.pause()
        assert table.ordered_columns[1].content_width == 30
        table.sync(rows(5, "short"))
        await pilot.pause()
        assert table.ordered_columns[1].content_width == len("VALUE")  # the label is wider now
        assert table.ordered_columns[0].content_width == len("row-000")
        assert table.hidden_columns() == 0
        table.sync([Row("k", ("n" * 60, "v" * 60))])
        await pilot.pause()
        # a column is at most 40 cells, but for the last: it pushes no other off the screen
        assert [c.content_width for c in table.ordered_columns] == [40, 60]
        assert strip_text(table, 1).split()[0] == "n" * 39 + "…"


async def test_a_row_changed_off_screen_shows_its_newest_cells_when_scrolled_to() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResourceTable)
        table.sync(rows(300, "old"))
        await pilot.pause()
        table.sync(rows(300, "new"))
        await pilot.pause()
        assert shown(table, "row-000") == ["row-000", "new"]
        table.select_key("row-290")
        await pilot.pause()
        assert table.selected_key() == "row-290"
        assert shown(table, "row-290") == ["row-290", "new"]


class KeysApp(TableApp):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []

    def on_resource_table_row_selected(self, event: ResourceTable.RowSelected) -> None:
        self.selected.append(event.key)


async def test_keys_and_clicks_move_the_cursor_and_select_rows() -> None:
    app = KeysApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResourceTable)
        table.sync(rows(300, "v"))
        table.focus()
        await pilot.pause()
        await pilot.press("down", "down")
        assert table.selected_key() == "row-002"
        await pilot.press("pagedown")
        assert table.selected_key() == "row-020"  # a screen of rows (20 lines, less the heading and one)
        await pilot.press("end")
        assert table.selected_key() == "row-299" and table.scroll_y > 0  # scrolled to the cursor
        await pilot.press("home")
        assert table.selected_key() == "row-000" and table.scroll_y == 0
        await pilot.click(ResourceTable, offset=(3, 4))  # the heading, then rows 0..3
        assert table.selected_key() == "row-003" and app.selected == []
        await pilot.click(ResourceTable, offset=(3, 4))  # a click on the cursor's row selects it
        await pilot.press("enter")
        assert app.selected == ["row-003", "row-003"]
        assert "row-003" in "".join(s.text for s in table.render_lines(table.region.reset_offset)[4:5])


class FocusApp(App[None]):
    def compose(self) -> ComposeResult:
        from textual.widgets import Input

        yield ResourceTable(COLUMNS, id="t")
        yield Input(id="i")


async def test_a_focus_change_redraws_the_cursor_line_only() -> None:
    """The rows look the same focused or not; only the cursor's colours change with the focus
    (focused: the block cursor, blurred: a dimmer one). A view switch or the ``:`` prompt moves
    the focus: the other lines stay rendered."""
    app = FocusApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResourceTable)
        table.focus()
        table.sync(rows(10, "v"))
        await pilot.pause()
        cursor = table.selected_key()
        before = {k: table.rows[k].line for k in table.shown_keys}
        assert all(before.values())
        focused_cursor = before[cursor][2]  # type: ignore[index]
        app.query_one("#i").focus()
        await pilot.pause()
        after = {k: table.rows[k].line for k in table.shown_keys}
        assert all(after[k] is before[k] for k in before if k != cursor)
        blurred_cursor = after[cursor][2]  # type: ignore[index]
        assert after[cursor] is not before[cursor]
        assert [s.style for s in blurred_cursor] != [s.style for s in focused_cursor]
        assert blurred_cursor.text == focused_cursor.text


def strip_text(table: ResourceTable, y: int) -> str:
    return "".join(s.text for s in table.render_line(y))


async def test_sort_by_value_both_ways_and_back_to_the_views_order() -> None:
    """Sorted by the values the rows give (9 before 10, missing below every number), the
    header marks the column, the cursor stays on its row, a sync keeps the sort."""
    from tui_orch.ui.arrange import number

    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResourceTable)
        table.ordered_columns[1].descending = True
        values = {"a": 9.0, "b": 10.0, "c": None, "d": 100.0}
        table.sync([Row(k, (k, "-" if v is None else f"{v:.0f}%"), sort=(k, number(v))) for k, v in values.items()])
        table.select_key("b")
        table.step_sort(1)  # NAME ▲
        assert table.shown_keys == ["a", "b", "c", "d"]
        table.step_sort(1)  # VALUE: largest first
        await pilot.pause()
        assert table.shown_keys == ["d", "b", "a", "c"]
        assert table.selected_key() == "b" and table.sort_title() == "sorted by VALUE ▼"
        assert strip_text(table, 0).split() == ["NAME", "VALUE▼"]
        table.set_sort(table.sort.reversed())
        assert table.shown_keys == ["c", "a", "b", "d"]
        values["c"] = 50.0
        table.sync([Row(k, (k, str(v)), sort=(k, number(v))) for k, v in values.items()])
        assert table.shown_keys == ["a", "b", "c", "d"]  # re-sorted on the new values
        table.step_sort(1)  # past the last column: the view's order
        assert table.sort_title() == "" and strip_text(table, 0).split() == ["NAME", "VALUE"]
        assert table.shown_keys == ["a", "b", "c", "d"]
        table.set_sort(table.sort.reversed())  # ~ there: the view's order, reversed
        assert table.shown_keys == ["d", "c", "b", "a"] and table.sort_title() == "in reverse order"


async def test_a_row_without_sort_values_sorts_by_its_text() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResourceTable)
        table.sync([Row(k, (k, v)) for k, v in (("x", "b"), ("y", "C"), ("z", "a"))])
        table.step_sort(-1)  # from the view's order, < goes to the last column
        await pilot.pause()
        assert table.shown_keys == ["z", "x", "y"]
        # values that do not compare (a view's mistake): by the text, not a traceback
        table.sync([Row(k, (k, v), sort=(k, s)) for k, v, s in (("x", "b", 1), ("y", "C", "one"), ("z", "a", None))])
        assert table.shown_keys == ["z", "x", "y"]


async def test_a_long_cell_is_cut_with_an_ellipsis_and_titles_stay_whole() -> None:
    """A cell wider than its column's maximum is cut with "…" (it pushes no column off);
    at a narrow width the columns that do not fit are left off whole, never a cut title."""
    columns = (("name", "NAME"), ("state", "STATE"), ("cpu", "CPU"), ("memory", "MEMORY"), ("replicas", "REPLICAS"))

    class Wide(App[None]):
        def compose(self) -> ComposeResult:
            yield ResourceTable(columns, max_widths={"state": 12})

    app = Wide()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(ResourceTable)
        table.sync([Row("n1", ("node-1", "NotReady ssh: connect to host timed out", "10%", "1.2GiB", "3"))])
        await pilot.pause()
        assert strip_text(table, 1).split()[:3] == ["node-1", "NotReady", "ss…"]  # 12 cells
        titles = strip_text(table, 0).split()
        assert titles == ["NAME", "STATE", "CPU", "MEMORY"]  # REPLICAS would be cut at 40: left off
        assert len(strip_text(table, 0)) == 40


async def test_sideways_the_first_column_stays() -> None:
    columns = tuple((f"c{i}", f"COLUMN{i}") for i in range(8))

    class Many(App[None]):
        def compose(self) -> ComposeResult:
            yield ResourceTable(columns)

    app = Many()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(ResourceTable)
        table.sync([Row("r", tuple(f"value{i}" for i in range(8)))])
        table.focus()
        await pilot.pause()
        assert strip_text(table, 0).split() == ["COLUMN0", "COLUMN1", "COLUMN2", "COLUMN3"]  # 9 cells each
        assert table.hidden_columns() == 4
        await pilot.press("right", "right")
        assert strip_text(table, 0).split() == ["COLUMN0", "COLUMN3", "COLUMN4", "COLUMN5"]
        assert table.hidden_columns() == 4  # 1 and 2 to the left, 6 and 7 to the right
        assert strip_text(table, 1).split() == ["value0", "value3", "value4", "value5"]
        await pilot.press("right", "right", "right", "right")  # stops once the last column shows
        assert strip_text(table, 0).split() == ["COLUMN0", "COLUMN5", "COLUMN6", "COLUMN7"]
        assert table.first_column == 5
        await pilot.press("left")
        assert strip_text(table, 0).split()[:2] == ["COLUMN0", "COLUMN4"]


async def test_the_filters_text_is_marked_in_the_rows_shown() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_filter("OW-00")
        table.sync(rows(20, "v"))
        await pilot.pause()
        assert table.shown_keys[0] == "row-000" and table.row_count == 10
        line = table.render_line(2)  # row-001 (not the cursor's)
        marked = [s.text for s in line if s.style is not None and s.style.reverse]
        assert marked == ["ow-00"], list(line)
        table.set_filter("OW-00", inverse=True)  # the rows without it: nothing to mark
        table.sync(rows(20, "v"))
        await pilot.pause()
        assert not any(s.style is not None and s.style.reverse for s in table.render_line(2))
