"""The layering of DESIGN.md, enforced: the pure core does no I/O; only store.py uses TinyDB;
the console reaches hosts, the store and placement only through the controller and the fleet;
nodes/ does host work only (no CLI verbs, no config loading, nothing above it)."""

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


def test_the_console_reads_through_the_query_module() -> None:
    """The console never reaches through the controller into its store or fleet (nor holds
    either itself): what it shows comes from tui_orch.controller.query."""
    import ast

    offenders = []
    for path in (ROOT / "tui_orch" / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("store", "fleet", "_store", "_fleet"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("tui_orch.store",
                                                                                       "tui_orch.nodes.fleet")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}")
    assert offenders == []
