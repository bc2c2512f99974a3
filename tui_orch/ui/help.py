"""``?``: every binding of the screen (key, what it does, its id for config.yaml)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help-close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 90; height: auto; max-height: 90%; border: thick $primary; background: $surface; }
    HelpScreen #help-title { padding: 0 1; text-style: bold; }
    HelpScreen DataTable { height: auto; max-height: 30; }
    """

    def __init__(self, rows: list[tuple[str, str, str]]):
        super().__init__(id="help")
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Keys (rebind in config.yaml: keys: {id: key}); esc closes", id="help-title")
            table: DataTable[str] = DataTable(cursor_type="row", id="help-table")
            table.add_columns("KEY", "ACTION", "ID")
            for key, description, ident in self.rows:
                table.add_row(key, description, ident or "-")
            yield table

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
