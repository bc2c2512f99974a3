"""Project networks on a node (issue 13), docker-py, blocking calls.

A service's networks are bridge networks made on each node that runs one of its replicas
(or the mesh proxy that gives it its name there), labelled with the state folder that made
them. An external network must exist already: the message says how to make it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any

import docker.errors

from tui_orch.errors import NodeError
from tui_orch.model import NetworkRef

LABEL_NETWORK_OWNER = "tui-orch.owner"
LABEL_NETWORK_KEY = "tui-orch.network"
AMBIGUOUS_TRIES = 3  # starts of a container refused for a network name that matches two (dedupe)
SETTLE_TRIES, SETTLE_PAUSE = 5, 0.1  # looks again at a network name just made (_settled)

_HELD: dict[str, threading.Lock] = {}
_HELD_GUARD = threading.Lock()


def networks_held(node: str) -> threading.Lock:
    """The lock of this process on ``node``'s networks: held while a container's networks are
    made and it is created on them, and while unused networks are removed, so that a network is
    never removed between being found and being joined (its container, even not started yet,
    then keeps it: prune_networks)."""
    with _HELD_GUARD:
        return _HELD.setdefault(node, threading.Lock())


def find_network(api: Any, name: str) -> dict[str, Any] | None:
    """The network named exactly ``name`` (the engine's filter matches parts of names). When
    two were made at once (two processes starting replicas on this node: the engine's
    duplicate check is not atomic), the oldest, as every process picks it (_oldest)."""
    return _oldest([found for found in api.networks(names=[name]) if found.get("Name") == name])


def _oldest(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first made of networks of one name (by the engine's creation time, then id): a
    process that sees only its own network made it before any other still to come."""
    return min(found, key=lambda n: (str(n.get("Created") or ""), str(n.get("Id") or "")), default=None)


def ensure_network(api: Any, node: str, ref: NetworkRef, owner: str) -> str:
    """The id of network ``ref.name`` on this engine, made when missing (an external one is
    never made: NodeError saying how to make it). Containers join it by this id."""
    found = find_network(api, ref.name)
    if found is not None:
        return dedupe(api, ref.name) or str(found["Id"])
    if ref.external:
        raise NodeError(node, f"network {ref.name} is external (made by you) and is not on this node; "
                              f"make it there (docker network create {ref.name}) or remove external: true")
    labels = {**dict(ref.labels), LABEL_NETWORK_KEY: ref.key}
    if owner:
        labels[LABEL_NETWORK_OWNER] = owner
    try:
        # check_duplicate: the engine refuses a second network of this name, as far as it can
        # tell (two made at the same moment by two processes both get made: dedupe)
        created = api.create_network(ref.name, driver="bridge", internal=ref.internal, labels=labels,
                                     attachable=True, check_duplicate=True)
    except docker.errors.APIError as exc:
        found = find_network(api, ref.name)  # made meanwhile by a replica starting beside this one
        if found is not None:
            return dedupe(api, ref.name) or str(found["Id"])
        raise NodeError(node, made_failed(node, ref.name, exc)) from None
    return _settled(api, ref.name, dedupe(api, ref.name) or str(created["Id"]))


def _settled(api: Any, name: str, chosen: str) -> str:
    """The network of ``name`` everyone ends on, for a process that just made one. Another
    process making one at the same moment may have stamped its network earlier yet shown it
    later (its creation in flight when this one listed): look again, briefly, until the same
    one is chosen twice (the CI failure of test_two_processes_making_one_network_at_once...:
    one process kept a network that another then removed as the newer)."""
    for _ in range(SETTLE_TRIES):
        time.sleep(SETTLE_PAUSE)
        again = dedupe(api, name)
        if again is None or again == chosen:
            return chosen if again is None else again
        chosen = again
    return chosen


def dedupe(api: Any, name: str) -> str | None:
    """Leave one network named ``name``: the oldest, which every process picks (_oldest), and
    remove the others that no container is on (a container started while two have the name is
    refused by the engine: "network ... is ambiguous", even when it was created by id). Made at
    the same moment by another process, one is ours or theirs: nobody joins a newer one. The
    oldest's id (None when there is none)."""
    found = [n for n in api.networks(names=[name]) if n.get("Name") == name]
    oldest = _oldest(found)
    for other in found:
        if other is not oldest:
            with contextlib.suppress(docker.errors.APIError):  # gone meanwhile, or a container is on it
                api.remove_network(other["Id"])
    return None if oldest is None else str(oldest["Id"])


def ambiguous(exc: BaseException) -> bool:
    """The engine refused a container because a network name matches two networks."""
    return isinstance(exc, docker.errors.APIError) and "is ambiguous" in str(exc.explanation or exc)


def twice_message(node: str, names: Sequence[str]) -> str:
    """What to do when a network name still matches two networks after dedupe (a container is
    on each)."""
    listed = ", ".join(names)
    return (f"network {listed} exists twice on {node} and a container is on each; remove the one you do not "
            f"need there (docker network ls --filter name={names[0]}, docker network rm ID)")


def made_failed(node: str, name: str, exc: docker.errors.APIError) -> str:
    """Why network ``name`` could not be made: with what to do when the engine has no free
    address pool left (it hands each bridge network a subnet of its default pools)."""
    text = exc.explanation or str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if "address pool" in str(text):
        return (f"{node} has no free address pool for network {name}: remove networks nothing uses there "
                f"(docker network prune) or give the engine more default-address-pools (daemon.json)")
    return f"cannot make network {name}: {text}"


def prune_networks(api: Any, node: str, owner: str, keep: frozenset[str]) -> tuple[list[str], list[str]]:
    """Remove the networks ``owner`` made on this engine (as ``docker compose down`` does)
    that are not in ``keep`` and have no container attached, running or not (a container
    created on a network but not started yet has no endpoint: the engine would let its
    network go). Never an external network (never labelled) nor another owner's.
    Returns (removed, left): left are the owner's networks still here, those of ``keep`` and
    those a container is attached to (or joined meanwhile: the engine refuses); one gone
    meanwhile is neither. Holds networks_held(node): no start here makes or joins one meanwhile."""
    removed: list[str] = []
    left: list[str] = []
    if not owner:
        return removed, left
    with networks_held(node):
        for found in api.networks(filters={"label": f"{LABEL_NETWORK_OWNER}={owner}"}):
            name = str(found.get("Name") or "")
            labels = found.get("Labels") or {}
            if not name or labels.get(LABEL_NETWORK_OWNER) != owner or LABEL_NETWORK_KEY not in labels:
                continue
            gone = False if name in keep else _remove_unused(api, found["Id"], name)
            if gone is not None:
                (removed if gone else left).append(name)
    return removed, left


def _remove_unused(api: Any, net_id: str, name: str) -> bool | None:
    """Remove the network unless a container is attached: True when removed, False when
    a container is attached (or joined it meanwhile: the engine refuses), None when it was
    gone already."""
    try:
        attached = api.inspect_network(net_id).get("Containers") or {}
        if attached or api.containers(all=True, filters={"network": name}):
            return False
        api.remove_network(net_id)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as exc:
        if exc.status_code in (403, 409) or "active endpoints" in str(exc.explanation or exc):
            return False
        raise
    return True


def first_network(api: Any, net_id: str | None) -> dict[str, Any] | None:
    """The networking config that attaches a new container to network ``net_id`` (its first;
    by id: ensure_network)."""
    if not net_id:
        return None
    return api.create_networking_config({net_id: api.create_endpoint_config()})


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


__all__ = ["AMBIGUOUS_TRIES", "ambiguous", "by_name_ports", "dedupe", "ensure_network", "find_network", "first_network", "made_failed", "networks_held",
           "prune_networks", "twice_message"]
