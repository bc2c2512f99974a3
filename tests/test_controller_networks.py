"""Project networks leave the nodes when nothing uses them (as ``docker compose down``): the
controller on simulated nodes, the engine side (nodes/networks.py) on a fake engine API, and
the message of an engine with no free address pool. The lab test: test_controller_networks_lab.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tui_orch.errors import NodeError
from tui_orch.manifest import load_manifest
from tui_orch.model import NetworkRef
from tui_orch.nodes.networks import LABEL_NETWORK_KEY, LABEL_NETWORK_OWNER, ensure_network, prune_networks
from ui_support import sim_controller

STACK = """\
name: app
services:
  web:
    image: tuiorch/web:1
    deploy: {replicas: 3}
  worker:
    image: tuiorch/worker:1
    deploy: {replicas: 3}
    networks: [default, jobs]
networks:
  jobs: {}
  shared: {external: true}
"""


def networks_on(ctl) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {name: dict(node.networks) for name, node in ctl.ctx.fleet.nodes.items()}


async def test_a_network_goes_from_every_node_with_the_last_service_on_it(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(STACK)
    async with sim_controller(tmp_path / "state", count=3) as (ctl, _sim):
        owner = ctl.ctx.owner
        assert (await ctl.apply(load_manifest(tmp_path / "compose.yaml"))).ok
        assert networks_on(ctl) == {n: {"app_default": owner, "app_jobs": owner} for n in ("sim-1", "sim-2", "sim-3")}
        node1 = ctl.ctx.fleet.nodes["sim-1"]
        node1.networks["theirs_default"] = "someone-else"  # another state's: never ours to remove
        await ctl.remove("worker")  # app_jobs: nothing else on it; app_default: web still is
        assert networks_on(ctl)["sim-2"] == {"app_default": owner}
        await ctl.remove("web")
        assert networks_on(ctl) == {"sim-1": {"theirs_default": "someone-else"}, "sim-2": {}, "sim-3": {}}


async def test_a_full_pass_removes_the_networks_of_a_service_another_process_removed(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(STACK)
    async with sim_controller(tmp_path / "state", count=2) as (ctl, _sim):
        assert (await ctl.apply(load_manifest(tmp_path / "compose.yaml"))).ok
        await ctl.reconciler.full_pass()  # every node looked at once: nothing to remove
        assert set(ctl.ctx.networks_left) == {"sim-1", "sim-2"}
        ctl.ctx.store.update_service("worker", removed=True)  # as another console's remove records it
        await ctl.reconciler.full_pass()  # its containers go, then its network
        assert all(set(nets) == {"app_default"} for nets in networks_on(ctl).values()), networks_on(ctl)


SPREAD = """\
name: app
services:
  web:
    image: tuiorch/web:1
    deploy: {mode: global}
  db:
    image: tuiorch/db:1
    deploy: {placement: {constraints: [node.id == sim-1]}}
"""


async def test_a_network_kept_for_a_service_goes_when_that_service_goes_from_a_node_it_never_ran_on(
        tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(SPREAD)
    async with sim_controller(tmp_path / "state", count=3) as (ctl, _sim):
        assert (await ctl.apply(load_manifest(tmp_path / "compose.yaml"))).ok
        await ctl.remove("web")  # app_default stays everywhere: db is on it (on sim-1 only)
        assert all(set(nets) == {"app_default"} for nets in networks_on(ctl).values()), networks_on(ctl)
        await ctl.remove("db")  # no container went from sim-2 and sim-3 now: their network goes all the same
        assert networks_on(ctl) == {"sim-1": {}, "sim-2": {}, "sim-3": {}}


class FakeAPI:
    """The network calls of docker-py's APIClient, on a few networks of a fake engine."""

    def __init__(self, nets: list[dict[str, Any]], containers: dict[str, list[str]] | None = None,
                 refuse: str = ""):
        self.nets = {n["Name"]: n for n in nets}
        self.on = containers or {}  # network -> containers (created, not started: no endpoint)
        self.refuse = refuse
        self.removed: list[str] = []

    def networks(self, names: list[str] | None = None, filters: dict[str, str] | None = None) -> list[dict[str, Any]]:
        found = list(self.nets.values())
        if names:
            found = [n for n in found if any(x in n["Name"] for x in names)]
        if filters and "label" in filters:
            key, _, value = filters["label"].partition("=")
            found = [n for n in found if n["Labels"].get(key) == value]
        return found

    def inspect_network(self, net_id: str) -> dict[str, Any]:
        return next(n for n in self.nets.values() if n["Id"] == net_id)

    def containers(self, all: bool = False, filters: dict[str, str] | None = None) -> list[dict[str, str]]:
        return [{"Id": c} for c in self.on.get((filters or {}).get("network", ""), [])]

    def remove_network(self, net_id: str) -> None:
        name = next(n for n, v in self.nets.items() if v["Id"] == net_id)
        if name == self.refuse:
            raise docker.errors.APIError("409", explanation=f"error while removing network: network {name} id "
                                                            f"{net_id} has active endpoints")
        del self.nets[name]
        self.removed.append(name)

    def create_network(self, name: str, **_: Any) -> dict[str, str]:
        raise docker.errors.APIError("500", explanation="could not find an available, non-overlapping IPv4 address "
                                                        "pool among the defaults to assign to the network")


def net(name: str, owner: str | None, attached: dict[str, Any] | None = None) -> dict[str, Any]:
    labels = {LABEL_NETWORK_OWNER: owner, LABEL_NETWORK_KEY: name.split("_")[-1]} if owner else {}
    return {"Name": name, "Id": f"id-{name}", "Labels": labels, "Containers": attached or {}}


def test_the_engine_removes_only_the_owners_unused_and_unattached_networks() -> None:
    api = FakeAPI([net("app_default", "me"), net("app_jobs", "me"), net("app_busy", "me", {"c1": {}}),
                   net("app_created", "me"), net("app_racing", "me"), net("shared", None),
                   net("other_default", "them")], containers={"app_created": ["c2"]}, refuse="app_racing")
    removed, left = prune_networks(api, "node1", "me", frozenset({"app_jobs"}))
    assert removed == ["app_default"]
    # wanted; attached (running); a container created on it but not started; one the engine refused
    assert sorted(left) == ["app_busy", "app_created", "app_jobs", "app_racing"]
    assert sorted(api.nets) == ["app_busy", "app_created", "app_jobs", "app_racing", "other_default", "shared"]
    assert prune_networks(api, "node1", "", frozenset()) == ([], [])  # no owner: nothing is ours


def test_an_engine_out_of_address_pools_is_named_with_what_to_do() -> None:
    with pytest.raises(NodeError) as caught:
        ensure_network(FakeAPI([]), "node1", NetworkRef("default", "app_default"), "me")
    text = str(caught.value)
    assert "node1" in text and "no free address pool for network app_default" in text
    assert "docker network prune" in text and "default-address-pools" in text
