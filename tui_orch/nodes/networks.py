"""Project networks on a node (issue 13), docker-py, blocking calls.

A service's networks are bridge networks made on each node that runs one of its replicas
(or the mesh proxy that gives it its name there), labelled with the state folder that made
them. An external network must exist already: the message says how to make it.
"""

from __future__ import annotations

from typing import Any

import docker.errors

from tui_orch.errors import NodeError
from tui_orch.model import NetworkRef

LABEL_NETWORK_OWNER = "tui-orch.owner"
LABEL_NETWORK_KEY = "tui-orch.network"


def find_network(api: Any, name: str) -> dict[str, Any] | None:
    """The network named exactly ``name`` (the engine's filter matches parts of names)."""
    for found in api.networks(names=[name]):
        if found.get("Name") == name:
            return found
    return None


def ensure_network(api: Any, node: str, ref: NetworkRef, owner: str) -> str:
    """The id of network ``ref.name`` on this engine, made when missing (an external one is
    never made: NodeError saying how to make it)."""
    found = find_network(api, ref.name)
    if found is not None:
        return str(found["Id"])
    if ref.external:
        raise NodeError(node, f"network {ref.name} is external (made by you) and is not on this node; "
                              f"make it there (docker network create {ref.name}) or remove external: true")
    labels = {**dict(ref.labels), LABEL_NETWORK_KEY: ref.key}
    if owner:
        labels[LABEL_NETWORK_OWNER] = owner
    try:
        created = api.create_network(ref.name, driver="bridge", internal=ref.internal, labels=labels,
                                     attachable=True)
        return str(created["Id"])
    except docker.errors.APIError as exc:
        found = find_network(api, ref.name)  # made meanwhile by a replica starting beside this one
        if found is not None:
            return str(found["Id"])
        raise NodeError(node, f"cannot make network {ref.name}: {exc.explanation or exc}") from None


def first_network(api: Any, req: Any) -> dict[str, Any] | None:
    """The networking config that attaches a new container to the first of its networks."""
    if not req.networks:
        return None
    return api.create_networking_config({req.networks[0].name: api.create_endpoint_config()})


def by_name_ports(api: Any, req: Any) -> list[int]:
    """The tcp ports a replica is reached on by name: ``expose``, its ports' targets and its
    image's EXPOSE (the image is on the node by now)."""
    ports = set(req.expose) | {target for _host, target, protocol, _ip in req.ports if protocol == "tcp"}
    try:
        config = (api.inspect_image(req.image).get("Config") or {})
    except docker.errors.ImageNotFound:
        config = {}
    for key in (config.get("ExposedPorts") or {}):
        number, _, protocol = str(key).partition("/")
        if (protocol or "tcp") == "tcp" and number.isdigit() and 1 <= int(number) <= 65535:
            ports.add(int(number))
    return sorted(ports)


__all__ = ["by_name_ports", "ensure_network", "find_network", "first_network"]
