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
