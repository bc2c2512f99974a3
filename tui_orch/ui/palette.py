"""The command palette (ctrl+p): every action of the shown view, the views, and the themes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui_orch.ui.keys import action_name, acts_in, keys

if TYPE_CHECKING:
    from tui_orch.ui.app import OrchApp


class ConsoleCommands(Provider):
    """Actions (as the keys would do them on the selected row: those acting in the shown
    view, keys.Key.views), views, themes."""

    def commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = cast("OrchApp", self.app)
        out: list[tuple[str, Callable[[], object], str]] = []
        main = app.main
        if main is not None:
            for k in keys(app.config.readonly):
                if k.palette and acts_in(action_name(k.action), main.view_name):
                    out.append((k.description, partial(main.run_action, k.action),
                                f"key {app.get_key_display_for(k.id)}"))
            for name in ("nodes", "services", "replicas", "events"):
                out.append((f"Show {name}", partial(main.run_action, f"view('{name}')"), f":{name}"))
        for theme in sorted(app.available_themes):
            out.append((f"Theme: {theme}", partial(setattr, app, "theme", theme), "switch the colours"))
        return out

    async def discover(self) -> Hits:
        for name, run, help_text in self.commands():
            yield DiscoveryHit(name, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help_text)
