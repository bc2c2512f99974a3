"""What every view has: a table of rows kept in sync with the controller's state, a text
filter, and an optional scope (a drill down: the replicas of one node or service)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.containers import Vertical

from tui_orch.ui.table import ResourceTable, Row

if TYPE_CHECKING:
    from tui_orch.controller import Controller
    from tui_orch.controller.query import Query
    from tui_orch.ui.app import OrchApp

OFFSCREEN_EVERY = 5  # redraws between two rebuilds of a row off the screen (see View.sliced)


class View(Vertical):
    """One resource list. Subclasses give ``NAME``, ``COLUMNS`` and ``rows()``."""

    NAME: ClassVar[str] = ""
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    # the columns sorted largest first when first chosen (usage, counts), and the widest a
    # column may be when not ResourceTable's MAX_WIDTH, by key
    DESCENDING: ClassVar[frozenset[str]] = frozenset()
    MAX_WIDTHS: ClassVar[dict[str, int]] = {}
    DEFAULT_CSS = """
    View { height: 1fr; }
    /* a title and 3 rows at least: a pane below (a node's detail) gives way on a short terminal */
    View > ResourceTable { height: 1fr; min-height: 4; }
    """

    def __init__(self) -> None:
        super().__init__(id=f"view-{self.NAME}")
        self.scope: tuple[str, str] | None = None  # (field, value), e.g. ("node", "node1")
        # set when the view is switched to: its next redraw rebuilds only the rows on the
        # screen (and new ones), so the operator sees the view at once; the next ones the rest
        self.just_shown = False
        # what the table's rows were last made for: (scope, filter, inverse)
        self.synced_for: tuple[object, ...] | None = None
        self.synced_at = 0.0  # time.monotonic() then
        self.visited = False  # shown at least once (until then its cursor stays on the first row)
        self._made: dict[str, Row] = {}  # the rows View.sliced made last, in order
        self._turn = 0  # redraws through View.sliced

    def compose(self) -> ComposeResult:
        yield self.make_table()

    def make_table(self) -> ResourceTable:
        return ResourceTable(self.COLUMNS, id=f"{self.NAME}-table", max_widths=self.MAX_WIDTHS,
                             descending=self.DESCENDING)

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    @property
    def orch(self) -> "OrchApp":
        from tui_orch.ui.app import OrchApp

        return cast(OrchApp, self.app)

    @property
    def controller(self) -> "Controller":
        return self.orch.controller

    @property
    def reader(self) -> "Query":
        """The controller's read side: where every row comes from."""
        return self.orch.reader

    def rows(self) -> list[Row]:
        raise NotImplementedError

    def sliced(self, keys: Sequence[str], make: Callable[[set[str] | None], Iterable[Row]]) -> list[Row]:
        """The rows of ``keys``, in that order, for views of many rows (a thousand nodes, their
        replicas): ``make(due)`` makes only those due, the rows on the screen (and a screen's
        height either side), new keys, and a slice of the others (each every OFFSCREEN_EVERY
        redraws; no slice in the redraw right after the view is shown, which wants its screen
        fast); the others are the rows made before. (The rows on the screen are the table's:
        sorted, they are not those at the same places in ``keys``.) ``due`` is None (every row) under a filter,
        which searches them all."""
        self._turn += 1
        made = self._made
        due: set[str] | None = None
        if not self.table.filter_text:
            every = 0 if self.just_shown else OFFSCREEN_EVERY
            due = {k for i, k in enumerate(keys) if (every and (i + self._turn) % every == 0) or k not in made}
            due |= self.table.window()
        self.just_shown = False
        fresh = {r.key: r for r in make(due)}
        self._made = {k: fresh.get(k) or made[k] for k in keys}
        return list(self._made.values())

    def refresh_view(self) -> None:
        t = self.table
        t.sync(self.rows())
        self.synced_for = (self.scope, t.filter_text, t.inverse)
        self.synced_at = time.monotonic()

    def shows(self, scope: tuple[str, str] | None, filter: str, inverse: bool) -> bool:
        """Whether the table holds rows made for this scope and filter (shown again as they
        are, they are right but for what changed since they were made)."""
        return self.synced_for == (scope, filter, inverse and bool(filter))

    def selected_key(self) -> str | None:
        return self.table.selected_key()

    def describe(self) -> str:
        """The crumb: view name, scope, filter, rows shown of all, the cursor's row, how many
        rows are marked, the sort, the columns not on the screen (left/right show them)."""
        t = self.table
        scope = f"  {self.scope[0]}={self.scope[1]}" if self.scope else ""
        filt = f"  /{'!' if t.inverse else ''}{t.filter_text}" if t.filter_text else ""
        at = f"  row {min(t.cursor_row, t.row_count - 1) + 1}" if t.row_count else ""
        marked = f"  {len(t.marked)} marked" if t.marked else ""
        by = t.sort_title()
        by = f"  {by}" if by else ""
        hidden = t.hidden_columns()
        sideways = f"  ←→ {hidden} more column{'s' if hidden > 1 else ''}" if hidden else ""
        return f"{self.NAME}{scope}{filt}  ({t.row_count} of {t.total}){at}{marked}{by}{sideways}"
