"""The console's settings: theme, key bindings, read-only, deterministic rendering.

``config.yaml`` in the config folder (``tui_orch.config.config_dir()``)::

    theme: solarized-dark
    keys:                # binding id -> key(s), comma separated; see ui/keys.py for the ids
      scale: ctrl+s
      logs: l,o
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_THEME = "tui-orch-dark"
CONFIG_FILE = "config.yaml"


@dataclass
class UiSettings:
    """How the console looks and behaves (the controller says what it shows)."""

    theme: str = DEFAULT_THEME
    keys: dict[str, str] = field(default_factory=dict)  # binding id -> key(s)
    readonly: bool = False  # destructive actions are not bound at all
    # Snapshot tests: no clock in the header, no cursor blink, fixed sparkline data, and the
    # screen refreshed only when asked (``OrchApp.refresh_now``).
    deterministic: bool = False
    clock: Callable[[], float] = time.time  # "now" for uptimes and the last hour of restarts
    refresh_interval: float = 1.0  # seconds between redraws of the current view
    examples_dir: Path | None = None  # where the deploy dialog lists manifests (None: ./examples or .)
    themes_dir: Path | None = None  # the user's extra themes (None: CONFIG/themes)
    # the console's own small files (the prompts' history); None: kept for this run only
    state_dir: Path | None = None
    problems: list[str] = field(default_factory=list)  # about the config file, shown once at start
    usage_file: Path | None = None  # the last hour of cpu and memory, kept across restarts (None: not kept)

    def deploy_folder(self) -> Path:
        if self.examples_dir is not None:
            return self.examples_dir
        here = Path.cwd() / "examples"
        return here if here.is_dir() else Path.cwd()


def load_ui_settings(folder: Path | None = None, *, readonly: bool = False, theme: str | None = None,
                   deterministic: bool = False) -> UiSettings:
    """The settings of ``folder/config.yaml`` (default: the config folder), with the command
    line's ``theme`` winning. A file that cannot be read leaves the defaults and one
    problem sentence in ``problems`` (the console shows it as a notification)."""
    if folder is None:
        from tui_orch.config import config_dir

        folder = config_dir()
    cfg = UiSettings(readonly=readonly, deterministic=deterministic, themes_dir=folder / "themes")
    path = folder / CONFIG_FILE
    data: object = None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f":{where.line + 1}:{where.column + 1}" if where is not None else ""
        cfg.problems.append(f"{path}{at}: cannot be read ({getattr(exc, 'problem', None) or exc}); "
                            f"using the default settings")
    if data is not None and not isinstance(data, dict):
        cfg.problems.append(f"{path}: expected a mapping with 'theme' and 'keys'; using the default settings")
        data = None
    if isinstance(data, dict):
        _read(data, cfg, path)
    if theme:
        cfg.theme = theme
    return cfg


def _read(data: dict[object, object], cfg: UiSettings, path: Path) -> None:
    from tui_orch.ui.keys import BINDING_IDS

    for key in data:
        if key not in ("theme", "keys"):
            cfg.problems.append(f"{path}: unknown setting {key!r} (known: theme, keys); it is ignored")
    theme = data.get("theme")
    if theme is not None:
        if isinstance(theme, str) and theme.strip():
            cfg.theme = theme.strip()
        else:
            cfg.problems.append(f"{path}: theme: expected a theme name, got {theme!r}")
    keys = data.get("keys")
    if keys is None:
        return
    if not isinstance(keys, dict):
        cfg.problems.append(f"{path}: keys: expected a mapping of binding id to key, got {type(keys).__name__}")
        return
    for ident, key in keys.items():
        if ident not in BINDING_IDS:
            known = ", ".join(sorted(BINDING_IDS))
            cfg.problems.append(f"{path}: keys: unknown binding id {ident!r}; known ids: {known}")
        elif not isinstance(key, str) or not key.strip():
            cfg.problems.append(f"{path}: keys.{ident}: expected a key such as 'ctrl+s', got {key!r}")
        else:
            cfg.keys[str(ident)] = key.strip()
