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
    """The replica's volume on its simulated node (made when it started), with FILES in it;
    (node, volume name)."""
    rep = ctl.query().replica(key)
    ctl.ctx.fleet.nodes[rep.node].volumes.volumes["shop_data"].files.update(FILES)
    return rep.node, "shop_data"
