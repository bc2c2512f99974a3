"""Themes: the shipped files are Textual themes (found from the checkout's themes/ and from an
installed package), users add theirs in CONFIG/themes, and a bad file is one sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from textual.app import App, ComposeResult
from textual.theme import Theme
from textual.widgets import Static

from tui_orch.ui.themes import DEFAULT_THEME, SHIPPED_DIR, load_themes, pick_theme

ROOT = Path(__file__).parent.parent
THEMES = sorted((ROOT / "themes").glob("*.yaml"))


def test_at_least_three_themes_in_the_themes_folder() -> None:
    assert len(THEMES) >= 3
    assert (ROOT / "themes").resolve() == SHIPPED_DIR.resolve()  # one set of files, in the package


@pytest.mark.parametrize("path", THEMES, ids=lambda p: p.name)
def test_theme_file_builds_a_textual_theme(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    theme = Theme(**data)
    assert theme.name == path.stem
    assert theme.to_color_system() is not None


def test_load_themes_gives_the_shipped_themes_without_problems(tmp_path: Path) -> None:
    themes, problems = load_themes(tmp_path / "absent")
    assert problems == []
    names = [t.name for t in themes]
    assert DEFAULT_THEME in names and "tui-orch-light" in names and "solarized-dark" in names
    light = next(t for t in themes if t.name == "tui-orch-light")
    assert light.dark is False and light.primary == "#0969DA"


def test_a_user_theme_is_added_and_may_replace_a_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "ocean.yml").write_text("dark: true\nprimary: '#0077BE'\nbackground: navy\n"
                                        "variables:\n  footer-key-foreground: '#FFB703'\n")
    (tmp_path / "mine.yaml").write_text("name: tui-orch-dark\nprimary: '#FF0000'\n")
    (tmp_path / "notes.txt").write_text("not a theme")
    themes, problems = load_themes(tmp_path)
    assert problems == []
    by_name = {t.name: t for t in themes}
    assert by_name["ocean"].primary == "#0077BE"  # named after the file when it has no name
    assert by_name["ocean"].variables == {"footer-key-foreground": "#FFB703"}
    assert by_name[DEFAULT_THEME].primary == "#FF0000"
    assert len(themes) == len(by_name)  # no duplicates


def test_the_user_folder_defaults_to_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_ORCH_CONFIG", str(tmp_path))
    (tmp_path / "themes").mkdir()
    (tmp_path / "themes" / "forest.yaml").write_text("primary: '#228B22'\n")
    themes, problems = load_themes(None)
    assert problems == [] and "forest" in [t.name for t in themes]


@pytest.mark.parametrize("text, says", [
    ("primary: [unclosed\n", "not valid YAML at line 2, column 1"),
    ("- just\n- a list\n", "expected a mapping of theme fields"),
    ("primary: '#123456'\nprimray: '#000000'\n", "unknown field 'primray'"),
    ("background: '#000000'\n", "primary: missing"),
    ("primary: '#12345Z'\n", "primary: '#12345Z' is not a colour"),
    ("primary: '#123456'\ndark: sometimes\n", "dark: expected bool"),
    ("name: 'two words'\nprimary: '#123456'\n", "is not a usable theme name"),
])
def test_a_bad_theme_file_is_one_sentence_naming_it_and_the_others_still_load(
        tmp_path: Path, text: str, says: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    (tmp_path / "good.yaml").write_text("primary: '#336699'\n")
    themes, problems = load_themes(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"theme file {bad}: ") and says in problems[0]
    assert problems[0].endswith("it is not used") and "\n" not in problems[0]
    names = [t.name for t in themes]
    assert "good" in names and "bad" not in names and DEFAULT_THEME in names


def test_an_unreadable_theme_file_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00primary")
    themes, problems = load_themes(tmp_path)
    assert len(problems) == 1 and "binary.yaml cannot be read" in problems[0]


def test_pick_theme_falls_back_to_the_default_with_a_sentence() -> None:
    names = ["tui-orch-dark", "tui-orch-light"]
    assert pick_theme("tui-orch-light", names) == ("tui-orch-light", None)
    assert pick_theme(None, names) == (DEFAULT_THEME, None)
    theme, why = pick_theme("nope", names)
    assert theme == DEFAULT_THEME and why is not None and "there is no theme 'nope'" in why


class ThemedApp(App[None]):
    def __init__(self, extra: Path):
        super().__init__()
        self.extra = extra
        self.problems: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("hello", id="hello")

    def on_mount(self) -> None:
        themes, self.problems = load_themes(self.extra)
        for theme in themes:
            self.register_theme(theme)
        self.theme, _ = pick_theme("ocean", [t.name for t in themes])


async def test_an_app_uses_a_loaded_theme(tmp_path: Path) -> None:
    (tmp_path / "ocean.yaml").write_text("primary: '#0077BE'\nbackground: '#001F3F'\n")
    app = ThemedApp(tmp_path)
    async with app.run_test(size=(40, 5)) as pilot:
        await pilot.pause()
        assert app.theme == "ocean"
        assert app.screen.styles.background.hex.upper() == "#001F3F"


def test_an_installed_package_finds_the_shipped_themes(tmp_path: Path) -> None:
    """pip install a copy of the sources (no index: offline) into a folder and load the
    themes from there, outside the checkout."""
    src, target = tmp_path / "src", tmp_path / "site"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "tui_orch", src / "tui_orch", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "--target", str(target), str(src)],
                           capture_output=True, text=True, timeout=240,
                           env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert build.returncode == 0, build.stdout + build.stderr
    code = ("import tui_orch.ui.themes as t, pathlib; themes, problems = t.load_themes(pathlib.Path('/nonexistent'));"
            "print(t.__file__); print(sorted(x.name for x in themes)); print(problems)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(target)})
    assert out.returncode == 0, out.stderr
    where, names, problems = out.stdout.splitlines()
    assert where.startswith(str(target))  # the installed copy, not the checkout
    assert "tui-orch-dark" in names and "tui-orch-light" in names and "solarized-dark" in names
    assert problems == "[]"


MIDNIGHT = "name: midnight\nprimary: '#4EA8DE'\nbackground: '#010203'\n"


async def console_theme(tmp_path: Path, wanted: str) -> tuple[str, list[str]]:
    """The theme the console shows for ``theme: wanted`` in config.yaml, and its notifications."""
    from tui_orch.ui.app import OrchApp
    from tui_orch.ui.settings import load_ui_settings
    from ui_support import SIZE, sim_controller

    (tmp_path / "config.yaml").write_text(f"theme: {wanted}\n")
    settings = load_ui_settings(tmp_path, deterministic=True)
    async with sim_controller(tmp_path / "state", count=1) as (ctl, _):
        app = OrchApp(ctl, settings)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            return app.theme, [n.message for n in app._notifications]


async def test_config_yaml_finds_a_user_theme_by_its_name_field(tmp_path: Path) -> None:
    (tmp_path / "themes").mkdir()
    (tmp_path / "themes" / "mine.yaml").write_text(MIDNIGHT)
    theme, notes = await console_theme(tmp_path, "midnight")
    assert theme == "midnight" and notes == []


async def test_config_yaml_finds_a_user_theme_by_its_file_name_too(tmp_path: Path) -> None:
    (tmp_path / "themes").mkdir()
    (tmp_path / "themes" / "mine.yaml").write_text(MIDNIGHT)
    theme, notes = await console_theme(tmp_path, "mine")
    assert theme == "midnight" and notes == []


async def test_two_theme_files_with_one_name_the_file_named_after_it_wins_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "themes"
    folder.mkdir()
    (folder / "a-mine.yaml").write_text(MIDNIGHT)
    (folder / "midnight.yaml").write_text("primary: '#FF0000'\nbackground: '#000000'\n")
    (folder / "z-other.yaml").write_text(MIDNIGHT.replace("#4EA8DE", "#00FF00"))
    theme, notes = await console_theme(tmp_path, "midnight")
    assert theme == "midnight"
    found = {t.name: t for t in load_themes(folder)[0]}
    assert found["midnight"].primary == "#FF0000"  # midnight.yaml, whatever the order of the files
    clashes = [n for n in notes if "both name the theme 'midnight'" in n]
    assert len(clashes) == 2 and all(f"using {folder / 'midnight.yaml'}" in n for n in clashes)
    assert any(str(folder / "a-mine.yaml") in n for n in clashes) and any(str(folder / "z-other.yaml") in n
                                                                        for n in clashes)


def test_two_theme_files_naming_one_theme_by_name_field_the_first_file_wins(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(MIDNIGHT.replace("#4EA8DE", "#00FF00"))
    (tmp_path / "a.yaml").write_text(MIDNIGHT)
    themes, problems = load_themes(tmp_path)
    assert {t.name: t for t in themes}["midnight"].primary == "#4EA8DE"
    assert problems == [f"theme files {tmp_path / 'a.yaml'} and {tmp_path / 'b.yaml'} both name the theme "
                        f"'midnight'; using {tmp_path / 'a.yaml'} (change the name: in {tmp_path / 'b.yaml'} "
                        f"to use both)"]
