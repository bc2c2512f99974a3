"""What the lab writes for each node before it starts (tests/lab/labparts/setup.py), no lab needed."""

from __future__ import annotations

import ipaddress
import json

from labparts.layout import LAB_SUBNET, layout
from labparts.setup import _write_node_configs


def test_each_engine_has_room_for_256_networks_clear_of_the_lab_bridge(tmp_path):
    lab = layout(3, tmp_path / "lab")
    for node in lab.nodes:
        node.containerd_socket.parent.mkdir(parents=True)
        _write_node_configs(lab, node)
        config = json.loads((node.dir / "daemon.json").read_text())
        assert config["deprecated-key-path"] == str(node.dir / "key.json")  # an engine ID of its own
        (pool,) = config["default-address-pools"]
        base = ipaddress.ip_network(pool["base"])
        assert 2 ** (pool["size"] - base.prefixlen) == 256  # networks of /24 in a /16
        assert not base.overlaps(ipaddress.ip_network(f"{LAB_SUBNET}.0/24"))
