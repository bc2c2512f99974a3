"""README.md's table "Keys that are ignored or refused" agrees with manifest/decisions.py, the
table the parser acts on: every warned or refused key has a row at its place with the same
decision, every row names keys the parser treats that way, and each row says why in one line."""

from __future__ import annotations

import re
from pathlib import Path

from tui_orch.manifest.decisions import TABLES

README = Path(__file__).parent.parent / "README.md"
DECISION = {"warn": "warning", "reject": "error"}
# decisions.py's table name -> the README's "where" column
WHERE = {
    "top level": "top level", "services.NAME": "service", "services.NAME.healthcheck": "healthcheck",
    "services.NAME.deploy": "deploy", "deploy.resources": "deploy.resources",
    "deploy.resources.limits": "deploy.resources.limits", "deploy.resources.reservations": "deploy.resources.reservations",
    "deploy.restart_policy": "deploy.restart_policy", "deploy.update_config / rollback_config": "deploy.update_config",
    "deploy.placement": "deploy.placement", "services.NAME.build (long form)": "build (long form)",
    "ports (long form)": "ports (long form)", "env_file (long form)": "env_file (long form)",
    "ulimits.NAME (long form)": "ulimits", "devices (long form)": "devices", "gpus (long form)": "gpus",
    "logging": "logging", "blkio_config": "blkio_config", "depends_on (long form)": "depends_on (long form)",
    "secrets.NAME": "top-level secret / config", "configs.NAME": "top-level secret / config",
    "services.NAME.secrets / configs (long form)": "secrets / configs (long form)",
    "volumes (long form)": "volumes (long form)", "volumes.bind": "volumes.bind", "volumes.volume": "volumes.volume",
    "volumes.tmpfs": "volumes.tmpfs", "top-level volumes.KEY": "top-level volumes",
    "top-level networks.KEY": "top-level networks", "services.NAME.networks.KEY": "service networks (long form)",
}


def refused_rows() -> list[tuple[str, str, str, str]]:
    """(where, key column, decision, why) of each row of the README's ignored-or-refused table."""
    text = README.read_text()
    start = text.index("### Keys that are ignored or refused")
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")] if line.startswith("| ") else []
        if len(cells) == 4 and cells[0] != "where":
            rows.append((cells[0], cells[1], cells[2], cells[3]))
    return rows


def plain_keys(column: str) -> set[str]:
    """The keys a row names when its key column is only keys (`a`, `b`); none for value forms
    such as `mode: ingress` or "a Git or URL `context`"."""
    return set(re.findall(r"`([a-z0-9_]+)`", column)) if re.fullmatch(r"`[a-z0-9_]+`(, `[a-z0-9_]+`)*", column) else set()


def test_the_tables_know_every_place() -> None:
    assert set(TABLES) == set(WHERE)


def test_every_warned_or_refused_key_has_a_row_with_the_same_decision() -> None:
    rows = refused_rows()
    missing = []
    for table, decisions in TABLES.items():
        for key, decision in decisions.items():
            if decision.action == "supported":
                continue
            want = DECISION[decision.action]
            if not any(where == WHERE[table] and key in plain_keys(keys) and said.startswith(want)
                       for where, keys, said, _ in rows):
                missing.append(f"{WHERE[table]}: `{key}` ({want})")
    assert missing == []


def test_every_row_naming_keys_agrees_with_the_parser() -> None:
    by_where: dict[str, dict[str, str]] = {}
    for table, decisions in TABLES.items():
        for key, decision in decisions.items():
            by_where.setdefault(WHERE[table], {})[key] = decision.action
    wrong = []
    for where, keys, said, _ in refused_rows():
        for key in plain_keys(keys):
            action = by_where.get(where, {}).get(key)
            if action is not None and DECISION.get(action) != said.split(",")[0]:
                wrong.append(f"{where}: `{key}` is {said} in the README, {action} in decisions.py")
    assert wrong == []


def test_each_row_says_why_in_one_line() -> None:
    rows = refused_rows()
    assert len(rows) >= 25
    assert [r for r in rows if len(r[3].split()) < 2 or r[2].split(",")[0] not in ("warning", "error")] == []
