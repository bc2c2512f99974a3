"""Port-forwards in the console (k9s' shift-f and ``:pf``): ``f`` on a replica asks for the
container port and the local port (ForwardDialog); ``:pf`` lists the forwards open, with their
connections and bytes, and stops one (ForwardsScreen). The forwards themselves are the
controller's (controller/forwards.py, through Query): this module only asks and shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from tui_orch.controller.forwards import MAX_PORT, ForwardRow
from tui_orch.ui.dialog_style import dialog_css
from tui_orch.ui.dialogs import EntryDialog, OrderedInput
from tui_orch.ui.keys import FORWARDS_KEYS, screen_bindings
from tui_orch.ui.table import ResourceTable, Row
from tui_orch.ui.widgets import size, uptime

if TYPE_CHECKING:
    from tui_orch.ui.app import OrchApp

Ports = tuple[int, int]  # (container port, local port; 0: any free one)


def parse_ports(container: str, local: str) -> Ports:
    """The two ports typed, or ValueError with the sentence to show. An empty local port is 0
    (any free port)."""
    out = []
    for text, what, empty in ((container, "container port", None), (local, "local port", 0)):
        value = text.strip()
        if not value and empty is not None:
            out.append(empty)
            continue
        if not value.isdigit() or not 1 <= int(value) <= MAX_PORT:
            raise ValueError(f"{what}: type a port number, 1 to {MAX_PORT}"
                             + (" (empty: any free port)" if empty is not None else ""))
        out.append(int(value))
    return out[0], out[1]


class ForwardDialog(EntryDialog["Ports | None"]):
    """Which port of ``replica`` to forward, and to which local port (127.0.0.1 only)."""

    DEFAULT_CSS = dialog_css("ForwardDialog") + """
    ForwardDialog .forward-field { height: auto; }
    ForwardDialog .forward-field Label { width: 16; padding: 1 1 0 0; }
    ForwardDialog .forward-field Input { width: 1fr; }
    """
    OK = "forward"

    def __init__(self, replica: str, node: str, container_port: int | None, local_port: int):
        super().__init__()
        self.replica = replica
        self.node = node
        self.container_port = container_port
        self.local_port = local_port

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"Port-forward {self.replica}"), classes="dialog-title")
            yield Static(Text(f"A local port of this machine (127.0.0.1 only) to a port of {self.replica}'s "
                              f"container, through {self.node}'s connection. :pf lists the forwards."))
            with Horizontal(classes="forward-field"):
                yield Label("container port")
                yield OrderedInput("" if self.container_port is None else str(self.container_port),
                                   placeholder="the port the replica listens on", id="container-port")
            with Horizontal(classes="forward-field"):
                yield Label("local port")
                yield OrderedInput(str(self.local_port), placeholder="empty: any free port", id="local-port")
            yield Static("", id="message", classes="dialog-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Forward", variant="primary", id="forward")

    def on_mount(self) -> None:
        entry = self.query_one("#container-port", Input)
        entry.focus()
        entry.select_all()
        if self.container_port is None:  # the spec names no port: say what to type
            self._check()

    def parse(self) -> Ports:
        return parse_ports(self.query_one("#container-port", Input).value, self.query_one("#local-port", Input).value)


STATE_STYLE = {"open": "green", "broken": "bold red"}


def forward_row(r: ForwardRow, now: float) -> Row:
    state = Text(r.state, style=STATE_STYLE.get(r.state, ""))
    if r.reason:
        state.append(f" {r.reason}", style="dim" if r.state == "open" else "red")
    return Row(str(r.id), (r.replica, r.node, str(r.container_port), r.local, f"{r.active}/{r.connections}",
                           size(r.sent), size(r.received), uptime(max(0.0, now - r.since)), state))


class ForwardsScreen(Screen[None]):
    """The forwards open (``:pf``): replica, node, container port, local address, connections
    (open now / since it opened), bytes each way, age, state. ``ctrl+d`` stops the selected
    one, esc goes back."""

    DEFAULT_CSS = """
    ForwardsScreen #forwards-title { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    ForwardsScreen #forwards-empty { height: auto; padding: 1 2; color: $text-muted; }
    """
    BINDINGS = screen_bindings(FORWARDS_KEYS)
    COLUMNS = (("replica", "REPLICA"), ("node", "NODE"), ("port", "PORT"), ("local", "LOCAL"), ("conns", "CONNS"),
               ("sent", "SENT"), ("received", "RECEIVED"), ("age", "AGE"), ("state", "STATE"))

    def __init__(self) -> None:
        super().__init__(id="forwards")

    @property
    def orch(self) -> "OrchApp":
        from tui_orch.ui.app import OrchApp

        return cast(OrchApp, self.app)

    def compose(self) -> ComposeResult:
        yield Static("Port-forwards (127.0.0.1 only; closed when the console quits)", id="forwards-title")
        yield ResourceTable(self.COLUMNS, id="forwards-table")
        yield Static(Text("No port-forwards. Select a running replica in the replicas view (:rs) and press "
                          f"{self.orch.get_key_display_for('port-forward')}."), id="forwards-empty")
        yield Footer()

    @property
    def table(self) -> ResourceTable:
        return self.query_one(ResourceTable)

    def on_mount(self) -> None:
        self.refresh_rows()
        self.table.focus()
        if not self.orch.config.deterministic:
            self.set_interval(self.orch.config.refresh_interval, self.refresh_rows, name="forwards-refresh")

    def refresh_rows(self) -> None:
        now = self.orch.now()
        rows = [forward_row(r, now) for r in self.orch.reader.forwards.rows()]
        self.table.sync(rows)
        self.query_one("#forwards-empty", Static).display = not rows

    def action_stop(self) -> None:
        key = self.table.selected_key()
        forward = self.orch.reader.forwards.get(int(key)) if key else None
        if forward is None:
            self.notify("no port-forward selected", severity="warning")
            return
        self.orch.reader.forwards.stop(forward.id)
        self.notify(f"{forward.describe()} stopped")
        self.refresh_rows()

    def action_back(self) -> None:
        self.dismiss(None)
