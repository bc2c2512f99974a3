"""The nodes file: format, defaults, errors with file:line:column, ~/.ssh/config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_orch.errors import InventoryError
from tui_orch.inventory import default_inventory, load_inventory, parse_inventory
from tui_orch.model import NodeSpec, Resources

GOOD = """\
known_hosts: ./known_hosts
defaults:
  user: deploy
  labels: {zone: a}
nodes:
  - name: n1
    address: 10.0.0.1
    port: 2222
    identity_file: keys/id
    docker_socket: /run/docker.sock
    labels: {disk: ssd}
    capacity: {cpus: 4, memory: 8g}
    reserved: {cpus: 0.5, memory: 512m}
  - name: n2
    user: root
    labels: {zone: b}
  - name: here
    local: true
"""


def test_full_nodes_file(tmp_path: Path) -> None:
    f = tmp_path / "nodes.yaml"
    f.write_text(GOOD)
    inv = load_inventory(f)
    assert inv.names == ("n1", "n2", "here")
    n1, n2, here = inv.nodes
    assert n1.address == "10.0.0.1" and n1.port == 2222 and n1.user == "deploy"
    assert n1.identity_file == str(tmp_path / "keys/id")
    assert n1.known_hosts == str(tmp_path / "known_hosts")
    assert n1.docker_socket == "/run/docker.sock"
    assert dict(n1.labels) == {"zone": "a", "disk": "ssd"}
    assert n1.capacity == Resources(4.0, 8 * 1024**3)
    assert n1.reserved == Resources(0.5, 512 * 1024**2)
    # address defaults to the name; node values beat defaults, labels merge
    assert n2.address == "n2" and n2.user == "root" and dict(n2.labels) == {"zone": "b"}
    assert here.local
    assert inv.get("n2") is n2


def test_no_inventory_means_this_machine() -> None:
    inv = default_inventory()
    assert inv.names == ("local",)
    assert inv.nodes[0].local
    assert inv.file is None


def test_unknown_node_name_is_clear() -> None:
    with pytest.raises(InventoryError, match=r"no node named 'x' .*nodes: local"):
        default_inventory().get("x")


def test_every_error_reported_with_position() -> None:
    text = "nodes:\n  - name: a\n    port: ssh\n  - name: a\n  - address: x\n    colour: red\n"
    with pytest.raises(InventoryError) as err:
        parse_inventory(text, "nodes.yaml")
    lines = str(err.value).splitlines()
    assert "nodes.yaml:3:11: nodes[0].port: expected a port number 1-65535, got 'ssh'" in lines
    assert any(line.startswith("nodes.yaml:4:") and "duplicate node name 'a'" in line for line in lines)
    assert any(line.startswith("nodes.yaml:6:5: nodes[2].colour: unknown key") for line in lines)
    assert any("nodes[2]: missing name:" in line for line in lines)


def test_bad_capacity_unit() -> None:
    with pytest.raises(InventoryError, match=r"x.yaml:3:24: nodes\[0\].capacity.memory: "):
        parse_inventory("nodes:\n  - name: a\n    capacity: {memory: 12q}\n", "x.yaml")


@pytest.mark.parametrize("text", ["", "nodes: 3\n", "[1, 2]\n", "nodes: []\n", "nodes:\n  - name: [x]\n", "a: [\n"])
def test_broken_files_give_one_clear_error(text: str) -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory(text, "bad.yaml")
    assert str(err.value).startswith("bad.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such nodes file"):
        load_inventory(tmp_path / "nope.yaml")


def test_examples_inventories_load() -> None:
    root = Path(__file__).parent.parent / "examples"
    inv = load_inventory(root / "nodes.yaml")
    assert "app-1" in inv.names and any(n.local for n in inv.nodes)


def test_node_grace() -> None:
    assert parse_inventory("nodes:\n  - name: a\n", "n.yaml").node_grace == 10.0
    assert parse_inventory("node_grace: 30s\nnodes:\n  - name: a\n", "n.yaml").node_grace == 30.0
    assert parse_inventory("node_grace: 1m30s\nnodes:\n  - name: a\n", "n.yaml").node_grace == 90.0
    with pytest.raises(InventoryError, match=r"n.yaml:1:13: node_grace: "):
        parse_inventory("node_grace: soon\nnodes:\n  - name: a\n", "n.yaml")


def test_controller_takes_node_grace_from_the_inventory(tmp_path: Path) -> None:
    from tui_orch.controller import Controller
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.store import open_store

    inv = parse_inventory("node_grace: 25s\nnodes:\n  - name: a\n", "n.yaml")
    with open_store(tmp_path / "state") as store:
        assert Controller(store, Fleet(inv)).grace == 25.0
        assert Controller(store, Fleet(inv), grace=2).grace == 2
