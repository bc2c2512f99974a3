"""Themes as files: the ones shipped in the package (``tui_orch/ui/theme_files``, also seen as
``themes/`` in the checkout) and the user's own in ``CONFIG/themes``, turned into Textual themes.

A theme file is YAML with the fields of ``textual.theme.Theme``::

    name: my-theme          # optional: the file name without .yaml; `theme:` finds it by either
    dark: true
    primary: "#4EA8DE"      # required; every colour is a CSS colour
    secondary: "#5E60CE"
    background: "#0F1419"
    variables:              # optional: Textual CSS variables, e.g. footer-key-foreground
      block-cursor-background: "#FFB703"

A file that cannot be used is skipped with one problem sentence naming it; the app shows the
sentence and keeps (or falls back to) the default theme. Two user files naming one theme: the
file named after it wins (else the first by file name), and a sentence names both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "tui-orch-dark"
SHIPPED_DIR = Path(__file__).parent / "theme_files"
SUFFIXES = (".yaml", ".yml")
COLOURS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground",
           "background", "surface", "panel", "boost")
OTHER_FIELDS = {"name": str, "dark": bool, "luminosity_spread": float, "text_alpha": float,
                "variables": dict, "ansi": bool}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ThemeFileError(ValueError):
    """What is wrong with one theme file (the message names no file; the caller adds it)."""


def user_themes_dir() -> Path:
    """CONFIG/themes, where users add their own theme files."""
    from tui_orch.config import config_dir

    return config_dir() / "themes"


def theme_files(folder: Path) -> list[Path]:
    """The theme files of a folder, by name (none when it does not exist)."""
    try:
        return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _check_colour(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{key}: expected a colour such as \"#4EA8DE\", got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{key}: {value!r} is not a colour (use #RRGGBB, rgb(...) or a name)") from None
    return value


def _fields(data: Any, default_name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ThemeFileError("expected a mapping of theme fields (name, primary, background...)")
    unknown = sorted(str(k) for k in data if k not in COLOURS and k not in OTHER_FIELDS)
    if unknown:
        known = ", ".join((*COLOURS, *OTHER_FIELDS))
        raise ThemeFileError(f"unknown field {unknown[0]!r} (known: {known})")
    if "primary" not in data:
        raise ThemeFileError("primary: missing; a theme needs at least its primary colour")
    fields: dict[str, Any] = {"name": default_name}
    for key, value in data.items():
        if key in COLOURS:
            if value is not None:
                fields[key] = _check_colour(key, value)
            continue
        kind = OTHER_FIELDS[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            raise ThemeFileError(f"{key}: expected {kind.__name__}, got {value!r}")
        fields[key] = value
    if not NAME.match(fields["name"]):
        raise ThemeFileError(f"name: {fields['name']!r} is not a usable theme name "
                             f"(letters, digits, '-', '_', '.')")
    variables = fields.get("variables", {})
    for key, value in variables.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ThemeFileError(f"variables: {key!r}: expected a text value, got {value!r}")
    return fields


def read_theme(path: Path) -> Theme:
    """The Textual theme in ``path``; ThemeFileError (or OSError) says why not."""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ThemeFileError(f"not valid YAML{where}: {problem}") from None
    theme = Theme(**_fields(data, path.stem))
    try:
        theme.to_color_system()
    except (ColorParseError, ValueError, TypeError) as exc:
        raise ThemeFileError(f"Textual cannot build this theme: {exc}") from None
    return theme


@dataclass
class ThemeSet:
    """The themes found, one sentence per file that could not be used (or lost a clash), and
    the user's file names (without .yaml) that name a theme of another name."""

    themes: list[Theme] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # file name -> theme name


def _read_or_problem(path: Path, problems: list[str]) -> Theme | None:
    try:
        return read_theme(path)
    except ThemeFileError as exc:
        problems.append(f"theme file {path}: {exc}; it is not used")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(f"theme file {path} cannot be read ({reason}); it is not used")
    return None


def _user_themes(folder: Path, problems: list[str]) -> dict[str, tuple[Path, Theme]]:
    """The user's themes by name. Two files naming one theme: the file named after the theme
    wins (midnight.yaml over mine.yaml with ``name: midnight``), else the first by file name;
    the other is named in a problem sentence, never dropped without a word."""
    found: dict[str, tuple[Path, Theme]] = {}
    for path in theme_files(folder):
        theme = _read_or_problem(path, problems)
        if theme is None:
            continue
        held = found.get(theme.name)
        if held is None:
            found[theme.name] = (path, theme)
            continue
        if path.stem == theme.name and held[0].stem != theme.name:  # this one is named after it
            found[theme.name], dropped = (path, theme), held[0]
        else:
            dropped = path
        kept = found[theme.name][0]
        problems.append(f"theme files {kept} and {dropped} both name the theme {theme.name!r}; using {kept} "
                        f"(change the name: in {dropped} to use both)")
    return found


def load_theme_set(extra_dir: Path | None = None) -> ThemeSet:
    """The shipped themes, then the user's from ``extra_dir`` (default: CONFIG/themes); a user
    theme with a shipped theme's name replaces it. A user theme is found by its ``name:`` and,
    when no theme has that name, by its file name too."""
    folder = user_themes_dir() if extra_dir is None else extra_dir
    found = ThemeSet()
    themes: dict[str, Theme] = {}
    for path in theme_files(SHIPPED_DIR):
        theme = _read_or_problem(path, found.problems)
        if theme is not None:
            themes[theme.name] = theme
    user = _user_themes(folder, found.problems)
    themes.update((name, theme) for name, (_, theme) in user.items())
    found.themes = list(themes.values())
    found.aliases = {path.stem: name for name, (path, _) in user.items()
                     if path.stem != name and path.stem not in themes}
    return found


def load_themes(extra_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """``load_theme_set``'s themes and problem sentences."""
    found = load_theme_set(extra_dir)
    return found.themes, found.problems


def pick_theme(wanted: str | None, available: list[str],
               aliases: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """The theme to use for ``wanted`` (from the config or --theme; a user theme's file name
    is found through ``aliases``) and, when it falls back to the default, the sentence saying why."""
    if not wanted or wanted in available:
        return wanted or DEFAULT_THEME, None
    if aliases and aliases.get(wanted) in available:
        return aliases[wanted], None
    return DEFAULT_THEME, f"there is no theme {wanted!r}; using {DEFAULT_THEME} (themes: {', '.join(sorted(available))})"
