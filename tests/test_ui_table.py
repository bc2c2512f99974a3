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
