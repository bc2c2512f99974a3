"""A database-like service with a named volume, and its data on simulated nodes."""

from __future__ import annotations

DB = """
name: shop
services:
  db:
    image: tuiorch/busybox:1
    volumes: ["data:/var/lib/db"]
    deploy: {{replicas: {n}}}
volumes:
  data: {{}}
"""
FILES = {"table.db": b"rows\n" * 1000, "wal/0001": b"x"}


def give_data(ctl, key: str) -> tuple[str, str]:
    """The replica's volume on its simulated node, with FILES in it; (node, volume name)."""
    rep = ctl.query().replica(key)
    node = ctl.ctx.fleet.nodes[rep.node]
    node.volumes.create("shop_data", files=FILES)
    for n in ctl.ctx.fleet.nodes.values():  # simulated containers do not mount: say who uses what
        n.volumes.users = lambda volume, n=n: [c.name for c in n.containers.values()
                                               if c.name.startswith("tuiorch-db-") and volume in n.volumes.volumes]
    return rep.node, "shop_data"
