"""The themes shipped in themes/ are well-formed Textual themes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from textual.theme import Theme

THEMES = sorted((Path(__file__).parent.parent / "themes").glob("*.yaml"))


def test_at_least_three_themes() -> None:
    assert len(THEMES) >= 3


@pytest.mark.parametrize("path", THEMES, ids=lambda p: p.name)
def test_theme_file_builds_a_textual_theme(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    theme = Theme(**data)
    assert theme.name == path.stem
    assert theme.to_color_system() is not None
