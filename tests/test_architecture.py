"""The layering of DESIGN.md, enforced: the pure core does no I/O; only store.py uses TinyDB;
the console reaches hosts, the store and placement only through the controller and the fleet;
nodes/ does host work only (no CLI verbs, no config loading, nothing above it); the console and
the CLI read through controller/query.py; controller helpers never import controller.core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert f"Contracts: {contracts} kept, 0 broken" in result.stdout


def test_only_store_imports_tinydb() -> None:
    offenders = []
    for path in (ROOT / "tui_orch").rglob("*.py"):
        if path.name == "store.py" or "store" in path.relative_to(ROOT / "tui_orch").parts[:1]:
            continue
        text = path.read_text()
        if "import tinydb" in text or "from tinydb" in text:
            offenders.append(str(path))
    assert offenders == []


def test_the_console_and_the_cli_read_through_the_query_module() -> None:
    """The console and the CLI never reach through the controller into its store, fleet or
    context (the store and the fleet are private to the controller): what they show comes
    from tui_orch.controller.query; the console holds neither a store nor a fleet itself."""
    import ast

    offenders = []
    sources = [*(ROOT / "tui_orch" / "ui").rglob("*.py"), *(ROOT / "tui_orch").glob("cli*.py")]
    for path in sources:
        in_ui = "ui" in path.relative_to(ROOT / "tui_orch").parts[:1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("store", "fleet", "_store", "_fleet", "ctx", "_ctx"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            elif in_ui and isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    ("tui_orch.store", "tui_orch.nodes.fleet")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}")
    assert offenders == []


def test_the_controller_keeps_its_store_and_fleet_private() -> None:
    import ast

    core = ast.parse((ROOT / "tui_orch" / "controller" / "core.py").read_text())
    public = [f"line {node.lineno}: self.{node.attr}" for node in ast.walk(core)
              if isinstance(node, ast.Attribute) and node.attr in ("store", "fleet")
              and isinstance(node.value, ast.Name) and node.value.id == "self"]
    assert public == []
