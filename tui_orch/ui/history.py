"""The rollout history of one service: its kept revisions (newest first: number, when and by
whom applied, why, what changed, which is current), the diff of the selected revision's spec
against the one before it, and undo to the selected revision (confirmed, Cancel the default).

Everything shown comes from the controller's read side (``Query.revision_rows`` and
``revision_diff``, which ``tui-orch rollout history`` prints too); the undo is the controller's
``rollout_undo(service, to_revision)``, run through the main screen's guarded worker."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tui_orch.errors import printable
from tui_orch.ui.keys import HISTORY_KEYS, bindings
from tui_orch.ui.table import ResourceTable, Row
from tui_orch.ui.widgets import LiveScreen

if TYPE_CHECKING:
    from tui_orch.controller.rows import RevisionRow
    from tui_orch.ui.app import OrchApp

COLUMNS = (("current", " "), ("revision", "REV"), ("applied", "APPLIED"), ("by", "BY"),
           ("cause", "CAUSE"), ("change", "CHANGE"))
DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"), ("#", "yellow"))


def diff_text(lines: list[str]) -> Text:
    """Diff lines coloured as a terminal's git shows them, every character printable."""
    text = Text(no_wrap=True)
    for line in lines:
        style = next((s for prefix, s in DIFF_STYLES if line.startswith(prefix)), "")
        text.append(printable(line) + "\n", style=style)
    return text


def revision_row(r: "RevisionRow") -> Row:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
    return Row(str(r.number), (Text("*", style="bold green") if r.current else "", str(r.number), when,
                               r.applied_by or "-", r.cause, r.change))


class HistoryScreen(LiveScreen):
    """``service``'s revisions; ``u`` on a row rolls the service back to it."""

    BINDINGS = bindings(readonly=False, of=HISTORY_KEYS)
    DEFAULT_CSS = """
    HistoryScreen #history-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    HistoryScreen #revisions { height: auto; max-height: 12; }
    HistoryScreen #diff-title { height: 1; background: $boost; color: $text-accent; padding: 0 1; }
    HistoryScreen #diff-pane { height: 3fr; padding: 0 1; }
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._rows: dict[str, "RevisionRow"] = {}
        self._diff_for: tuple[str, int] | None = None  # (selected, its revision count) the pane shows

    def compose(self) -> ComposeResult:
        yield Static(id="history-title")
        yield ResourceTable(COLUMNS, id="revisions")
        yield Static(id="diff-title")
        with VerticalScroll(id="diff-pane"):
            yield Static(id="diff")
        yield Footer()

    @property
    def orch(self) -> "OrchApp":
        from tui_orch.ui.app import OrchApp

        return cast(OrchApp, self.app)

    @property
    def table(self) -> ResourceTable:
        return self.query_one("#revisions", ResourceTable)

    def on_mount(self) -> None:
        self.table.on_cursor_moved = lambda key: self.show_diff()
        self.refresh_view()
        current = next((key for key, r in self._rows.items() if r.current), None)
        if current is not None:
            self.table.select_key(current)
        self.show_diff()
        self.table.focus()

    def refresh_view(self) -> None:
        """The revisions as the state holds them now (an undo moves the current mark)."""
        rows = self.orch.reader.revision_rows(self.service)
        self._rows = {str(r.number): r for r in rows}
        self.table.sync([revision_row(r) for r in reversed(rows)])
        current = next((r.number for r in rows if r.current), None)
        title = f"Rollout history: {self.service}"
        title += f"  (at revision {current}; {len(rows)} kept)" if rows else "  (no such service now)"
        self.query_one("#history-title", Static).update(Text(printable(title)))
        self.show_diff()

    def show_diff(self) -> None:
        key = self.table.selected_key()
        if (key, len(self._rows)) == self._diff_for or key is None:
            return
        self._diff_for = (key, len(self._rows))
        lines = self.orch.reader.revision_diff(self.service, int(key))
        rows = list(self._rows)
        before = rows[rows.index(key) - 1] if key in rows and rows.index(key) > 0 else None
        self.query_one("#diff-title", Static).update(
            f"revision {key} against {'revision ' + before if before else 'nothing (the oldest kept)'}"
            "  (secrets by name only)")
        self.query_one("#diff", Static).update(diff_text(lines))

    def action_back(self) -> None:
        self.dismiss()

    def action_undo_to(self) -> None:
        """Roll the service back to the selected revision, once the operator confirms."""
        from tui_orch.ui.dialogs import ConfirmDialog

        main = self.orch.main
        key = self.table.selected_key()
        row = self._rows.get(key) if key else None
        if main is None or row is None:
            return
        if row.current:
            self.notify(f"{self.service} is at revision {row.number} already; select another one", severity="warning")
            return
        count = len(self.orch.reader.replicas(self.service))
        said = main.report(f"roll back {self.service} to revision {row.number}")

        def done(result: Any) -> None:
            said(result)
            self.refresh_view()

        def confirmed(yes: bool | None) -> None:
            if yes:
                main.act(f"roll back {self.service}",
                         lambda: self.orch.controller.rollout_undo(self.service, row.number), done)

        self.app.push_screen(ConfirmDialog(
            f"Roll {self.service} back to revision {row.number} ({row.image}): replace its {count} replica(s) "
            "batch by batch as its rollback_config says?", "Roll back",
            title=f"Roll back to revision {row.number}?"), confirmed)


class ReadonlyHistoryScreen(HistoryScreen, inherit_bindings=False):
    """The history without its undo."""

    BINDINGS = [*Screen.BINDINGS, *bindings(readonly=True, of=HISTORY_KEYS)]
