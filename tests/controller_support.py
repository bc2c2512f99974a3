"""Helpers for the controller tests on the lab: a Controller over the lab's nodes with a
fresh state folder, a unique service-name prefix per test, and removal of every container
of that prefix on every node at the end."""

from __future__ import annotations

import contextlib
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker.errors

from nodes_support import direct_client, each_client
from tui_orch.controller import Controller
from tui_orch.controller.context import owner_id
from tui_orch.inventory import load_inventory
from tui_orch.manifest import Manifest, parse_manifest
from tui_orch.model import NodeState
from tui_orch.nodes.base import LABEL_SERVICE
from tui_orch.nodes.fleet import Fleet
from tui_orch.store import Store, open_store


def prefix() -> str:
    return "t" + uuid.uuid4().hex[:6]


def manifest(text: str) -> Manifest:
    return parse_manifest(textwrap.dedent(text), "test.yaml")


def cleanup(lab, pre: str) -> None:
    """Remove every container whose service starts with ``pre`` on every lab node, and the
    project networks they were on once no container is left on them (each takes an address
    pool of the engine)."""
    for _lab_node, client in each_client(lab):
        joined: set[str] = set()
        for c in client.api.containers(all=True, filters={"label": LABEL_SERVICE}):
            if (c.get("Labels") or {}).get(LABEL_SERVICE, "").startswith(pre):
                joined.update(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(c["Id"], force=True)
        for name in joined:
            remove_if_unused(client, name)


def remove_if_unused(client, name: str) -> None:  # type: ignore[no-untyped-def]
    """Remove tui-orch's network ``name`` on this engine when no container is on it."""
    from tui_orch.nodes.networks import LABEL_NETWORK_KEY

    with contextlib.suppress(docker.errors.APIError):  # gone, or in use meanwhile: left
        found = client.api.inspect_network(name)
        if LABEL_NETWORK_KEY in (found.get("Labels") or {}) and not found.get("Containers") \
                and not client.api.containers(all=True, filters={"network": name}):
            client.api.remove_network(found["Id"])


def remove_edges(lab, owner: str) -> None:
    """Remove the edge proxy of ``owner`` (a state folder) on every lab node (traffic.py)."""
    from tui_orch.nodes.edge import LABEL_EDGE

    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for c in client.api.containers(all=True, filters={"label": f"{LABEL_EDGE}={owner}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(c["Id"], force=True)
        finally:
            client.close()


def remove_networks(client, owner: str) -> None:
    """On one engine: remove the mesh proxies and then the project networks of ``owner`` (a
    state folder), as the controller does when nothing uses them (controller/networks.py);
    call after that owner's containers are gone."""
    from tui_orch.nodes.meshproxy import LABEL_MESH
    from tui_orch.nodes.networks import LABEL_NETWORK_OWNER

    for c in client.api.containers(all=True, filters={"label": f"{LABEL_MESH}={owner}"}):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(c["Id"], force=True)
    for n in client.api.networks(filters={"label": f"{LABEL_NETWORK_OWNER}={owner}"}):
        with contextlib.suppress(docker.errors.APIError):  # gone, or a container of another test joined it
            client.api.remove_network(n["Id"])


def remove_owner_networks(lab, owner: str) -> None:
    """remove_networks on every lab node."""
    for _lab_node, client in each_client(lab):
        remove_networks(client, owner)


def owned(lab, pre: str) -> dict[str, list[dict]]:
    """node -> the containers (docker API summaries) of services starting with ``pre``."""
    out: dict[str, list[dict]] = {}
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            out[lab_node.name] = [c for c in client.api.containers(all=True, filters={"label": LABEL_SERVICE})
                                  if (c.get("Labels") or {}).get(LABEL_SERVICE, "").startswith(pre)]
        finally:
            client.close()
    return out


@contextlib.asynccontextmanager
async def controller(lab, state: Path, pre: str, **options) -> AsyncIterator[tuple[Controller, Store, Fleet]]:
    store = open_store(state)
    owner = owner_id(store)
    fleet = Fleet(load_inventory(lab.inventory))
    try:
        await fleet.start()
        for node in fleet.nodes.values():
            await node.wait_state(NodeState.READY, timeout=30)
        ctl = Controller(store, fleet, **options)
        try:
            yield ctl, store, fleet
        finally:
            await ctl.close()
    finally:
        await fleet.close()
        store.close()
        cleanup(lab, pre)
        remove_edges(lab, owner)
        remove_owner_networks(lab, owner)
