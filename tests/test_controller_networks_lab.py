"""Project networks leave the lab's nodes with the last service on them, as ``docker compose
down`` removes them (each bridge network takes one of the engine's address pools: an engine
that keeps them all stops making networks). Another owner's network and an external one stay."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading

import docker.errors
import pytest

from controller_support import controller, manifest, prefix
from nodes_support import direct_client, each_client
from tui_orch.controller.context import owner_id
from tui_orch.model import NetworkRef
from tui_orch.nodes.networks import LABEL_NETWORK_KEY, LABEL_NETWORK_OWNER, ensure_network, first_network

pytestmark = pytest.mark.lab

STACK = """
name: {pre}
services:
  {pre}a:
    image: tuiorch/busybox:1
    command: ["sleep", "100000"]
    deploy: {{mode: global}}
  {pre}b:
    image: tuiorch/busybox:1
    command: ["sleep", "100000"]
    networks: [default, outside]
    deploy: {{mode: global}}
networks:
  outside: {{external: true, name: {pre}ext}}
"""


def networks(lab, pre: str) -> dict[str, set[str]]:
    """node -> the names of the networks whose name starts with ``pre`` there."""
    return {lab_node.name: {n["Name"] for n in client.api.networks() if n["Name"].startswith(pre)}
            for lab_node, client in each_client(lab)}


def make_networks(lab, pre: str) -> None:
    """On every node: the operator's external network and one of another state folder."""
    for _lab_node, client in each_client(lab):
        client.api.create_network(f"{pre}ext", driver="bridge")
        client.api.create_network(f"{pre}_theirs", driver="bridge",
                                  labels={LABEL_NETWORK_OWNER: "another0owner", LABEL_NETWORK_KEY: "theirs"})


def remove_made(lab, pre: str) -> None:
    for _lab_node, client in each_client(lab):
        for name in (f"{pre}ext", f"{pre}_theirs"):
            with contextlib.suppress(docker.errors.APIError):
                client.api.remove_network(name)


async def test_a_network_goes_from_every_node_with_the_last_service_on_it(lab, tmp_path):
    pre = prefix()
    theirs = {f"{pre}ext", f"{pre}_theirs"}
    make_networks(lab, pre)
    try:
        async with controller(lab, tmp_path / "state", pre) as (ctl, store, _fleet):
            owner = owner_id(store)
            result = await ctl.apply(manifest(STACK.format(pre=pre)))
            assert result.ok, result
            assert networks(lab, pre) == {n.name: theirs | {f"{pre}_default"} for n in lab.nodes}
            for _lab_node, client in each_client(lab):
                assert client.api.inspect_network(f"{pre}_default")["Labels"][LABEL_NETWORK_OWNER] == owner
            # b still runs on every node's pre_default: it stays
            await ctl.remove(f"{pre}a")
            assert networks(lab, pre) == {n.name: theirs | {f"{pre}_default"} for n in lab.nodes}
            # the last service on it: gone from every node; the external one and another's stay
            await ctl.remove(f"{pre}b")
            assert networks(lab, pre) == {n.name: theirs for n in lab.nodes}
    finally:
        remove_made(lab, pre)


def test_two_processes_making_one_network_at_once_end_on_one_network(lab):
    """Two controllers (or a controller and an ``apply``) starting replicas of one project on a
    node at the same moment both make its network: the engine's duplicate check is not atomic,
    and a container then asked for by name was refused ("network ... is ambiguous (2 matches
    found on name)", CI). Everyone ends on the oldest network, the others are removed, and a
    container joins it."""
    pre = prefix()
    name = f"{pre}_default"
    lab_node = lab.nodes[0]
    clients = [direct_client(lab_node) for _ in range(8)]
    barrier = threading.Barrier(len(clients))

    def make(client) -> str:  # type: ignore[no-untyped-def]
        barrier.wait()
        return ensure_network(client.api, lab_node.name, NetworkRef("default", name), "test-owner")

    try:
        for _round in range(3):
            with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
                ids = list(pool.map(make, clients))
            left = [n for n in clients[0].api.networks(names=[name]) if n["Name"] == name]
            assert len(left) == 1, f"{len(left)} networks named {name}"
            assert set(ids) == {left[0]["Id"]}
            cid = clients[0].api.create_container(
                "tuiorch/busybox:1", ["true"], host_config=clients[0].api.create_host_config(network_mode=ids[0]),
                networking_config=first_network(clients[0].api, ids[0]))["Id"]
            clients[0].api.remove_container(cid, force=True)
            clients[0].api.remove_network(ids[0])
    finally:
        for found in clients[0].api.networks(names=[name]):
            with contextlib.suppress(docker.errors.APIError):
                clients[0].api.remove_network(found["Id"])
        for client in clients:
            client.close()


TWICE = """
name: {pre}
services:
  {pre}a:
    image: tuiorch/busybox:1
    command: ["sleep", "100000"]
    deploy: {{mode: global}}
"""


async def test_a_network_name_found_twice_is_left_once_and_the_replicas_start(lab, tmp_path):
    """A project network found twice on the nodes (made at one moment by two processes, or
    by an engine older than its duplicate check): the engine refuses to start a container on
    a name that matches two, even one created by id (CI: "network ... is ambiguous (2 matches
    found on name)"). The newer is removed, the replicas start on the oldest."""
    pre = prefix()
    name = f"{pre}_default"
    oldest = {}
    for lab_node, client in each_client(lab):
        made = [client.api.create_network(name, driver="bridge", check_duplicate=False)["Id"] for _ in range(2)]
        oldest[lab_node.name] = made[0]
    try:
        async with controller(lab, tmp_path / "state", pre) as (ctl, _store, _fleet):
            result = await ctl.apply(manifest(TWICE.format(pre=pre)))
            assert result.ok, result
            for lab_node, client in each_client(lab):
                left = [n["Id"] for n in client.api.networks(names=[name]) if n["Name"] == name]
                assert left == [oldest[lab_node.name]], (lab_node.name, left)
                running = client.api.containers(filters={"label": f"tui-orch.service={pre}a"})
                assert len(running) == 1
                joined = client.api.inspect_container(running[0]["Id"])["NetworkSettings"]["Networks"]
                assert joined[name]["NetworkID"] == oldest[lab_node.name]
            await ctl.remove(f"{pre}a")
    finally:
        for _lab_node, client in each_client(lab):
            for found in client.api.networks(names=[name]):
                with contextlib.suppress(docker.errors.APIError):
                    client.api.remove_network(found["Id"])
