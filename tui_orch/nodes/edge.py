"""The edge proxy container of one state folder on one node (docker-py, blocking calls).

One HAProxy per node and owner, host networking: it listens on the published (ingress) ports
of every service and sends each connection to a replica in rotation (controller/traffic.py
decides which). Its folder on the node (a tmpfs, as delivered files: nodes/nodefiles.py)
holds haproxy.cfg and the Runtime API's socket; the container sees it at ``EDGE_MOUNT``.
It is labelled ``tui-orch.edge=<owner>`` and carries no service label: the controller's
sweeps of replicas never see it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from tui_orch.nodes.nodefiles import ROOT

LABEL_EDGE = "tui-orch.edge"
EDGE_MOUNT = "/run/tui-orch-edge"  # the folder, as the proxy sees it
CONFIG = "haproxy.cfg"
ADMIN = "admin.sock"
RELOAD_SIGNAL = "SIGUSR2"  # master-worker: a new worker takes the listeners, the old one finishes


def edge_folder(owner: str, node: str) -> str:
    """The folder of the edge proxy of ``owner`` on ``node``: beside the delivered files' folders
    (``<owner>/<node>``), under a name no node can have (a node's name starts with a letter or
    digit). The node's name is in the path as for delivered files: engines that share one
    machine's /dev/shm (the test lab, a second engine) must not share one proxy's files."""
    return posixpath.join(ROOT, owner, "_edge", node)


def edge_name(owner: str) -> str:
    return f"tui-orch-edge-{owner}"


@dataclass(frozen=True)
class EdgeInfo:
    id: str
    image: str
    running: bool


def find_edge(client: Any, owner: str) -> EdgeInfo | None:
    for c in client.api.containers(all=True, filters={"label": f"{LABEL_EDGE}={owner}"}):
        return EdgeInfo(c["Id"], str(c.get("Image") or ""), c.get("State") == "running")
    return None


def run_edge(client: Any, owner: str, node: str, image: str) -> EdgeInfo:
    """Create and start the edge proxy (its haproxy.cfg is in the folder already)."""
    api = client.api
    host_config = api.create_host_config(
        network_mode="host",
        binds=[f"{edge_folder(owner, node)}:{EDGE_MOUNT}:rw"],
        restart_policy={"Name": "unless-stopped"},
    )
    created = api.create_container(
        image=image, name=edge_name(owner), user="0:0",
        entrypoint=["haproxy"], command=["-W", "-db", "-f", posixpath.join(EDGE_MOUNT, CONFIG)],
        labels={LABEL_EDGE: owner}, host_config=host_config, stop_signal="SIGUSR1",
    )
    api.start(created["Id"])
    return EdgeInfo(created["Id"], image, True)


def reload_edge(client: Any, container_id: str) -> None:
    client.api.kill(container_id, signal=RELOAD_SIGNAL)


def start_edge(client: Any, container_id: str) -> None:
    client.api.start(container_id)


def remove_edge(client: Any, container_id: str) -> None:
    client.api.remove_container(container_id, force=True)
