"""Project networks leave the lab's nodes with the last service on them, as ``docker compose
down`` removes them (each bridge network takes one of the engine's address pools: an engine
that keeps them all stops making networks). Another owner's network and an external one stay."""

from __future__ import annotations

import contextlib

import docker.errors
import pytest

from controller_support import controller, manifest, prefix
from nodes_support import each_client
from tui_orch.controller.context import owner_id
from tui_orch.nodes.networks import LABEL_NETWORK_KEY, LABEL_NETWORK_OWNER

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
