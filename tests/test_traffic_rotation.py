"""Who is in rotation (controller/traffic.py), on simulated nodes: the edge proxies' desired
configuration follows the records. A published port is one listener on every node; a replica is
in its backend once running and healthy, out when unhealthy, draining while tui-orch stops it,
and a replaced replica's copy that still serves stays until it is stopped."""

from __future__ import annotations

import dataclasses

from tui_orch.controller import traffic
from tui_orch.manifest import parse_manifest
from tui_orch.model import Health
from ui_support import sim_controller

WEB = """
services:
  web:
    image: tuiorch/web:1
    ports: ["8080:80", "9000"]
    deploy: {replicas: 3}
  worker:
    image: tuiorch/worker:1
    ports: [{target: 81, published: 8181, mode: host}]
"""


def servers(config, backend: str = "web-8080") -> dict[str, tuple[int, str]]:
    return {s.name: (s.port, s.state) for s in config.backend(backend).servers}


async def test_a_published_port_is_one_listener_whose_backend_holds_the_healthy_replicas(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(parse_manifest(WEB, "web.yaml"))).ok
        config = traffic.desired(ctl.ctx)
        assert config is not None
        # only the ingress port: not the dynamic 9000, not worker's mode-host 8181
        assert [(x.port, x.backend) for x in config.listeners] == [(8080, "web-8080")]
        reps = ctl.ctx.store.replicas("web")
        assert servers(config) == {r.container_id[:12]: (r.ports[0], "ready") for r in reps}
        assert all(r.ports[0] != 8080 for r in reps)  # each replica binds a dynamic host port
        assert set(traffic.rotation_now(ctl.ctx).values()) == {"in"}
        rows = ctl.query().get_replicas(None)
        assert {r["rotation"] for r in rows if r["service"] == "web"} == {"in"}
        assert all("rotation" not in r for r in rows if r["service"] == "worker")
        service = next(r for r in ctl.query().get_services(rows, {"n1": "10.0.0.1", "n2": "10.0.0.2"})
                       if r["name"] == "web")
        assert service["addresses"] == ["10.0.0.1:8080", "10.0.0.2:8080"] and service["in_rotation"] == 3


async def test_unhealthy_leaves_at_once_draining_is_said_and_a_replaced_copy_stays_until_stopped(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(parse_manifest(WEB, "web.yaml"))).ok
        store = ctl.ctx.store
        one, two, three = store.replicas("web")
        traffic.desired(ctl.ctx)
        store.put_replica(dataclasses.replace(one, health=Health.UNHEALTHY))
        ctl.ctx.rotation.draining.add(two.container_id)
        config = traffic.desired(ctl.ctx)
        assert servers(config) == {two.container_id[:12]: (two.ports[0], "drain"),
                                   three.container_id[:12]: (three.ports[0], "ready")}
        worker = {r.container_id[:12]: "in" for r in store.replicas("worker")}  # reached by name (issue 13)
        assert traffic.rotation_now(ctl.ctx) == {two.container_id[:12]: "draining", three.container_id[:12]: "in",
                                                 **worker}
        # a rollout replaced three's record; its container still serves until it is stopped
        store.remove_replicas([three.key])
        assert servers(traffic.desired(ctl.ctx))[three.container_id[:12]] == (three.ports[0], "ready")
        traffic.stopped(ctl.ctx, three.container_id)
        assert three.container_id[:12] not in servers(traffic.desired(ctl.ctx))


async def test_no_published_port_no_edge_proxy_configuration(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        text = WEB.replace('"8080:80", ', "")
        assert (await ctl.apply(parse_manifest(text, "web.yaml"))).ok
        assert traffic.desired(ctl.ctx) is None


async def test_no_replica_is_given_a_published_ingress_port_as_its_own_host_port(tmp_path):
    """Every node's edge proxy listens on an ingress port, also one inside the dynamic range
    (20000-32000): a replica given it could not bind it, or would take it from the proxy."""
    text = """
services:
  front:
    image: tuiorch/web:1
    ports: ["20000:80", "20001:81"]
  worker:
    image: tuiorch/worker:1
    ports: ["80", "81"]
    deploy: {replicas: 3}
"""
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(parse_manifest(text, "web.yaml"))).ok
        held = [p for s in ("front", "worker") for r in ctl.ctx.store.replicas(s) for p in r.ports]
        assert len(held) == 8 and not {20000, 20001} & set(held), held
