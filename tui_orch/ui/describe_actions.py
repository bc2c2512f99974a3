"""The main screen's ``d`` (describe the selected node, service, replica or event), ``y`` (the
Compose text of the selected service) and ``e`` (edit that Compose file in $EDITOR, then see
its plan and deploy it through the deploy dialog, Cancel being the default)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_orch.ui.describe import TextScreen, described_lines

if TYPE_CHECKING:
    from tui_orch.controller.describe import Described, Source
    from tui_orch.controller.query import Query
    from tui_orch.ui.app import OrchApp
    from tui_orch.ui.views import View

KINDS = {"nodes": "node", "services": "service", "replicas": "replica"}


class DescribeActions:
    """Mixed into the main screen (``current`` is the shown view)."""

    if TYPE_CHECKING:
        orch: OrchApp
        current: View
        app: Any
        reader: Query

        def notify(self, message: str, *, title: str = "", severity: Any = "information",
                   timeout: float | None = None, markup: bool = True) -> None: ...
        def run_worker(self, work: Any, *args: Any, **kwargs: Any) -> Any: ...
        def target(self, kind: str) -> str | None: ...
        def action_deploy(self, start: Path | None = None) -> None: ...

    # ------------------------------------------------------------------ d
    def action_describe(self) -> None:
        """`d`: the selected row's resource described, on a screen of its own."""
        from tui_orch.ui.views import EventsView

        view, key = self.current, self.current.selected_key()
        if key is None:
            self.notify(f"select a row first (the {view.NAME} view is empty)", severity="warning")
            return
        now = self.orch.now()
        if isinstance(view, EventsView):
            ev = view.event(key)
            found = self.reader.describe_event(ev, now) if ev is not None else None
        else:
            found = self.reader.describe(KINDS[view.NAME], key, now)
        if found is None:
            self.notify(f"{key} is not in the state (gone, or not this controller's): nothing to describe",
                        severity="warning")
            return
        self.app.push_screen(describe_screen(found))

    # ------------------------------------------------------------------ y, e
    def _service(self) -> str | None:
        """The service of the selected row (an event's service in the events view)."""
        from tui_orch.ui.views import EventsView

        view = self.current
        if isinstance(view, EventsView):
            ev = view.event(view.selected_key())
            if ev is None or not ev.service:
                self.notify("select an event about a service first", severity="warning")
            return ev.service if ev is not None and ev.service else None
        return self.target("service")

    def _source(self) -> "Source | None":
        service = self._service()
        if service is None:
            return None
        src = self.reader.compose_source(service)
        if src is None:
            self.notify(f"{service} is not deployed (not in this state): it has no Compose file", severity="warning")
        return src

    def action_yaml(self) -> None:
        """`y`: the service's part of its Compose file, as applied when kept, else as on disk now."""
        src = self._source()
        if src is None:
            return
        if src.text is not None:
            from tui_orch.controller.describe import stamp

            self.app.push_screen(yaml_screen(src, src.text, f"as applied: revision {src.revision}, "
                                                            f"{stamp(src.applied_at)}"))
            return

        async def read() -> None:
            from tui_orch.controller.describe import read_section

            text, note = await asyncio.to_thread(read_section, src)
            if text is None:
                self.notify(f"{src.service}: no Compose text to show: {note}", severity="warning", timeout=10)
            else:
                self.app.push_screen(yaml_screen(src, text, note))

        self.run_worker(read(), group="yaml", exclusive=True, exit_on_error=False)

    def action_edit(self) -> None:
        """`e`: the service's Compose file in $EDITOR; once saved changed, its plan (the deploy
        dialog) and a confirmation before anything is applied."""
        from tui_orch.ui.shell import run_editor

        if self.orch.config.readonly:
            self.notify("the console is read-only (--readonly)", severity="warning")
            return
        src = self._source()
        if src is None:
            return
        if not src.file or src.file.startswith("<"):
            self.notify(f"{src.service} was not applied from a file: there is no Compose file to edit",
                        severity="warning")
            return
        path = Path(src.file)
        before = _read(path)
        if before is None:
            self.notify(f"{path} cannot be read on this machine; edit it where it is, then deploy it with `a`",
                        severity="error", timeout=10)
            return
        problem = run_editor(self.app, str(path))
        if problem:
            self.notify(f"edit {path.name}: {problem}; nothing was deployed", severity="error", timeout=10)
        elif _read(path) == before:
            self.notify(f"{path.name} is unchanged: nothing to deploy")
        else:
            self.action_deploy(path)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def describe_screen(d: "Described") -> TextScreen:
    return TextScreen(f"Describe {d.kind} {d.name}", described_lines(d))


def yaml_screen(src: "Source", text: str, note: str) -> TextScreen:
    lines = [f"# {src.service}: its part of {src.file or 'its Compose file'}", f"# {note}", *text.splitlines()]
    return TextScreen(f"YAML {src.service}", lines)
