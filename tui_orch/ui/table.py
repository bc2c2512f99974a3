"""A DataTable that is kept in sync with a list of rows: rows are diffed by key and changed
in place (update_cell under batch_update), never cleared and refilled; a text filter (and
its inverse) hides rows; the selected row stays selected across updates.

Column widths are kept here, from the widths of the cells shown (each measured once, when
it changes): DataTable's own ``update_width`` re-measures a whole column for every cell
that got narrower, which with a thousand rows changing each second is a million
measurements a second and freezes the screen."""

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
        lines = cell.plain.splitlines()
        return max(map(cell_len, lines)) if lines else 0
    text = cell.split("\n", 1)[0]
    if "[" in text or ":" in text:
        text = Text.from_markup(text).plain
    return cell_len(text)


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
        self._widths: dict[str, tuple[int, ...]] = {}  # of the cells shown, by row key
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
        columns = [key for key, _ in self._columns_spec]
        widths_changed = False
        with self.app.batch_update():
            keep = set(keys)
            for key in [k for k in self._shown if k not in keep]:
                self.remove_row(key)
                del self._shown[key], self._widths[key]
                widths_changed = True
            for row in wanted:
                cells = tuple(Text(c) if i == 0 and isinstance(c, str) else c for i, c in enumerate(row.cells))
                old = self._shown.get(row.key)
                if old is None:
                    self.add_row(*cells, key=row.key)
                    self._shown[row.key] = cells
                    self._widths[row.key] = tuple(map(cell_width, cells))
                    widths_changed = True
                    continue
                if old == cells:
                    continue
                merged = list(old)
                widths = list(self._widths[row.key])
                for i, (a, b) in enumerate(zip(old, cells)):
                    if a != b:
                        self.update_cell(row.key, columns[i], b)
                        merged[i] = b
                        width = cell_width(b)
                        widths_changed = widths_changed or width != widths[i]
                        widths[i] = width
                        self.updates += 1
                self._shown[row.key] = tuple(merged)
                self._widths[row.key] = tuple(widths)
            if widths_changed:
                self._fit_columns()
            if self.shown_keys != keys:
                self._reorder(keys)
            if selected is not None and selected in self._shown:
                if self.selected_key() != selected:
                    self.select_key(selected)

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
