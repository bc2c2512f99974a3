"""What every dialog shares: its look and the cancel binding; and the look of the screens of text."""

from __future__ import annotations

from textual.binding import Binding

CANCEL = Binding("escape", "cancel", "Cancel", id="dialog.cancel")


def dialog_css(screen: str) -> str:
    """The look of a dialog, scoped to its screen type (never other modal screens)."""
    return f"""
{screen} {{ align: center middle; }}
{screen} > .dialog {{
    width: 76; max-width: 95%; height: auto; max-height: 90%;
    border: thick $primary; background: $surface; padding: 1 2;
}}
{screen} .dialog-title {{ text-style: bold; margin-bottom: 1; }}
{screen} .dialog-buttons {{ height: auto; align: right middle; margin-top: 1; }}
{screen} .dialog-buttons Button {{ margin-left: 2; }}
{screen} .dialog-message {{ color: $error; height: auto; }}
{screen} .dialog-fingerprint {{ text-style: bold; color: $accent; margin: 1 0; }}
"""


def pane_css(screen: str, title: str, body: str, box: str, status: str) -> str:
    """The look of a full screen of text (logs, describe): a title line, the text, a search or
    filter box docked at the bottom while open (class ``-open``), a status line."""
    return f"""
{screen} #{title} {{ height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }}
{screen} #{body} {{ height: 1fr; }}
{screen} #{box} {{ dock: bottom; display: none; }}
{screen} #{box}.-open {{ display: block; }}
{screen} #{status} {{ height: 1; background: $panel; color: $text-muted; padding: 0 1; }}
"""
