"""README.md's table of the console's keys agrees with tui_orch/ui/keys.py, the table the
console binds: every key of the main screen has a row naming its id, with its key, the ✎ mark
exactly when read-only leaves it out, and the views it acts in; no row names an id the console
does not have."""

from __future__ import annotations

import re
from pathlib import Path

from tui_orch.ui.keys import KEYS

README = Path(__file__).parent.parent / "README.md"
SHOWN = {"colon": ":", "slash": "/", "question_mark": "?", "escape": "esc", "greater_than_sign": ">",
         "less_than_sign": "<", "tilde": "~"}
VIEWS = ("nodes", "services", "replicas", "events")


def key_rows() -> list[tuple[str, str, str, str]]:
    """(key, what, views, ids) of each row of the table that follows 'Keys, as in k9s'."""
    text = README.read_text(encoding="utf-8")
    lines = text[text.index("Keys, as in k9s"):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| key |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 4, f"a row of the keys table has {len(cells)} cells: {line}"
        rows.append((cells[0], cells[1], cells[2], cells[3]))
    return rows


def test_every_key_of_the_console_has_its_row() -> None:
    rows = key_rows()
    for k in KEYS:
        found = [r for r in rows if f"`{k.id}`" in r[3]]
        assert len(found) == 1, f"README's keys table has {len(found)} rows for {k.id}"
        keys, _, views, _ = found[0]
        first = k.key.split(",")[0]
        assert f"`{SHOWN.get(first, first)}`" in keys, (k.id, k.key, keys)
        assert ("✎" in keys) == k.destructive, f"{k.id}: ✎ says it changes the fleet exactly when it does"
        said = "every view" if views == "every view" else tuple(v for v in VIEWS if v in views)
        wanted = "every view" if not k.views else tuple(v for v in VIEWS if v in k.views)
        assert said == wanted, (k.id, views, k.views)


def test_no_row_names_an_id_the_console_lacks() -> None:
    ids = {k.id for k in KEYS}
    named = {i for r in key_rows() for i in re.findall(r"`([a-z-]+)`", r[3])}
    assert named and named <= ids, named - ids
