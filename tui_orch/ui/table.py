"""The console's resource table: kept in sync with a list of rows (diffed by key, changed in
place), a text filter (and its inverse) hides rows, the selected row stays selected across
updates.

Drawn line by line (Textual's Line API on a ScrollView whose virtual height is the row
count): only the lines on the screen are rendered, and each rendered line is kept, keyed
by its row's version and whether the cursor is on it. A row that changes re-renders one
line, a cursor move two, a view switch one screen of lines; a thousand rows changing every
second cost a dictionary update each until they scroll into view. (Textual's DataTable
re-renders every visible cell whenever any cell changes, ~100 ms a second with 1,000 nodes.)

Column widths are kept here, from the widths of the cells (each measured once, when it
changes): a column is as wide as its widest cell or its label, up to a maximum width (a longer
cell is cut with an ellipsis: one long reason does not push the other columns off the screen).
The first column stays put while the others scroll sideways a whole column at a time, and a
title is never cut (arrange.shown_span). Rows can be sorted by any column, by the values the
rows give (Row.sort; arrange.order), and the filter's matches are marked in the lines drawn.

Rows can be marked (space, as in k9s) for an action on several at once: marks are kept by
key, so they survive redraws and new orders; a row no longer shown loses its mark. A mark is
part of its line's cache key (and drawn as a ``MARK`` in the line's first cell of padding):
marking a row re-renders that one line."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_orch.errors import printable, printable_lines
from tui_orch.ui.arrange import Sort, Span, mark_matches, order, plain, shown_span

Cell = Text | str
PADDING = 1  # blank cells either side of every cell
MAX_WIDTH = 40  # of a column (unless the view gives its own): a longer cell is cut with "…"
LAST_WIDTH = 500  # of the last column: it pushes no other off the screen (a message, a reason)
MARK = "•"  # in the padding before a marked row's first cell


def cell_width(cell: Cell) -> int:
    """The width of a cell of a one-line row as drawn (``as_text``): a string is markup, cut
    at its first line; a Text is as wide as its widest line."""
    if isinstance(cell, Text):
        text = cell.plain
        if "\n" in text:
            return max(cell_len(printable(line)) for line in text.splitlines())
    else:
        text = cell.split("\n", 1)[0]
        if "[" in text or ":" in text:
            text = Text.from_markup(text).plain
    if text.isascii() and text.isprintable():
        return len(text)
    return cell_len(printable(text))


def as_text(cell: Cell) -> Text:
    """A cell as one line of Text (a string is markup), every character printable: names,
    messages and reasons come from files and hosts, and a raw ESC or U+202E would reach the
    terminal (Rich drops only CR, BS, BEL, VT and FF)."""
    if isinstance(cell, Text):
        return printable_text(cell)
    text = cell.split("\n", 1)[0]
    return printable_text(Text.from_markup(text)) if "[" in text else Text(printable(text))


def printable_text(text: Text) -> Text:
    """``text`` with its non-printable characters but newlines escaped (``errors.printable``),
    its styles kept on the characters they were on. The same object when there is nothing to
    escape."""
    plain = text.plain
    if printable_lines(plain) == plain:
        return text
    starts = [0]  # where each character of ``plain`` starts in the escaped text
    parts = []
    for ch in plain:
        part = ch if ch == "\n" else printable(ch)
        parts.append(part)
        starts.append(starts[-1] + len(part))
    out = Text("".join(parts), style=text.style, justify=text.justify, overflow=text.overflow,
               no_wrap=text.no_wrap, end=text.end)
    for span in text.spans:
        out.stylize(span.style, starts[min(span.start, len(plain))], starts[min(span.end, len(plain))])
    return out


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Cell, ...]
    text: str = ""  # what the filter searches (default: the cells' plain text)
    # what each column sorts by (arrange.number, arrange.natural ...: values, not the text
    # drawn); empty: the cells' text
    sort: tuple[object, ...] = ()

    def search_text(self) -> str:
        if self.text:
            return self.text
        return " ".join(c.plain if isinstance(c, Text) else str(c) for c in self.cells)


@dataclass
class Column:
    key: str
    label: Text  # the title drawn (with the sort mark when sorted by this column)
    content_width: int = 0
    title: str = ""
    max_width: int = MAX_WIDTH
    descending: bool = False  # sorted largest first when first chosen (usage, counts)


@dataclass(eq=False)
class Shown:
    """A row in the table: the same object for as long as its key is shown."""

    key: str
    cells: tuple[Cell, ...]
    widths: tuple[int, ...]
    sort: tuple[object, ...] = ()
    line: tuple[int, tuple[int, int], Strip] | None = None  # (kind, generations, the rendered line)


class ResourceTable(ScrollView, can_focus=True):
    """Rows by key; ``sync(rows)`` applies only the differences."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first", "First row", show=False),
        Binding("end,ctrl+end", "last", "Last row", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "resource-table--header", "resource-table--cursor", "resource-table--even-row",
        "resource-table--marked", "resource-table--match",
    }
    DEFAULT_CSS = """
    ResourceTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        /* no scroll bars (as k9s and htop): the crumb line says which row of how many the
           cursor is on; a bar was redrawn on every view switch, 2-3 ms each */
        scrollbar-size: 0 0;
        &:focus {
            & > .resource-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .resource-table--header { background-tint: $foreground 5%; }
        }
        & > .resource-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .resource-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .resource-table--even-row { background: $surface-lighten-1 50%; }
        & > .resource-table--match { text-style: reverse; }  /* the filter's text, in the cells */
        &:dark > .resource-table--even-row { background: $surface-darken-1 40%; }
        & > .resource-table--marked { color: $text-accent; text-style: bold; background: $accent 15%; }
        & > .resource-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class _RowMessage(Message):
        def __init__(self, table: ResourceTable, key: str, index: int) -> None:
            super().__init__()
            self.table, self.key, self.index = table, key, index

        @property
        def control(self) -> ResourceTable:
            return self.table

    class RowHighlighted(_RowMessage):
        """The cursor moved to another row."""

    class RowSelected(_RowMessage):
        """enter (or a click on the cursor's row) on a row."""

    class ColumnsScrolled(Message):
        """Other columns are shown (left/right): the crumb line says how many are not."""

    def __init__(self, columns: Sequence[tuple[str, str]], *, zebra_stripes: bool = False,
                 max_widths: Mapping[str, int] | None = None, descending: Collection[str] = (),
                 name: str | None = None, id: str | None = None, classes: str | None = None):
        """``max_widths``: a column's own maximum width, by key (else MAX_WIDTH, the last
        column's LAST_WIDTH); ``descending``: the keys of the columns sorted largest first
        when first chosen."""
        super().__init__(name=name, id=id, classes=classes)
        widest = {columns[-1][0]: LAST_WIDTH, **(max_widths or {})} if columns else {}
        self.ordered_columns = [Column(key, Text(label), cell_len(label), label, widest.get(key, MAX_WIDTH),
                                       key in descending) for key, label in columns]
        self.zebra_stripes = zebra_stripes
        self.rows: dict[str, Shown] = {}  # the rows shown, by key
        self._given: list[str] = []  # their keys in the view's order
        self._order: list[str] = []  # and as shown (sorted)
        self.sort = Sort()
        self.first_column = 1  # the first of the scrolled columns shown (the first column stays)
        self._starts: list[int] = []  # where each column starts in the full line, and its end
        self._span: tuple[tuple[int, int, int], Span] | None = None  # for (width, first, generation)
        self._index: dict[str, int] = {}
        self.marked: set[str] = set()  # keys of the marked rows (all shown)
        self.cursor_row = 0
        self.filter_text = ""
        self.inverse = False
        self.total = 0  # rows before the filter
        self.updates = 0  # cells changed in place (for tests and benchmarks)
        self._generation = 0  # of the rendered lines: a new one drops them all (widths, styles)
        self._cursor_generation = 0  # of the cursor's line (its style changes with the focus)
        self._line_styles: tuple[Style, ...] = ()
        self._header: Strip | None = None
        # called at once when the cursor moves to another row (before RowHighlighted is
        # handled): what it repaints shows in the same frame as the cursor
        self.on_cursor_moved: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ filter
    def set_filter(self, text: str, inverse: bool = False) -> None:
        inverse = inverse and bool(text)
        if (text, inverse) != (self.filter_text, self.inverse):
            self._generation += 1  # the matches marked in the lines change
        self.filter_text, self.inverse = text, inverse

    def matches(self, row: Row) -> bool:
        if not self.filter_text:
            return True
        found = self.filter_text.lower() in row.search_text().lower()
        return found != self.inverse

    # ------------------------------------------------------------------ rows
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def shown_keys(self) -> list[str]:
        return list(self._order)

    def get_row(self, key: str) -> list[Cell]:
        return list(self.rows[key].cells)

    def selected_key(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def select_key(self, key: str) -> bool:
        index = self._index.get(key)
        if index is None:
            return False
        self.move_cursor(index)
        return True

    def sync(self, rows: Sequence[Row]) -> None:
        """Show ``rows`` (those that pass the filter), in their order or sorted, changing only
        what differs."""
        self.total = len(rows)
        wanted = [r for r in rows if self.matches(r)] if self.filter_text else rows
        keys = [r.key for r in wanted]
        selected = self.selected_key()
        widths_changed = False
        keep = set(keys)
        for key in [k for k in self.rows if k not in keep]:
            del self.rows[key]
            self.marked.discard(key)
            widths_changed = True
        changed: list[str] = []
        for row in wanted:
            cells = row.cells
            old = self.rows.get(row.key)
            if old is None:
                self.rows[row.key] = Shown(row.key, cells, tuple(map(cell_width, cells)), row.sort)
                widths_changed = True
                continue
            old.sort = row.sort
            if old.cells == cells:
                continue
            widths = tuple(w if a is b else cell_width(b) for w, a, b in zip(old.widths, old.cells, cells))
            self.updates += sum(1 for a, b in zip(old.cells, cells) if a is not b and a != b)
            if widths != old.widths:
                old.widths = widths
                widths_changed = True
            old.cells = cells
            old.line = None
            changed.append(row.key)
        self._given = keys
        self._show(self._sorted(keys), widths_changed, changed, selected)

    def _show(self, keys: list[str], widths_changed: bool, changed: Sequence[str], selected: str | None) -> None:
        """Show the rows in the order of ``keys``; repaint what changed; the cursor stays on
        the row ``selected``."""
        order_changed = keys != self._order
        if order_changed:
            self._order = keys
            self._index = {k: i for i, k in enumerate(keys)}
        columns_changed = widths_changed and self._fit_columns()
        if order_changed or columns_changed:
            # no width: the table scrolls sideways by columns itself (action_scroll_right)
            self.virtual_size = Size(0, len(keys) + 1)
            self.refresh()
        else:
            self._refresh_rows(changed)
        if selected is not None and selected in self._index:
            self.move_cursor(self._index[selected], post=False)
        elif self.cursor_row >= len(keys):
            self.move_cursor(max(0, len(keys) - 1))

    # ------------------------------------------------------------------ sort
    def set_sort(self, sort: Sort) -> None:
        """Sort by another column (or direction), the cursor kept on its row."""
        if sort == self.sort:
            return
        self.sort = sort
        for i, column in enumerate(self.ordered_columns):
            column.label = Text(column.title + (sort.mark() if i == sort.column else ""))
        self._header = self._span = None
        self._show(self._sorted(self._given), True, (), self.selected_key())
        self.refresh()

    def step_sort(self, by: int) -> None:
        """Sort by the next column to the right (``by`` 1) or left (-1)."""
        columns = self.ordered_columns
        self.set_sort(self.sort.step(by, len(columns), lambda i: columns[i].descending))

    def sort_title(self) -> str:
        """How the rows are sorted (for the crumb line): ``sorted by CPU ▼``; "" in the view's order."""
        if self.sort.column is None:
            return "in reverse order" if self.sort.descending else ""
        return f"sorted by {self.ordered_columns[self.sort.column].title} {self.sort.mark()}"

    def _sorted(self, keys: list[str]) -> list[str]:
        """``keys`` in the sort's order: by the rows' sort values (by their text when a row
        gives none, or when the values do not compare)."""
        column, rows = self.sort.column, self.rows
        if column is None:
            return keys[::-1] if self.sort.descending else keys
        try:
            return order(keys, [rows[k].sort[column] for k in keys], self.sort.descending)
        except (IndexError, TypeError):
            return order(keys, [plain(rows[k].cells[column]) for k in keys], self.sort.descending)

    def window(self) -> set[str]:
        """The keys of the rows on the screen, with a screen's height of rows either side (as
        shown: sorted, they are others than the view's rows at those places)."""
        height = max(self.size.height, self.app.size.height, 1)
        top = int(self.scroll_y)
        return set(self._order[max(0, top - height):top + 2 * height])

    def _fit_columns(self) -> bool:
        """Each column as wide as its widest cell (up to its maximum) or its label; whether
        any width changed."""
        all_widths = [r.widths for r in self.rows.values()]
        changed = False
        for i, column in enumerate(self.ordered_columns):
            widest = min(max((w[i] for w in all_widths), default=0), column.max_width)
            width = max(widest, column.label.cell_len)
            if column.content_width != width:
                column.content_width = width
                changed = True
        if changed or not self._starts:
            self._generation += 1
            self._header = None
            starts = [0]
            for column in self.ordered_columns:
                starts.append(starts[-1] + column.content_width + 2 * PADDING)
            self._starts = starts
        return changed

    def _refresh_rows(self, keys: Sequence[str]) -> None:
        """Repaint the lines of these rows that are on the screen."""
        if not keys or not self.is_mounted:
            return
        top, height, width = int(self.scroll_y), self.size.height, self.size.width
        for key in keys:
            y = self._index.get(key, -1) - top + 1
            if 1 <= y < height:
                self.refresh(Region(0, y, width, 1))

    # ------------------------------------------------------------------ marks
    def marked_keys(self) -> list[str]:
        """The marked rows' keys, in the order shown (0.5 ms with 10,000 rows)."""
        marked = self.marked
        return [k for k in self._order if k in marked] if marked else []

    def toggle_mark(self, key: str) -> None:
        if key not in self._index:
            return
        self.marked ^= {key}
        self._refresh_rows([key])

    def mark_all(self) -> None:
        """Mark every row shown, or clear the marks when every row shown is marked already."""
        if len(self.marked) == len(self._order):
            self.clear_marks()
            return
        self.marked = set(self._order)
        self.refresh()  # every line on the screen, each re-rendered once

    def clear_marks(self) -> None:
        keys, self.marked = self.marked, set()
        if len(keys) > self.size.height:  # the screen at once (10,000 regions one by one: 13 ms)
            self.refresh()
        else:
            self._refresh_rows(list(keys))

    # ------------------------------------------------------------------ cursor
    def move_cursor(self, index: int, post: bool = True) -> None:
        index = max(0, min(index, len(self._order) - 1))
        old, self.cursor_row = self.cursor_row, index
        if old != index:
            self._refresh_at(old)
            self._refresh_at(index)
            if post and self._order:
                if self.on_cursor_moved is not None:
                    self.on_cursor_moved(self._order[index])
                self.post_message(self.RowHighlighted(self, self._order[index], index))
        self._scroll_to_cursor()

    def _refresh_at(self, index: int) -> None:
        if 0 <= index < len(self._order):
            self._refresh_rows([self._order[index]])

    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def _scroll_to_cursor(self) -> None:
        rows_shown = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + rows_shown:
            self.scroll_to(y=self.cursor_row - rows_shown + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._order) - 1)

    def action_select_cursor(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.post_message(self.RowSelected(self, key, self.cursor_row))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = int(self.scroll_y) + offset.y - 1
        if not 0 <= index < len(self._order):
            return
        event.stop()
        if index == self.cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(index)

    # ------------------------------------------------------------------ drawing
    def _styles(self) -> tuple[Style, ...]:
        """(base, header, cursor, even row, marked, match) as they are now (focus and theme
        change them)."""
        return (self.rich_style, self.get_component_rich_style("resource-table--header"),
                self.get_component_rich_style("resource-table--cursor"),
                self.get_component_rich_style("resource-table--even-row"),
                self.get_component_rich_style("resource-table--marked"),
                self.get_component_rich_style("resource-table--match", partial=True))

    def render_lines(self, crop: Region) -> list[Strip]:
        self._check_styles()
        return super().render_lines(crop)

    def _check_styles(self) -> None:
        """Drop the rendered lines whose styles changed. The rows' styles do not change with
        the focus (only the cursor's and the header's do): a view shown again, or the
        ``:`` prompt closed, finds its lines still good and redraws only those two."""
        styles = self._styles()
        old = self._line_styles
        if styles == old:
            return
        self._line_styles = styles
        if not old or (styles[0], *styles[3:]) != (old[0], *old[3:]):
            self._generation += 1
        if not old or styles[1] != old[1]:
            self._header = None
        if not old or styles[2] != old[2]:
            self._cursor_generation += 1

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if not self._line_styles:
            self._check_styles()
        if not self._starts:
            self._fit_columns()
        base = self._line_styles[0]
        if y == 0:
            if self._header is None:
                cells = [(c.label, c.content_width) for c in self.ordered_columns]
                self._header = self._render(cells, base + self._line_styles[1], None)
            line = self._header
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self._order):
                return Strip.blank(width, base)
            line = self._row_line(index)
        span = self.shown_span()
        if span.start == span.fixed:  # not scrolled sideways: one piece
            return line.crop(0, span.stop).extend_cell_length(width, base)
        return Strip.join([line.crop(0, span.fixed), line.crop(span.start, span.stop)]).extend_cell_length(width, base)

    # ------------------------------------------------------------------ sideways
    def shown_span(self) -> Span:
        """The part of the full lines shown now (the first column, then the columns scrolled to)."""
        key = (self.size.width, self.first_column, self._generation)
        if self._span is None or self._span[0] != key:
            titles = [c.label.cell_len for c in self.ordered_columns]
            self._span = (key, shown_span(self._starts, titles, PADDING, self.first_column, self.size.width))
        return self._span[1]

    def hidden_columns(self) -> int:
        """How many columns are not on the screen (scrolled past, or beyond its right edge)."""
        if not self.size.width or not self._starts:
            return 0  # not laid out yet
        span, starts = self.shown_span(), self._starts[1:-1]  # where the scrolled columns start
        return sum(1 for x in starts if span.fixed <= x < span.start or x >= span.stop)

    def action_scroll_right(self) -> None:
        """One column more to the right (the first column stays)."""
        if self.shown_span().more:
            self._scroll_columns(self.first_column + 1)

    def action_scroll_left(self) -> None:
        if self.first_column > 1:
            self._scroll_columns(min(self.first_column, len(self.ordered_columns) - 1) - 1)

    def _scroll_columns(self, first: int) -> None:
        self.first_column = first
        self.refresh()
        self.post_message(self.ColumnsScrolled())

    def _row_line(self, index: int) -> Strip:
        key = self._order[index]
        row = self.rows[key]
        marked = key in self.marked
        kind = 1 if index == self.cursor_row else 2 if self.zebra_stripes and index % 2 else 0
        stamp = (self._generation, self._cursor_generation if kind == 1 else 0)
        kind += 4 * marked  # a mark (un)set re-renders the line
        cached = row.line
        if cached is not None and cached[0] == kind and cached[1] == stamp:
            return cached[2]
        base, _, cursor, even, mark, _ = self._line_styles
        cells = [(as_text(c), col.content_width) for c, col in zip(row.cells, self.ordered_columns)]
        lead = MARK if marked else " "
        if kind & 3 == 1:  # the cursor's colours win over the cells' (its background does not)
            post = Style(color=cursor.color, bold=mark.bold if marked else None)
            line = self._render(cells, base + cursor, post, lead, matches=True)
        elif marked:  # as the cursor's: one colour for the whole row
            line = self._render(cells, base + mark, Style(color=mark.color), lead, matches=True)
        else:
            line = self._render(cells, base + even if kind == 2 else base, None, matches=True)
        row.line = (kind, stamp, line)
        return line

    def _render(self, cells: list[tuple[Text, int]], style: Style, post: Style | None, lead: str = " ",
                matches: bool = False) -> Strip:
        """One line: each cell padded to its column, the cells' styles over ``style`` and
        ``post`` over both; ``lead``: the line's first character (a row's mark); ``matches``:
        the filter's text marked (once in the line, not a copy of each cell; the rows of an
        inverse filter have none)."""
        console = self.app.console
        pad = " " * PADDING
        line = Text(style=style, no_wrap=True, end="")
        for text, width in cells:
            if text.cell_len > width:
                text = text.copy()
                text.truncate(width, overflow="ellipsis")
            line.append(pad if line else lead)  # PADDING is 1: the lead takes its place
            line.append_text(text)
            line.append(" " * (width - text.cell_len) + pad)
        if matches and self.filter_text and not self.inverse:
            mark_matches(line, self.filter_text, self._line_styles[5])
        segments: list[Segment] = list(line.render(console))
        if post is not None:
            segments = list(Segment.apply_style(segments, post_style=post))
        return Strip(segments).simplify()
