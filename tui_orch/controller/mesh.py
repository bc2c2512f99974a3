"""Services reach each other by name (issue 13): one mesh proxy per node and service.

Compose's promise is that ``db:5432`` reaches the db service from any service on one of its
networks. Replicas here run on several nodes and there is no overlay network, so on each node
that runs a replica of a service on a network, the other services of that network get a mesh
proxy there (nodes/meshproxy.py): an HAProxy container on each of the service's networks whose
network aliases are the service's name and aliases, so the engine's DNS answers the name with
it, listening on the service's ports. Its backends hold the service's replicas in rotation,
from the same register as the edge proxies (controller/traffic.py): healthy ones only, drained
before their stop, out at once when unhealthy or lost. A replica on the same node is reached
at its address on a network they share; one on another node at the host port its engine
published that port on, at the node's address.

Who may reach whom: a name resolves only on the networks of its service, so two services that
share no network do not find each other (see README for what that does not cover: a host
port is reachable from the node network).

A service's ports by name: ``expose``, its ports' targets, and its image's EXPOSE, as the
running replicas publish them (nodes/networks.py by_name_ports).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_orch.controller import networks, planning
from tui_orch.controller.events import event
from tui_orch.errors import NodeError
from tui_orch.model import NetworkRef, ServiceSpec
from tui_orch.traffic import haproxy, runtime, sync
from tui_orch.traffic.model import Backend, Listener, ProxyConfig, Server

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.nodes.base import Node
    from tui_orch.nodes.meshproxy import Reach

log = logging.getLogger(__name__)
REACH_EVERY = 10.0  # seconds between two full reads of where each node's replicas are reached


@dataclass(frozen=True)
class MeshPlan:
    """One mesh proxy on one node: the networks it joins and its configuration."""

    service: str
    networks: tuple[NetworkRef, ...]
    config: ProxyConfig


def _backend(service: str, port: int) -> str:
    return f"{service}-{port}"[-64:]


def _ports(spec: ServiceSpec, reach: list["Reach"]) -> list[int]:
    """The tcp ports the service is reached on by name, as its replicas publish them."""
    ports = set(spec.expose) | {p.target for p in spec.ports if p.protocol == "tcp" and p.target}
    for r in reach:
        ports.update(target for target, _host in r.ports)
    return sorted(ports)


def desired(ctx: "Context", nodes: list[str] | None = None) -> dict[str, dict[str, MeshPlan]]:
    """node -> service -> MeshPlan, for every Ready (not simulated) node, or ``nodes``. Reads
    the rotation register that traffic.desired just wrote and the replicas' reach
    (``refresh_reach``)."""
    from tui_orch.controller.traffic import ADMIN_PATH, node_address, server_name

    rot = ctx.rotation
    services = {name: spec for name, (spec, _rev) in planning.desired(ctx).items() if spec.networks}
    if not services:
        return {}
    ready_nodes = nodes if nodes is not None else [n.name for n in ctx.fleet.ready() if not n.simulated]
    by_network: dict[str, set[str]] = {}
    for name, spec in services.items():
        for ref in spec.networks:
            by_network.setdefault(ref.name, set()).add(name)
    # which services have a replica (any container) on each node: their networks are used there
    users: dict[str, set[str]] = {}
    for rep in ctx.store.replicas():
        if rep.container_id and rep.service in services:
            users.setdefault(rep.node, set()).add(rep.service)
    members: dict[str, list[str]] = {}  # service -> its container ids in the register
    for cid, service in rot.service_of.items():
        if service in services:
            members.setdefault(service, []).append(cid)
    ports = {name: _ports(spec, [rot.reach[c] for c in members.get(name, []) if c in rot.reach])
             for name, spec in services.items()}
    out: dict[str, dict[str, MeshPlan]] = {}
    for node in ready_nodes:
        wanted: set[str] = set()
        for user in users.get(node, ()):  # the services another service running here may call
            for ref in services[user].networks:
                wanted |= by_network.get(ref.name, set()) - {user}
        plans: dict[str, MeshPlan] = {}
        for name in sorted(wanted):
            spec = services[name]
            if not ports[name]:
                continue  # no port to be reached on: no proxy (say expose: to give one)
            own_networks = {ref.name for ref in spec.networks}
            backends: dict[str, list[Server]] = {_backend(name, p): [] for p in ports[name]}
            for cid in members.get(name, ()):
                where = rot.servers.get(cid, ("",))[0]
                reach = rot.reach.get(cid)
                if reach is None or not where:
                    continue
                state = "drain" if cid in rot.draining else "ready" if cid in rot.ready else None
                if state is None:
                    continue
                published = dict(reach.ports)
                local = next((ip for net, ip in reach.addresses if net in own_networks), None)
                for port in ports[name]:
                    if where == node and local:
                        address, target = local, port
                    else:
                        address, target = node_address(ctx, where) or "", published.get(port, 0)
                    if address and target:
                        backends[_backend(name, port)].append(
                            Server(server_name(cid), address, target, state))  # type: ignore[arg-type]
            listeners = tuple(Listener(f"port-{p}", p, _backend(name, p)) for p in ports[name])
            config = ProxyConfig(listeners, tuple(Backend(b, tuple(s)) for b, s in sorted(backends.items())), ADMIN_PATH)
            plans[name] = MeshPlan(name, spec.networks, config)
        out[node] = plans
    return out


async def refresh_reach(ctx: "Context", force: bool = False) -> None:
    """Read where the replicas in the register are reached, on the nodes where one is not known
    yet (a new replica), and on every node each REACH_EVERY seconds."""
    rot = ctx.rotation
    now = time.monotonic()
    wanted: dict[str, list[str]] = {}
    for cid, (node, _slots) in rot.servers.items():
        if rot.service_of.get(cid):
            wanted.setdefault(node, []).append(cid)
    todo = [ctx.fleet.nodes[n] for n, cids in wanted.items() if n in ctx.fleet.nodes and (
        force or now - rot.reach_read.get(n, 0.0) > REACH_EVERY or any(c not in rot.reach for c in cids))]
    todo = [n for n in todo if not n.simulated]
    answers = await asyncio.gather(*(n.replica_reach(ctx.owner) for n in todo), return_exceptions=True)
    for node, answer in zip(todo, answers):
        if isinstance(answer, BaseException):
            continue  # the node's state says why; tried again next pass
        for cid in [c for c, _ in list(rot.reach.items()) if rot.servers.get(c, ("",))[0] == node.name]:
            rot.reach.pop(cid, None)
        rot.reach.update(answer)
        rot.reach_read[node.name] = now
    rot.reach = {cid: r for cid, r in rot.reach.items() if cid in rot.servers}


async def sync_meshes(ctx: "Context", plans: dict[str, dict[str, MeshPlan]], force: bool = False) -> None:
    """Bring the mesh proxies of every Ready node in line with ``plans``."""
    from tui_orch.controller.traffic import VERIFY

    rot = ctx.rotation
    now = time.monotonic()
    nodes = [n for n in ctx.fleet.ready() if not n.simulated]
    todo = [n for n in nodes if force or rot.meshes.get(n.name) != plans.get(n.name, {})
            or now - rot.checked.get("mesh:" + n.name, 0.0) > VERIFY]
    image = ctx.fleet.inventory.edge_image
    results = await asyncio.gather(*(_sync_node(ctx, n, plans.get(n.name, {}), image) for n in todo),
                                   return_exceptions=True)
    for node, result in zip(todo, results):
        key = "mesh:" + node.name
        if isinstance(result, BaseException):
            rot.meshes.pop(node.name, None)
            why = str(result) if isinstance(result, NodeError) else f"{type(result).__name__}: {result}"
            if rot.problems.get(key) != why:
                rot.problems[key] = why
                ctx.bus.publish(event("traffic", f"mesh proxies on {node.name}: {why}", node=node.name,
                                      level="warning"))
            if not isinstance(result, (NodeError, OSError, ValueError)):
                log.error("mesh proxy sync on %s", node.name, exc_info=result)
            continue
        rot.meshes[node.name] = plans.get(node.name, {})
        rot.checked[key] = now
        if rot.problems.pop(key, None):
            ctx.bus.publish(event("traffic", f"mesh proxies on {node.name} are in line again", node=node.name))


async def _sync_node(ctx: "Context", node: "Node", plans: dict[str, MeshPlan], image: str) -> None:
    from tui_orch.controller import deploy
    from tui_orch.nodes.edge import CONFIG
    from tui_orch.nodes.meshproxy import attach_digest, mesh_folder

    ctx.check_acting()
    owner = ctx.owner
    found = await node.meshes(owner)
    for service, info in found.items():
        plan = plans.get(service)
        if plan is None or info.attach != attach_digest(plan.networks, service) or (
                info.image != image and not info.image.startswith("sha256:")):
            await node.mesh_op(owner, service, "remove")
            networks.touched(ctx, node.name)  # its networks may be unused there now
    found = {s: i for s, i in found.items() if s in plans and i.attach == attach_digest(plans[s].networks, s)
             and (i.image == image or i.image.startswith("sha256:"))}
    if plans and not found:
        await deploy.bring_image(ctx, node, image)
    for service, plan in plans.items():
        path = posixpath.join(mesh_folder(owner, node.name, service), CONFIG)
        text = haproxy.render(plan.config).encode()
        info = found.get(service)

        async def talk(commands: list[str], service: str = service) -> list[str]:
            return await node.mesh_runtime(owner, service, commands)

        if info is None or not info.running:
            await node.put_file(path, text, 0o600, 0, 0)
            await node.mesh_op(owner, service, "run" if info is None else "start", image, plan.networks)
            await _wait_answering(talk)
            continue
        state, layout = await talk([runtime.show_servers_state(), runtime.show_layout()])
        commands, reload = sync.changes(plan.config, state, layout)
        if reload:
            await node.put_file(path, text, 0o600, 0, 0)
            await node.mesh_op(owner, service, "reload")
            deadline = time.monotonic() + 10
            while sync.needs_reload(plan.config, await _wait_answering(talk)):
                if time.monotonic() > deadline:
                    raise NodeError(node.name, f"the mesh proxy of {service} did not take its new configuration "
                                               f"within 10 s")
                await asyncio.sleep(0.05)
            state, layout = await talk([runtime.show_servers_state(), runtime.show_layout()])
            commands, _ = sync.changes(plan.config, state, layout)
        if commands:
            await talk(commands)


async def _wait_answering(talk, timeout: float = 10.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            return (await talk([runtime.show_layout()]))[0]
        except NodeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def sessions(ctx: "Context", container_id: str) -> int:
    """Connections the mesh proxies of every node hold to the replica (for its drain)."""
    from tui_orch.controller.traffic import server_name

    rot = ctx.rotation
    service = rot.service_of.get(container_id)
    if not service:
        return 0
    name = server_name(container_id)
    busy = 0
    for node in ctx.fleet.ready():
        if node.simulated or service not in rot.meshes.get(node.name, {}):
            continue
        with contextlib.suppress(NodeError):
            stats = runtime.parse_sessions((await node.mesh_runtime(ctx.owner, service, [runtime.show_stat()]))[0])
            busy += sum(n for (_b, s), n in stats.items() if s == name)
    return busy


__all__ = ["MeshPlan", "desired", "refresh_reach", "sessions", "sync_meshes"]
