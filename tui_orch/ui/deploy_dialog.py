"""Deploy a manifest: pick a file (a path input with completion, or the manifests of the
examples folder), see the plan of a dry run (each replica -> node, and what cannot be placed
and why), then Deploy or Cancel. A manifest that cannot be deployed shows its problems as
text and Deploy stays disabled."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui_orch.errors import ManifestError, TuiOrchError
from tui_orch.ui.dialog_style import CANCEL, dialog_css
from tui_orch.ui.table import printable_text

if TYPE_CHECKING:
    from tui_orch.controller.core import ApplyResult

SUFFIXES = (".yaml", ".yml")
SERVICES = re.compile(r"^services\s*:", re.MULTILINE)
Preview = Callable[[Path], Awaitable["ApplyResult"]]


def complete_path(value: str) -> str | None:
    """``value`` completed to a folder (with '/') or a YAML file, as a shell would; the
    longest common part when several entries match. None when nothing matches."""
    if not value:
        return None
    folder, prefix = os.path.split(os.path.expanduser(value))
    try:
        entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
    except OSError:
        return None
    names = []
    for entry in entries:
        if not entry.name.startswith(prefix) or (entry.name.startswith(".") and not prefix.startswith(".")):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            names.append(entry.name + "/")
        elif entry.name.endswith(SUFFIXES):
            names.append(entry.name)
    if not names:
        return None
    common = os.path.commonprefix(names)
    rest = (common if len(common) > len(prefix) else names[0])[len(prefix):]
    return value + rest if rest else None


class PathSuggester(Suggester):
    """Completion of folders and *.yaml/*.yml files, looked up in a thread."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_path, value)


class PathInput(Input):
    """An Input where tab accepts the completion shown (and moves focus when there is none)."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False, id="deploy.complete")]

    def action_complete(self) -> None:
        if self._suggestion and self.cursor_at_end and self._suggestion != self.value:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


def manifest_files(folder: Path) -> list[Path]:
    """The Compose files of ``folder`` (YAML files with a top-level ``services:``)."""
    found = []
    for path in sorted(p for p in folder.glob("*") if p.suffix in SUFFIXES):
        try:
            if SERVICES.search(path.read_text(encoding="utf-8", errors="replace")):
                found.append(path)
        except OSError:
            continue
    return found


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a manifest before it is even read, or None."""
    if not path.exists():
        return f"{path}: no such file; check the path"
    if path.is_dir():
        return f"{path} is a folder; pick a .yaml file in it"
    return None


def plan_text(path: Path, result: "ApplyResult") -> Text:
    """The dry run, as the dialog shows it: the rolling updates, the moves, what cannot be
    placed in red."""
    text = Text()
    text.append(f"Plan for {path.name}\n", style="bold")
    for service, what in result.rollouts.items():  # replaced in place: not among the moves
        text.append(f"{service}: {what}\n", style="bold cyan")
    unplaced = set(result.unschedulable)
    for line in result.plan.splitlines():
        style = "bold red" if line in unplaced else ("dim" if line.startswith("note:") else "")
        text.append(line + "\n", style=style)
    for line in result.unschedulable:  # in case the plan text did not list it
        if line not in result.plan:
            text.append(line + "\n", style="bold red")
    if result.unchanged:
        text.append(f"unchanged: {', '.join(result.unchanged)}\n", style="dim")
    if result.unschedulable:
        text.append(f"{len(result.unschedulable)} replica(s) cannot be placed, for the reasons above.\n",
                    style="red")
    return text


class DeployDialog(ModalScreen["Path | None"]):
    """Returns the manifest's path when the operator confirms its plan, None on Cancel/esc."""

    DEFAULT_CSS = dialog_css("DeployDialog") + """
DeployDialog > .dialog { width: 110; height: 34; }
DeployDialog #choose { height: 1fr; }
DeployDialog #files { width: 30; height: 1fr; margin-right: 1; }
DeployDialog #plan-box { height: 1fr; border: round $panel; }
DeployDialog #path { margin-bottom: 1; }
DeployDialog #files:focus, DeployDialog #plan-box:focus { border: round $accent; }
DeployDialog Button:focus { text-style: bold reverse; }
"""
    BINDINGS = [CANCEL]

    def __init__(self, examples_dir: Path, preview: Preview, start: Path | None = None):
        super().__init__()
        self.examples_dir = examples_dir
        self.preview = preview
        self.start = start
        self.ready: Path | None = None  # the file whose plan is shown and may be deployed

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Deploy a manifest", classes="dialog-title")
            yield PathInput(str(self.start or ""), placeholder="path to a Compose file (tab completes)",
                            suggester=PathSuggester(), id="path")
            with Horizontal(id="choose"):
                yield OptionList(id="files")
                with VerticalScroll(id="plan-box"):
                    yield Static(Text("Pick a manifest on the left or type its path, then enter.",
                                      style="dim"), id="plan")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Deploy", variant="success", id="deploy", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#files", OptionList).border_title = str(self.examples_dir)
        self._list_files()
        if self.start is not None:
            self.show_plan(self.start)
        self.query_one("#path", Input).focus()  # empty unless given: nothing is chosen for the operator

    def on_key(self, event: events.Key) -> None:
        """Typing while another widget (the file list, a button) has the focus goes to the
        path: no letter is lost, and enter then plans what was typed, never presses Deploy.
        A letter that gets here was not the path's (the input keeps those it takes)."""
        entry = self.query_one("#path", Input)
        if not (event.character and event.character.isprintable() and not event.character.isspace()):
            return
        if self.focused is entry:  # typed fast: queued for the widget focused before
            entry.insert_text_at_cursor(event.character)
        else:
            entry.select_on_focus = False  # else the focus would select the letter, the next one replace it
            self.set_focus(entry)
            entry.value = event.character  # a new path: not appended to the one browsed
            entry.cursor_position = 1
        event.stop()
        event.prevent_default()

    @work(group="files")
    async def _list_files(self) -> None:
        files = await asyncio.to_thread(manifest_files, self.examples_dir)
        options = self.query_one("#files", OptionList)
        options.set_options(Option(p.name, id=str(p)) for p in files)
        if files:
            options.highlighted = None  # browsing plans a file; opening the dialog does not
        else:
            options.add_option(Option(Text(f"no manifests in {self.examples_dir}", style="dim"), disabled=True))

    # ----------------------------------------------------------------- picking
    @on(OptionList.OptionSelected, "#files")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id and self.ready == Path(event.option.id):
            self.query_one("#deploy", Button).focus()  # its plan is on screen already
        elif event.option.id:
            self.show_plan(Path(event.option.id), focus_deploy=True)

    @on(OptionList.OptionHighlighted, "#files")
    def _browsed(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id and self.query_one("#files", OptionList).has_focus:
            self.show_plan(Path(event.option.id))

    @on(Input.Submitted, "#path")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.show_plan(Path(event.value.strip()).expanduser(), focus_deploy=True)

    @on(Input.Changed, "#path")
    def _edited(self, event: Input.Changed) -> None:
        event.stop()
        if self.ready is not None and Path(event.value.strip()).expanduser() != self.ready:
            self._set_ready(None)  # the plan shown is not the one of the typed path any more

    def show_plan(self, path: Path, focus_deploy: bool = False) -> None:
        """Put ``path`` in the input and plan it (a dry run) in a worker."""
        entry = self.query_one("#path", Input)
        if Path(entry.value.strip()).expanduser() != path:
            entry.value = str(path)
            entry.cursor_position = len(entry.value)
        self._set_ready(None)
        self._plan(path, focus_deploy)

    # ----------------------------------------------------------------- planning
    def _show(self, text: Text) -> None:
        self.query_one("#plan", Static).update(printable_text(text))  # paths and errors: escaped

    def _set_ready(self, path: Path | None) -> None:
        self.ready = path
        self.query_one("#deploy", Button).disabled = path is None

    @work(exclusive=True, group="preview")
    async def _plan(self, path: Path, focus_deploy: bool) -> None:
        self._show(Text(f"planning {path} ...", style="dim"))
        problem = await asyncio.to_thread(file_problem, path)
        if problem:
            self._show(Text(problem, style="red"))
            return
        try:
            result = await self.preview(path)
        except ManifestError as exc:
            self._show(Text(f"{path} cannot be deployed:\n", style="bold red") + Text(str(exc), style="red"))
            return
        except TuiOrchError as exc:
            self._show(Text(str(exc), style="red"))
            return
        except Exception as exc:  # noqa: BLE001 - a dialog shows a sentence, never a traceback
            self._show(Text(f"could not plan {path}: {type(exc).__name__}: {exc}", style="red"))
            return
        self._show(plan_text(path, result))
        self._set_ready(path)
        if focus_deploy:
            self.query_one("#deploy", Button).focus()

    # ----------------------------------------------------------------- closing
    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        typed = Path(self.query_one("#path", Input).value.strip()).expanduser()
        if event.button.id == "deploy" and self.ready is not None and self.ready == typed:
            self.dismiss(self.ready)  # the plan shown is the typed file's
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
