"""Modal dialogs: confirm a destructive action (Cancel is the default), scale a service,
trust a node's host key, and deploy a manifest (see deploy_dialog.py, re-exported here).

Every binding has an id (``dialog.*``) so the config file can rebind it."""

from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from rich.text import Text

from tui_orch.errors import printable_lines
from tui_orch.ui.dialog_style import CANCEL, dialog_css
from tui_orch.ui.deploy_dialog import DeployDialog, PathSuggester, complete_path

from tui_orch.manifest.deploy import MAX_REPLICAS  # the controller's limit too

T = TypeVar("T")


class OrderedInput(Input):
    """An Input that runs its own editing bindings (Backspace, Delete, arrows) when the key
    reaches it. Textual runs a focused widget's bindings only after the key has come back up
    to the app, by which time the keys typed after it (sent down at once, 20 ms apart or less)
    were already inserted: Backspace then 5 gave "" instead of "5".

    Tab and shift+tab (the screen's) move the focus when the key reaches it too, and the keys
    sent here after one of them are passed on to the widget that has the focus now: tab, a
    port, enter typed fast went into this field, the tab ran after them."""

    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:  # typed after a tab, sent here before it ran
            event.stop()
            event.prevent_default()
            again = events.Key(event.key, event.character)
            again._set_forwarded()  # as the app sends keys down: it comes back up to the app's bindings only
            focused.post_message(again)
            return
        binding = next(iter(self._bindings.key_to_bindings.get(event.key, ())), None)
        if binding is not None:
            event.stop()
            event.prevent_default()
            await self.run_action(binding.action)
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            (self.screen.focus_next if event.key == "tab" else self.screen.focus_previous)()
            return
        await super()._on_key(event)


class ConfirmDialog(ModalScreen[bool]):
    """Yes or no for a destructive action. Cancel has the focus, so enter on open cancels;
    ``y`` (or enter on the confirm button) confirms, ``n``/esc cancels."""

    DEFAULT_CSS = dialog_css("ConfirmDialog")
    BINDINGS = [
        CANCEL,
        Binding("n", "cancel", "No", show=False, id="dialog.no"),
        Binding("y", "confirm", "Yes", id="dialog.yes"),
    ]

    def __init__(self, question: str, confirm_label: str = "Delete", title: str = "Are you sure?"):
        super().__init__()
        self.question = question
        self.confirm_label = confirm_label
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(Text(printable_lines(self.question)), id="question")  # it names services, nodes
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.confirm_label, variant="error", id="confirm")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def parse_replicas(text: str) -> int:
    """The replica count typed, or ValueError with the sentence to show."""
    value = text.strip()
    if not value:
        raise ValueError(f"type the number of replicas, from 0 to {MAX_REPLICAS}")
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number; type 0 to {MAX_REPLICAS}") from None
    if not 0 <= count <= MAX_REPLICAS:
        raise ValueError(f"{count} is out of range; type 0 to {MAX_REPLICAS}")
    return count


class EntryDialog(ModalScreen[T]):
    """A dialog of typed values, checked as they change: ``parse()`` gives the value, or
    ValueError with the sentence shown under the entries (the button ``OK`` names disabled
    meanwhile); enter or that button dismisses with the value, esc or Cancel with None."""

    BINDINGS = [CANCEL]
    OK = "ok"  # the id of the button that dismisses with the value

    def parse(self) -> T:
        raise NotImplementedError

    def _check(self) -> T | None:
        message = self.query_one("#message", Static)
        try:
            value = self.parse()
        except ValueError as exc:
            message.update(Text(str(exc)))
            self.query_one(f"#{self.OK}", Button).disabled = True
            return None
        message.update("")
        self.query_one(f"#{self.OK}", Button).disabled = False
        return value

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = self._check()
        if value is not None:
            self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        value = self._check()
        if value is not None:
            self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ScaleDialog(EntryDialog["int | None"]):
    """How many replicas ``service`` should run: an integer 0..1000, or None when cancelled."""

    DEFAULT_CSS = dialog_css("ScaleDialog")
    OK = "scale"

    def __init__(self, service: str, current: int):
        super().__init__()
        self.service = service
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Scale {self.service}", classes="dialog-title")
            yield Static(Text(f"{self.service} runs {self.current} replica(s) now. How many should it run?"))
            yield OrderedInput(str(self.current), placeholder=f"0 to {MAX_REPLICAS}", id="replicas")
            yield Static("", id="message", classes="dialog-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Scale", variant="primary", id="scale")

    def on_mount(self) -> None:
        entry = self.query_one("#replicas", Input)
        entry.focus()
        entry.select_all()  # typing replaces the current count

    def parse(self) -> int:
        return parse_replicas(self.query_one("#replicas", Input).value)


class TrustDialog(ModalScreen[bool]):
    """Trust a host key after comparing its fingerprint: the node's own, or (``hop``, e.g.
    "jump host bastion") that of a jump host on the way to it. Cancel is the default."""

    DEFAULT_CSS = dialog_css("TrustDialog")
    BINDINGS = [CANCEL, Binding("y", "confirm", "Trust", id="dialog.yes")]

    def __init__(self, node: str, address: str, fingerprint: str, key_type: str = "", known_hosts: str = "",
                 hop: str = ""):
        super().__init__()
        self.node = node
        self.address = address  # host:port of the hop whose key this is
        self.fingerprint = fingerprint
        self.key_type = key_type
        self.known_hosts = known_hosts
        self.hop = hop  # "" for the node itself

    def compose(self) -> ComposeResult:
        kind = f"{self.key_type} " if self.key_type else ""
        where = f" ({self.address})" if self.address else ""
        target = self.known_hosts or "known_hosts"
        whose = f"{self.hop} for node {self.node}" if self.hop else self.node
        presenter = f"{self.hop}{where}, through which {self.node} is reached," if self.hop else f"{self.node}{where}"
        with Vertical(classes="dialog"):
            yield Label(Text(f"Trust the host key of {whose}?"), classes="dialog-title", id="trust-title")
            yield Static(Text(f"{presenter} presents the {kind}host key with fingerprint"), id="presenter")
            yield Static(Text(self.fingerprint), id="fingerprint", classes="dialog-fingerprint")
            yield Static(Text(
                f"Compare it with the host's own (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub). "
                f"Trusting adds this key to {target}; the console then connects to this host, and "
                f"refuses it if the key ever changes."))
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Trust", variant="warning", id="trust")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "trust")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


__all__ = [
    "ConfirmDialog",
    "DeployDialog",
    "EntryDialog",
    "OrderedInput",
    "PathSuggester",
    "ScaleDialog",
    "TrustDialog",
    "complete_path",
    "parse_replicas",
]
