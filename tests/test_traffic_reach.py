"""What the console shows of a service's traffic (controller/reach.py): the ingress ports as a
client names them, and how many replicas are in rotation, old copies of a start-first rollout
still serving included."""

from __future__ import annotations

import json

from tui_orch.controller.reach import ingress_ports, rotation_counts
from tui_orch.manifest import parse_manifest
from tui_orch.model import Replica, Rollout, to_dict

PORTS = """
services:
  web:
    image: tuiorch/web:1
    ports: ["8080:80", "127.0.0.1:8443:443", "9000", {target: 81, published: 8181, mode: host}]
"""


def test_ingress_ports_are_the_published_ingress_ones_bound_address_first() -> None:
    spec = parse_manifest(PORTS, "web.yaml").services[0]
    assert ingress_ports(spec) == ("8080", "127.0.0.1:8443")


def rep(slot: int, cid: str) -> Replica:
    return Replica("web", slot, 2, "n1", container_id=cid * 64)


def test_rotation_counts_the_replicas_and_the_old_copies_still_serving() -> None:
    reps = [rep(1, "a"), rep(2, "b"), rep(3, "c")]
    old = Replica("web", 3, 1, "n2", container_id="d" * 64)
    ro = Rollout("web", 1, 2, order="start-first", retiring=(("web.3", json.dumps(to_dict(old))),))
    rotation = {"a" * 12: "in", "b" * 12: "draining", "d" * 12: "in"}  # c: not healthy yet
    assert rotation_counts(reps, None, rotation) == (1, 1)
    assert rotation_counts(reps, ro, rotation) == (2, 1)
