"""The mesh proxies of one state folder on one node (issue 13), docker-py, blocking calls.

A service is reached by name from the other services on its networks through one mesh proxy
per node and service: an HAProxy container attached to each of the service's networks with
the service's name and aliases as its network aliases, listening on the ports the service is
reached on, and sending each connection to a replica in rotation (the same HAProxy
configuration and Runtime API as the edge proxy: controller/mesh.py decides it). A replica
on the same node is reached at its address on a shared network; one on another node at the
free host port its engine published the port on, at that node's address. So no overlay
network and nothing but containers on the nodes: the engine's own DNS answers the name.

Its folder on the node (a tmpfs, as the edge proxy's) holds haproxy.cfg and the admin socket.
Labels: ``tui-orch.mesh=<owner>``, the service, and a digest of its networks and aliases (a
change of those makes a new container: a running one cannot change its aliases).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from typing import Any

import docker.errors

from tui_orch.errors import NodeError
from tui_orch.model import NetworkRef
from tui_orch.nodes.edge import CONFIG, EDGE_MOUNT, RELOAD_SIGNAL
from tui_orch.nodes.networks import AMBIGUOUS_TRIES, ambiguous, dedupe, ensure_network, networks_held, twice_message
from tui_orch.nodes.nodefiles import ROOT

LABEL_MESH = "tui-orch.mesh"
LABEL_MESH_SERVICE = "tui-orch.mesh-service"
LABEL_MESH_ATTACH = "tui-orch.mesh-attach"


def mesh_folder(owner: str, node: str, service: str) -> str:
    """Beside the edge proxy's folder (``<owner>/_edge/<node>``)."""
    return posixpath.join(ROOT, owner, "_mesh", node, service)


def mesh_name(owner: str, service: str) -> str:
    return f"tui-orch-mesh-{owner}-{service}"


def attach_digest(networks: tuple[NetworkRef, ...], service: str) -> str:
    data = [[n.name, sorted({service, *n.aliases}), n.internal] for n in networks]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class MeshInfo:
    id: str
    service: str
    image: str
    running: bool
    attach: str  # attach_digest of the networks it was made with


def find_meshes(client: Any, owner: str) -> dict[str, MeshInfo]:
    """The mesh proxies of ``owner`` on this engine, by service."""
    out: dict[str, MeshInfo] = {}
    for c in client.api.containers(all=True, filters={"label": f"{LABEL_MESH}={owner}"}):
        labels = c.get("Labels") or {}
        service = labels.get(LABEL_MESH_SERVICE, "")
        out[service] = MeshInfo(c["Id"], service, str(c.get("Image") or ""), c.get("State") == "running",
                                labels.get(LABEL_MESH_ATTACH, ""))
    return out


def run_mesh(client: Any, owner: str, node: str, service: str, image: str,
             networks: tuple[NetworkRef, ...]) -> MeshInfo:
    """Create and start the mesh proxy of ``service`` (its haproxy.cfg is in its folder already),
    on each of ``networks`` (made when missing) with the service's name and aliases."""
    for attempt in range(AMBIGUOUS_TRIES):
        try:
            return _run_mesh(client, owner, node, service, image, networks)
        except docker.errors.APIError as exc:
            if not ambiguous(exc):
                raise
            with networks_held(node):  # one of its networks made twice at this moment (networks.py)
                for ref in networks:
                    dedupe(client.api, ref.name)
            if attempt + 1 == AMBIGUOUS_TRIES:
                raise NodeError(node, twice_message(node, [ref.name for ref in networks])) from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _run_mesh(client: Any, owner: str, node: str, service: str, image: str,
              networks: tuple[NetworkRef, ...]) -> MeshInfo:
    with networks_held(node):  # its networks made and it on them, while no prune of them runs
        api = client.api
        net_ids = [ensure_network(api, node, ref, owner) for ref in networks]  # joined by id
        digest = attach_digest(networks, service)
        first = networks[0]
        host_config = api.create_host_config(
            network_mode=net_ids[0],
            binds=[f"{mesh_folder(owner, node, service)}:{EDGE_MOUNT}:rw"],
            restart_policy={"Name": "unless-stopped"},
        )
        networking = api.create_networking_config({net_ids[0]: api.create_endpoint_config(
            aliases=[service, *first.aliases])})
        created = api.create_container(
            image=image, name=mesh_name(owner, service), user="0:0",
            entrypoint=["haproxy"], command=["-W", "-db", "-f", posixpath.join(EDGE_MOUNT, CONFIG)],
            labels={LABEL_MESH: owner, LABEL_MESH_SERVICE: service, LABEL_MESH_ATTACH: digest},
            host_config=host_config, networking_config=networking, stop_signal="SIGUSR1",
        )
        cid = created["Id"]
        try:
            for ref, net_id in zip(networks[1:], net_ids[1:]):
                api.connect_container_to_network(cid, net_id, aliases=[service, *ref.aliases])
            api.start(cid)
        except Exception:
            api.remove_container(cid, force=True)
            raise
        return MeshInfo(cid, service, image, True, digest)


def reload_mesh(client: Any, container_id: str) -> None:
    client.api.kill(container_id, signal=RELOAD_SIGNAL)


def start_mesh(client: Any, container_id: str) -> None:
    client.api.start(container_id)


def remove_mesh(client: Any, container_id: str) -> None:
    client.api.remove_container(container_id, force=True)


@dataclass(frozen=True)
class Reach:
    """Where one replica container is reached: its published tcp ports (target -> host port)
    and its address on each network (network name -> IP)."""

    ports: tuple[tuple[int, int], ...]
    addresses: tuple[tuple[str, str], ...]


def replica_reach(client: Any, owner: str) -> dict[str, Reach]:
    """Container id -> Reach, for the running replicas of ``owner`` on this engine (one call)."""
    out: dict[str, Reach] = {}
    filters = {"label": [f"tui-orch.owner={owner}", "tui-orch.service"], "status": "running"}
    for c in client.api.containers(filters=filters):
        ports = {}
        for p in c.get("Ports") or []:
            if p.get("Type") == "tcp" and p.get("PublicPort") and p.get("PrivatePort"):
                ports.setdefault(int(p["PrivatePort"]), int(p["PublicPort"]))
        nets = ((c.get("NetworkSettings") or {}).get("Networks") or {})
        addresses = tuple(sorted((name, str(v.get("IPAddress"))) for name, v in nets.items() if v.get("IPAddress")))
        out[c["Id"]] = Reach(tuple(sorted(ports.items())), addresses)
    return out


__all__ = ["MeshInfo", "Reach", "find_meshes", "mesh_folder", "mesh_name", "remove_mesh", "replica_reach",
           "reload_mesh", "run_mesh", "start_mesh"]
