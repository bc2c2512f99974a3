"""Who reaches whom by name (controller/mesh.py), on simulated nodes: on each node that runs a
replica of a service, the other services of its networks get a mesh proxy whose backends hold
their replicas in rotation: a replica on the same node at its address on a shared network, one
on another node at its node's address and the host port its engine published. A service on no
shared network gets no proxy there; an unhealthy replica is out, a draining one drains."""

from __future__ import annotations

import dataclasses

from tui_orch.controller import mesh, traffic
from tui_orch.manifest import parse_manifest
from tui_orch.model import Health
from tui_orch.controller.query import Query
from tui_orch.nodes.meshproxy import Reach
from tui_orch.ui.views.replicas import reach_text
from tui_orch.ui.views.services import address_cell, rotation_cell
from ui_support import sim_controller

STACK = """
name: shop
services:
  web:
    image: tuiorch/web:1
    ports: ["8080:80"]
    networks: [front, back]
    deploy: {replicas: 2, placement: {max_replicas_per_node: 1}}
  db:
    image: tuiorch/db:1
    expose: ["5432"]
    networks: {back: {aliases: [database]}}
    deploy: {replicas: 2, placement: {max_replicas_per_node: 1}}
  lone:
    image: tuiorch/lone:1
    expose: ["9000"]
    networks: [other]
networks: {front: {}, back: {}, other: {}}
"""


def reach_all(ctx) -> None:
    """Where each replica is reached, as the engines would report it (replica_reach)."""
    for i, rep in enumerate(ctx.store.replicas()):
        ports = {"web": ((80, rep.ports[0] if rep.ports else 0),), "db": ((5432, 32000 + i),),
                 "lone": ((9000, 33000 + i),)}[rep.service]
        nets = {"web": ("shop_back", "shop_front"), "db": ("shop_back",), "lone": ("shop_other",)}[rep.service]
        ctx.rotation.reach[rep.container_id] = Reach(ports, tuple((n, f"172.18.{i}.{k + 2}") for k, n in enumerate(nets)))


async def test_each_node_gets_proxies_for_the_services_its_replicas_may_call(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(parse_manifest(STACK, "shop.yaml"))).ok
        ctx = ctl.ctx
        traffic.desired(ctx)
        reach_all(ctx)
        nodes = sorted(ctx.fleet.nodes)
        plans = mesh.desired(ctx, nodes)
        where = {s: {r.node for r in ctx.store.replicas(s)} for s in ("web", "db", "lone")}
        for node in nodes:
            wanted = set()
            if node in where["web"]:
                wanted.add("db")  # web may call db (back); nothing else shares its networks
            if node in where["db"]:
                wanted.add("web")  # db may call web back on their shared network
            assert set(plans[node]) == wanted, (node, where)
            assert "lone" not in plans[node]  # on a network of its own: nobody calls it
        db = ctx.store.replicas("db")
        node = next(iter(where["web"]))
        plan = plans[node]["db"]
        assert [n.key for n in plan.networks] == ["back"] and plan.networks[0].aliases == ("database",)
        assert [(x.port, x.backend) for x in plan.config.listeners] == [(5432, "db-5432")]
        servers = {s.name: (s.address, s.port, s.state) for s in plan.config.backend("db-5432").servers}
        expected = {}
        for rep in db:
            reach = ctx.rotation.reach[rep.container_id]
            if rep.node == node:  # same node: its address on the shared network, the port itself
                expected[rep.container_id[:12]] = (dict(reach.addresses)["shop_back"], 5432, "ready")
            else:  # another node: that node's address and the host port its engine published
                expected[rep.container_id[:12]] = (traffic.node_address(ctx, rep.node), dict(reach.ports)[5432],
                                                   "ready")
        assert servers == expected
        # get services says how each is reached by name, and on which networks
        rows = {r["name"]: r for r in ctl.query().get_services(ctl.query().get_replicas(None))}
        assert (rows["db"]["names"], rows["db"]["networks"]) == (["db", "database"], ["shop_back"])
        assert (rows["web"]["names"], rows["web"]["networks"]) == (["web"], ["shop_front", "shop_back"])


async def test_unhealthy_replicas_are_out_and_draining_ones_drain(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(parse_manifest(STACK, "shop.yaml"))).ok
        ctx = ctl.ctx
        one, two = ctx.store.replicas("db")
        ctx.store.put_replica(dataclasses.replace(one, health=Health.UNHEALTHY))
        ctx.rotation.draining.add(two.container_id)
        traffic.desired(ctx)
        reach_all(ctx)
        web_node = ctx.store.replicas("web")[0].node
        servers = {s.name: s.state for s in mesh.desired(ctx, [web_node])[web_node]["db"].config.backend("db-5432").servers}
        assert servers == {two.container_id[:12]: "drain"}
        # a service with no port to be reached on gets no proxy (it says expose: to give one)
        ctx.rotation.reach.clear()
        text = STACK.replace('expose: ["5432"]', "expose: []")
        assert (await ctl.apply(parse_manifest(text, "shop.yaml"))).ok
        traffic.desired(ctx)
        assert "db" not in mesh.desired(ctx, [web_node]).get(web_node, {})


async def test_a_service_reached_by_name_shows_its_rotation_and_its_names(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(parse_manifest(STACK, "shop.yaml"))).ok
        ctx = ctl.ctx
        traffic.desired(ctx)
        reach_all(ctx)
        ctx.rotation.meshes = mesh.desired(ctx, sorted(ctx.fleet.nodes))  # as the proxies were given
        one, two = ctx.store.replicas("db")
        ctx.store.put_replica(dataclasses.replace(one, health=Health.UNHEALTHY))
        traffic.desired(ctx)
        query = ctl.query()
        # the console: db's replicas are in or out of rotation; lone is on a network of its own,
        # no proxy serves it: no rotation at all, rather than "out"
        shown = {(r.service, r.container_id): r.rotation for r in query.replica_rows(0.0)}
        assert shown[("db", one.container_id)] == "out" and shown[("db", two.container_id)] == "in"
        assert {v for (s, _c), v in shown.items() if s == "lone"} == {""}
        rows = {r.name: r for r in query.service_rows()}
        assert (rows["db"].names, rows["db"].in_rotation, rows["lone"].names) == (("db", "database"), 1, ())
        assert rotation_cell(rows["db"]).plain == "1/2" and rotation_cell(rows["lone"]).plain == "-"
        assert address_cell(rows["db"]).plain == "db, database by name"
        assert address_cell(rows["web"]).plain == "8080 on every node; web by name"
        assert reach_text("db", [], [], query.names("db")).plain == "db is called db, database by the services of shop_back"
        assert query.names("lone") == ([], [])
        # get replicas: the same, from what the controller told the proxies
        got = {r["container_id"]: r.get("rotation") for r in query.get_replicas(None)}
        assert (got[one.container_id[:12]], got[two.container_id[:12]]) == ("out", "in")
        assert all("rotation" not in r for r in query.get_replicas(None) if r["service"] == "lone")
        # ... and from what the proxies report (the CLI, with no controller): a server any proxy
        # holds has a rotation, in whatever state; lone's replica is in none
        cli = Query(ctx.store)
        reported = {one.container_id[:12]: "out", two.container_id[:12]: "draining"}
        got = {r["container_id"]: r.get("rotation") for r in cli.get_replicas(None, reported) if r["service"] == "db"}
        assert got == {one.container_id[:12]: "out", two.container_id[:12]: "draining"}
        assert all("rotation" not in r for r in cli.get_replicas(None, reported) if r["service"] == "lone")
