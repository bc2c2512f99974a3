"""Every example in examples/ is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_orch.inventory import load_inventory
from tui_orch.manifest import load_manifest

EXAMPLES = Path(__file__).parent.parent / "examples"
INVENTORIES = {"nodes.yaml", "lab-inventory.yaml"}


@pytest.mark.parametrize("path", sorted(p for p in EXAMPLES.glob("*.yaml") if p.name not in INVENTORIES), ids=lambda p: p.name)
def test_manifest_example_validates(path: Path) -> None:
    manifest = load_manifest(path)
    assert manifest.services
    assert not manifest.warnings, [str(w) for w in manifest.warnings]


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_inventory_example_loads(name: str) -> None:
    inv = load_inventory(EXAMPLES / name)
    assert inv.nodes


def test_lab_inventory_matches_the_lab() -> None:
    inv = load_inventory(EXAMPLES / "lab-inventory.yaml")
    assert [(n.name, n.address, n.port) for n in inv.nodes] == [
        ("node1", "127.0.0.2", 2222), ("node2", "127.0.0.3", 2222), ("node3", "127.0.0.4", 2222)]
    assert all(n.known_hosts for n in inv.nodes)
    assert [n.advertise for n in inv.nodes] == ["10.77.0.2", "10.77.0.3", "10.77.0.4"]
