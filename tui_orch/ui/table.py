"""A DataTable that is kept in sync with a list of rows: rows are diffed by key and changed
in place (update_cell under batch_update), never cleared and refilled; a text filter (and
its inverse) hides rows; the selected row stays selected across updates.

Column widths are kept here, from the widths of the cells shown (each measured once, when
it changes): DataTable's own ``update_width`` re-measures a whole column for every cell
that got narrower, which with a thousand rows changing each second is a million
measurements a second and freezes the screen. Only rows on or near the screen are changed
in the DataTable (every change there costs a refresh, and each of a thousand rows changes
every second); the others keep their newest cells here and get them when they scroll into
view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

Cell = Text | str


def cell_width(cell: Cell) -> int:
    """The width DataTable gives a cell of a one-line row: a string is markup, cut at its
    first line; a Text is as wide as its widest line."""
    if isinstance(cell, Text):
        text = cell.plain
        if "\n" in text:
            return max(map(cell_len, text.splitlines()))
    else:
        text = cell.split("\n", 1)[0]
        if "[" in text or ":" in text:
            text = Text.from_markup(text).plain
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Cell, ...]
    text: str = ""  # what the filter searches (default: the cells' plain text)

    def search_text(self) -> str:
        if self.text:
            return self.text
        return " ".join(c.plain if isinstance(c, Text) else str(c) for c in self.cells)


class ResourceTable(DataTable[Cell]):
    """Rows by key; ``sync(rows)`` applies only the differences."""

    def __init__(self, columns: Sequence[tuple[str, str]], **kwargs: object):
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._columns_spec = tuple(columns)
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self._widths: dict[str, tuple[int, ...]] = {}  # of the newest cells, by row key
        self._latest: dict[str, tuple[Cell, ...]] = {}  # newer cells of rows out of view
        self.filter_text = ""
        self.inverse = False
        self.total = 0  # rows before the filter
        self.updates = 0  # cells changed in place (for tests and benchmarks)

    def on_mount(self) -> None:
        for key, label in self._columns_spec:
            self.add_column(label, key=key)

    # ------------------------------------------------------------------ filter
    def set_filter(self, text: str, inverse: bool = False) -> None:
        self.filter_text, self.inverse = text, inverse and bool(text)

    def matches(self, row: Row) -> bool:
        if not self.filter_text:
            return True
        found = self.filter_text.lower() in row.search_text().lower()
        return found != self.inverse

    # ------------------------------------------------------------------ rows
    @property
    def shown_keys(self) -> list[str]:
        return [str(r.key.value) for r in self.ordered_rows]

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except (CellDoesNotExist, RowDoesNotExist):
            return None

    def select_key(self, key: str) -> bool:
        try:
            self.move_cursor(row=self.get_row_index(key))
        except RowDoesNotExist:
            return False
        return True

    def sync(self, rows: Sequence[Row]) -> None:
        """Show ``rows`` (those that pass the filter), in their order, changing only what differs."""
        self.total = len(rows)
        wanted = [r for r in rows if self.matches(r)]
        keys = [r.key for r in wanted]
        selected = self.selected_key()
        widths_changed = False
        lo, hi = self.window()
        with self.app.batch_update():
            keep = set(keys)
            for key in [k for k in self._shown if k not in keep]:
                self.remove_row(key)
                del self._shown[key], self._widths[key]
                self._latest.pop(key, None)
                widths_changed = True
            for index, row in enumerate(wanted):
                cells = row.cells
                if isinstance(cells[0], str):  # the first cell ranks the row (_reorder): an object of its own
                    cells = (Text(cells[0]), *cells[1:])
                old = self._shown.get(row.key)
                if old is None:
                    self.add_row(*cells, key=row.key)
                    self._shown[row.key] = cells
                    self._widths[row.key] = tuple(map(cell_width, cells))
                    widths_changed = True
                    continue
                newest = self._latest.get(row.key, old)
                if newest == cells:
                    continue
                widths = self._widths[row.key]
                new_widths = tuple(w if a is b else cell_width(b) for w, a, b in zip(widths, newest, cells))
                if new_widths != widths:
                    self._widths[row.key] = new_widths
                    widths_changed = True
                if lo <= index < hi:
                    self._latest.pop(row.key, None)
                    self._apply(row.key, cells)
                else:
                    self._latest[row.key] = cells
            if widths_changed:
                self._fit_columns()
            if self.shown_keys != keys:
                self._reorder(keys)
            if selected is not None and selected in self._shown:
                if self.selected_key() != selected:
                    self.select_key(selected)
            self._apply_latest()

    def _apply(self, key: str, cells: tuple[Cell, ...]) -> None:
        old = self._shown[key]
        for i, (a, b) in enumerate(zip(old, cells)):
            if a != b:
                self.update_cell(key, self._columns_spec[i][0], b)
                self.updates += 1
        self._shown[key] = cells

    def window(self) -> tuple[int, int]:
        """Row indexes on the screen, with a screen's height of rows either side."""
        height = max(self.size.height, self.app.size.height, 1)
        top = int(self.scroll_y)
        return top - height, top + 2 * height

    def _apply_latest(self) -> None:
        """Give the rows now on or near the screen their newest cells."""
        if not self._latest:
            return
        lo, hi = self.window()
        with self.app.batch_update():
            for key in list(self._latest):
                try:
                    index = self.get_row_index(key)
                except RowDoesNotExist:
                    continue
                if lo <= index < hi:
                    self._apply(key, self._latest.pop(key))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._apply_latest()

    def on_resize(self) -> None:
        self._apply_latest()

    def _fit_columns(self) -> None:
        """Each column as wide as its widest cell or its label (what DataTable's auto width
        gives), from the widths kept per row."""
        all_widths = list(self._widths.values())
        changed = False
        for i, column in enumerate(self.ordered_columns):
            width = max(max((w[i] for w in all_widths), default=0), column.label.cell_len)
            if column.content_width != width:
                column.content_width = width
                changed = True
        if changed:
            # what DataTable does after measuring: recompute its virtual size when idle
            self._require_update_dimensions = True
            self.refresh(layout=True)

    def _reorder(self, keys: list[str]) -> None:
        # the first cell of every row is a Text object of its own: its identity ranks the row
        rank = {id(self._shown[k][0]): i for i, k in enumerate(keys)}
        self.sort(key=lambda values: rank.get(id(values[0]), len(rank)))
