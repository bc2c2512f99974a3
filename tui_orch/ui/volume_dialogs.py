"""The dialogs of a volume move: pick the node (and confirm: Cancel is the default), then
watch the copy's progress. The progress dialog can be hidden (esc): the move goes on, and
its result comes as a notification either way."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui_orch.errors import printable, printable_lines
from tui_orch.ui.dialog_style import CANCEL, dialog_css
from tui_orch.units import format_bytes


def move_question(replica: str, source: str) -> str:
    return (f"{replica} stops on {source} while its named volumes are copied to the node chosen "
            f"(checksums compared), then starts there; the copies on {source} are removed only once it "
            f"passed its health gate there. On any failure it runs on {source} again with its data.")


class VolumeMoveDialog(ModalScreen["str | None"]):
    """Which node ``replica`` moves to with its volumes; None when cancelled."""

    DEFAULT_CSS = dialog_css("VolumeMoveDialog") + "VolumeMoveDialog OptionList { height: auto; max-height: 10; }"
    BINDINGS = [CANCEL]

    def __init__(self, replica: str, source: str, nodes: list[str]):
        super().__init__()
        self.replica = replica
        self.source = source
        self.nodes = nodes  # the Ready nodes it may move to

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"Move {self.replica} with its data"), classes="dialog-title")
            yield Static(Text(printable_lines(move_question(self.replica, self.source))), id="question")
            yield OptionList(*(Option(printable(n), id=n) for n in self.nodes), id="nodes")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Move", variant="error", id="move")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self.query_one("#nodes", OptionList).highlighted = 0

    def _chosen(self) -> str | None:
        options = self.query_one("#nodes", OptionList)
        index = options.highlighted
        return self.nodes[index] if index is not None and 0 <= index < len(self.nodes) else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#move", Button).focus()  # enter on a node goes to the button, not straight on

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self._chosen() if event.button.id == "move" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MoveProgressDialog(ModalScreen[None]):
    """The copy's progress; esc hides it (the move goes on)."""

    DEFAULT_CSS = dialog_css("MoveProgressDialog")
    BINDINGS = [CANCEL]

    def __init__(self, replica: str, target: str):
        super().__init__()
        self.replica = replica
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"Moving {self.replica} to {self.target}"), classes="dialog-title")
            yield Static(Text("stopping the replica..."), id="progress")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Hide", id="cancel")

    def show(self, volume: str, phase: str, done: int, seconds: float) -> None:
        """A progress report of the copy (called on the event loop)."""
        rate = done / seconds / 1e6 if seconds > 0 else 0.0
        what = "copying" if phase == "copy" else "checking the copy of"
        if self.is_mounted:
            self.query_one("#progress", Static).update(
                Text(printable(f"{what} {volume}: {format_bytes(done)}, {rate:.1f} MB/s")))

    def finish(self, text: str) -> None:
        """The move ended (``text`` says how): close if on top, else show it until closed
        (dismiss would pop whatever screen is on top)."""
        if not self.is_attached:
            return
        if self.app.screen is self:
            self.dismiss(None)
        else:
            self.query_one("#progress", Static).update(Text(printable(text)))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
