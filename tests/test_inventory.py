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


# ----------------------------------------------------------------- reading defences (issue 11)


def test_deep_nesting_is_one_problem_not_a_recursion_error() -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory("nodes: " + "[" * 600 + "]" * 600 + "\n", "deep.yaml")
    assert str(err.value) == "deep.yaml:1:47: invalid YAML: nested more than 40 levels deep"


def test_alias_bomb_duplicate_keys_and_tags_read_as_in_a_manifest() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcde", "bcdef")
    ) + "nodes:\n  - name: n1\n"
    with pytest.raises(InventoryError) as err:
        parse_inventory(bomb, "bomb.yaml")
    assert str(err.value) == "bomb.yaml:1:1: the document expands to more than 200000 values through aliases; write it out"
    with pytest.raises(InventoryError) as err:
        parse_inventory("nodes:\n  - name: n1\n    user: a\n    user: b\n", "dup.yaml")
    assert str(err.value) == "dup.yaml:4:5: nodes[0].user: duplicate key (first set on line 3)"
    with pytest.raises(InventoryError) as err:
        parse_inventory("nodes:\n  - name: !!python/name:os.system n1\n", "tag.yaml")
    assert "unsupported YAML tag" in str(err.value)


def test_a_large_inventory_without_aliases_is_read() -> None:
    """30,000 hosts (210,000 values, no alias): read, not refused as an alias bomb."""
    text = "nodes:\n" + "".join(f"  - {{name: h{i}, labels: {{zone: z{i % 3}}}}}\n" for i in range(30_000))
    inv = parse_inventory(text, "big.yaml")
    assert len(inv.nodes) == 30_000 and inv.nodes[-1].name == "h29999"


def test_merge_keys_work_in_a_nodes_file() -> None:
    text = "x-common: &c {user: deploy, port: 2200}\nnodes:\n  - {<<: *c, name: n1}\n"
    with pytest.raises(InventoryError, match="x-common: unknown key"):
        parse_inventory(text, "m.yaml")
    inv = parse_inventory("defaults: &c {user: deploy, port: 2200}\nnodes:\n  - {<<: *c, name: n1}\n", "m.yaml")
    assert inv.nodes[0].user == "deploy" and inv.nodes[0].port == 2200


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "folder", "large"])
def test_only_regular_files_of_at_most_4_mib_are_read(tmp_path: Path, special: str) -> None:
    import os

    path = tmp_path / "nodes.yaml"
    if special == "fifo":
        os.mkfifo(path)
    elif special == "folder":
        path.mkdir()
    elif special == "large":
        path.write_text("nodes:\n" + "  - name: n1\n" * 500_000)
    else:
        path = Path(special)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    expected = {
        "fifo": "is a named pipe (FIFO), not a regular file; give the path of a file",
        "/dev/zero": "is a device, not a regular file; give the path of a file",
        "folder": "is a folder, not a nodes file",
        "large": "larger than 4 MiB; is it really a nodes file?",
    }[special]
    assert str(err.value) == f"{path}: {expected}"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("user", "root;reboot", "expected a user name of letters, digits, '.', '_' or '-', got 'root;reboot'"),
    ("user", "-oProxyCommand=x", "expected a user name of letters, digits, '.', '_' or '-', got '-oProxyCommand=x'"),
    ("address", "h$(id)", "expected a host name or IP address, got 'h$(id)'"),
    ("address", "-oProxyCommand=sh", "expected a host name or IP address, got '-oProxyCommand=sh'"),
    ("host", "a b", "expected a host name or IP address, got 'a b'"),
    ("proxy_jump", "ops@bastion,`id`:22",
     "jump '`id`:22' (the 2nd in proxy_jump) is not [user@]host[:port]: bad host name '`id`'"),
    ("proxy_jump", "ops;x@bastion", "jump 'ops;x@bastion' (the 1st in proxy_jump) is not [user@]host[:port]: "
                                    "bad user name 'ops;x'"),
    ("proxy_jump", "bastion:99999", "jump 'bastion:99999' (the 1st in proxy_jump) is not [user@]host[:port]: "
                                    "bad port '99999'"),
])
def test_ssh_values_with_shell_characters_are_refused(key: str, value: str, message: str) -> None:
    text = f"nodes:\n  - name: n1\n    {key}: {value!r}\n"
    with pytest.raises(InventoryError) as err:
        parse_inventory(text, "n.yaml")
    assert str(err.value) == f"n.yaml:3:{7 + len(key)}: nodes[0].{key}: {message}"


@pytest.mark.parametrize(("key", "value"), [
    ("user", "deploy"), ("user", "svc_app-1.x"), ("address", "10.0.0.1"), ("address", "web-1.example.org"),
    ("address", "::1"), ("address", "fe80::1%eth0"), ("host", "my_alias"),
    ("proxy_jump", "bastion"), ("proxy_jump", "ops@bastion:2222,deploy@10.0.0.9"), ("proxy_jump", "[::1]:22"),
    ("proxy_jump", "none"), ("proxy_jump", "ssh://ops@bastion:22"),
])
def test_ordinary_ssh_values_are_accepted(key: str, value: str) -> None:
    node = parse_inventory(f"nodes:\n  - name: n1\n    {key}: {value!r}\n", "n.yaml").nodes[0]
    assert getattr(node, "address" if key == "host" else key) == value


def test_build_on_names_a_node_of_the_file() -> None:
    assert parse_inventory("nodes:\n  - name: a\n", "n.yaml").build_on is None
    assert parse_inventory("build_on: b\nnodes:\n  - name: a\n  - name: b\n", "n.yaml").build_on == "b"
    with pytest.raises(InventoryError) as info:
        parse_inventory("build_on: c\nnodes:\n  - name: a\n  - name: b\n", "n.yaml")
    assert str(info.value) == "n.yaml:1:11: build_on: no node named 'c' in this file; name one of: a, b"


def test_advertise_and_edge_image() -> None:
    inv = parse_inventory("edge_image: registry.example.org/haproxy:2.8\nnodes:\n"
                          "  - {name: a, address: a.example.org, advertise: 10.0.0.11}\n  - {name: b}\n")
    assert inv.edge_image == "registry.example.org/haproxy:2.8"
    assert [n.advertise for n in inv.nodes] == ["10.0.0.11", None]
    assert parse_inventory("nodes: [{name: a}]\n").edge_image == "haproxy:2.6"


@pytest.mark.parametrize("text,message", [
    ("nodes: [{name: a, advertise: 'x; rm -rf /'}]\n", "advertise: expected a host name or IP address"),
    ("edge_image: 'Bad Image'\nnodes: [{name: a}]\n", "edge_image: expected an image reference"),
    ("defaults: {advertise: 10.0.0.1}\nnodes: [{name: a}]\n", "defaults.advertise: unknown key"),
])
def test_bad_advertise_or_edge_image_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory(text)
    assert message in str(err.value)
