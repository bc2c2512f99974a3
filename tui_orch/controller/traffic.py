"""Traffic: a published (ingress) port answers on every Ready node, and each connection goes to
a replica in rotation, wherever it runs.

Each Ready node runs one edge proxy of this state folder (HAProxy, host networking:
nodes/edge.py). Its configuration is the same on every node: one listener per published
ingress port, whose backend holds the replicas of that service at their node's address and
host port (traffic/ is the pure part: the config, the Runtime API commands, the diff).

Rotation, decided here from the records:
- a replica enters rotation once it runs and passed its health gate (state running, health
  healthy or no check); the loop below puts it in within a fraction of a second;
- it leaves at once when it turns unhealthy, exits, or its node is not Ready (lost);
- before its container is stopped on purpose (rollout, scale down, rm, move) it is drained:
  no new connections, established ones finish, up to its stop grace period (``drain``,
  called by deploy.remove_container); then it is stopped, then removed from the backends.
A replica whose record was replaced (a rollout's old copy) stays as it was in rotation until
its container is drained and stopped: it is never dropped while it still serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import posixpath
import socket
import time
from typing import TYPE_CHECKING

from tui_orch.controller import mesh, planning
from tui_orch.controller.events import event
from tui_orch.controller.reach import routed
from tui_orch.errors import NodeError, TuiOrchError
from tui_orch.model import Health, Replica, ReplicaState, ServiceSpec
from tui_orch.nodes.base import Node
from tui_orch.traffic import haproxy, runtime, sync
from tui_orch.traffic.model import Backend, Listener, ProxyConfig, Server
from tui_orch.waiting import wait_event

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.model import NodeSpec
    from tui_orch.nodes.fleet import Fleet

log = logging.getLogger(__name__)
POLL = 0.2  # seconds between two looks at the records (a change is acted on at once)
VERIFY = 10.0  # seconds between two checks of every proxy even when nothing changed
STICKY_MAX = 300.0  # a replaced replica's copy nobody stopped leaves rotation after this
ADMIN_PATH = posixpath.join("/run/tui-orch-edge", "admin.sock")  # as the proxy sees it


def backend_name(service: str, published: int) -> str:
    return f"{service}-{published}"


def server_name(container_id: str) -> str:
    return container_id[:12]


def node_address(ctx: Context, name: str) -> str | None:
    """The IP address other nodes reach ``name`` at (``advertised``), remembered."""
    rot = ctx.rotation
    if name not in rot.addresses:
        node = ctx.fleet.nodes.get(name)
        addr = advertised(node.spec) if node is not None else None
        if addr is None:
            return None
        rot.addresses[name] = addr
    return rot.addresses[name]


def _state(ctx: Context, rep: Replica) -> str | None:
    """The replica's state in the backends: ready, drain, or None (out)."""
    cid = rep.container_id
    if cid is None or cid in ctx.rotation.gone:
        return None
    if cid in ctx.rotation.draining:
        return "drain"
    if rep.state == ReplicaState.RUNNING and rep.health in (Health.HEALTHY, Health.NONE):
        return "ready"
    if rep.state == ReplicaState.STOPPING and cid in ctx.rotation.ready:
        return "ready"  # until its drain (deploy.remove_container) begins
    return None


def _ingress(spec: ServiceSpec) -> list[tuple[int, int]]:
    """(index in spec.ports, published port) of the service's ingress ports."""
    return [(i, p.published) for i, p in enumerate(spec.ports) if p.mode == "ingress" and p.published is not None]


def desired(ctx: Context) -> ProxyConfig | None:
    """The edge proxies' configuration now; None when no service publishes an ingress port.
    Also notes which container each server stands for (``ctx.rotation.servers``)."""
    rot = ctx.rotation
    ready = {n.name for n in ctx.fleet.ready()}
    listeners: list[Listener] = []
    backends: dict[str, list[Server]] = {}
    entries: dict[str, tuple[str, tuple[tuple[str, int], ...], str]] = {}  # cid -> (node, slots, state)
    service_of: dict[str, str] = {}
    services = planning.desired(ctx)
    for name, (spec, _rev) in sorted(services.items()):
        ingress = _ingress(spec)
        for i, published in ingress:
            backend = backend_name(name, published)
            listeners.append(Listener(backend, published, backend, spec.ports[i].host_ip or "*"))
            backends[backend] = []
        # the replicas of a service reached by name (on networks) are in rotation too: the mesh
        # proxies (controller/mesh.py) serve them from this same register
        for rep in ctx.store.replicas(name) if routed(spec) else ():
            state = _state(ctx, rep)
            if state and rep.node in ready and rep.container_id:
                slots = tuple((backend_name(name, pub), rep.ports[i]) for i, pub in ingress if i < len(rep.ports))
                entries[rep.container_id] = (rep.node, slots, state)
                service_of[rep.container_id] = name
    now = time.monotonic()
    # every record is read only when something was in rotation (a console of 1,000 replicas
    # and no published port reads none of them)
    recorded = {r.container_id for r in ctx.store.replicas() if r.container_id} if rot.servers else set()
    for cid, (node, slots) in rot.servers.items():  # replaced copies still serving (a rollout's old ones)
        if cid in recorded or cid in rot.gone or node not in ready:
            continue  # a record says where it stands (unhealthy, exited ...), or it is stopped
        if now - rot.missing.setdefault(cid, now) < STICKY_MAX:
            entries[cid] = (node, slots, "drain" if cid in rot.draining else "ready")
    servers: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
    for cid, (node, slots, state) in entries.items():
        addr = node_address(ctx, node)
        if addr is None:
            continue
        for backend, port in slots:
            if backend in backends:
                backends[backend].append(Server(server_name(cid), addr, port, state))  # type: ignore[arg-type]
        servers[cid] = (node, slots)
    _remember(ctx, servers, {cid for cid, (_n, _s, state) in entries.items() if state == "ready"})
    rot.service_of = {cid: service_of.get(cid) or rot.service_of.get(cid, "") for cid in servers}
    if not listeners:
        return None
    return ProxyConfig(tuple(listeners), tuple(Backend(b, tuple(s)) for b, s in sorted(backends.items())), ADMIN_PATH)


def _remember(ctx: Context, servers: dict[str, tuple[str, tuple[tuple[str, int], ...]]], ready: set[str]) -> None:
    rot = ctx.rotation
    # who each change is about, old servers included (a replica leaving may be gone from them):
    # (service, behind a published port) for the announcement (_announce)
    rot.about = {cid: (rot.service_of.get(cid, ""), bool(slots)) for cid, (_n, slots) in
                 [*rot.servers.items(), *servers.items()]}
    rot.servers = servers
    rot.missing = {cid: t for cid, t in rot.missing.items() if cid in servers}
    rot.gone &= set(servers) | rot.draining
    rot.changes = [(cid, "enters") for cid in sorted(ready - rot.ready)] + [
        (cid, "leaves") for cid in sorted(rot.ready - ready)]
    rot.ready = ready


# ----------------------------------------------------------------------------- the proxies


async def _wait_answering(node: Node, owner: str, timeout: float = 10.0) -> str:
    """Until the proxy's admin socket answers; its layout answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return (await node.edge_runtime(owner, [runtime.show_layout()], timeout=2.0))[0]
        except NodeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _sync_node(ctx: Context, node: Node, config: ProxyConfig | None, image: str) -> None:
    from tui_orch.controller import deploy  # deploy imports this module (drain before a stop)
    from tui_orch.nodes.edge import CONFIG, edge_folder

    ctx.check_acting()
    owner = ctx.owner
    if config is None:
        await node.edge_op(owner, "remove")
        return
    path = posixpath.join(edge_folder(owner, node.name), CONFIG)
    text = haproxy.render(config).encode()
    info = await node.edge(owner)
    if info is not None and info.image != image and not info.image.startswith("sha256:"):
        await node.edge_op(owner, "remove")
        info = None
    if info is None or not info.running:
        await node.put_file(path, text, 0o600, 0, 0)
        if info is None:
            await deploy.bring_image(ctx, node, image)
        await node.edge_op(owner, "run" if info is None else "start", image)
        await _wait_answering(node, owner)
        return
    state, layout = await node.edge_runtime(owner, [runtime.show_servers_state(), runtime.show_layout()])
    commands, reload = sync.changes(config, state, layout)
    if reload:
        await node.put_file(path, text, 0o600, 0, 0)
        await node.edge_op(owner, "reload")
        deadline = time.monotonic() + 10
        while sync.needs_reload(config, await _wait_answering(node, owner)):
            if time.monotonic() > deadline:
                raise NodeError(node.name, "the edge proxy did not take its new configuration within 10 s")
            await asyncio.sleep(0.05)
        state, layout = await node.edge_runtime(owner, [runtime.show_servers_state(), runtime.show_layout()])
        commands, _ = sync.changes(config, state, layout)
    if commands:
        await node.edge_runtime(owner, commands)


async def sync_all(ctx: Context, force: bool = False) -> None:
    """Bring every Ready node's edge proxy in line with ``desired``; a node whose proxy cannot
    be reached or refuses is reported once (event) and tried again by the next pass."""
    async with ctx.rotation.lock:
        await _sync_all(ctx, force)


async def _sync_all(ctx: Context, force: bool) -> None:
    rot = ctx.rotation
    now = time.monotonic()
    ready = [n for n in ctx.fleet.ready() if not n.simulated]
    seen = (ctx.store.changes, frozenset(n.name for n in ready), frozenset(rot.draining), frozenset(rot.gone))
    due = any(now - rot.checked.get(n.name, 0.0) > VERIFY for n in ready)
    if not force and not due and seen == rot.seen:
        return  # nothing changed since the last pass: no need to look at the records
    rot.seen = seen
    config = desired(ctx)
    image = ctx.fleet.inventory.edge_image
    todo = [n for n in ready if (
        force or n.name not in rot.applied or rot.applied[n.name] != config
        or now - rot.checked.get(n.name, 0.0) > VERIFY)]
    await mesh.refresh_reach(ctx, force)
    plans = mesh.desired(ctx)
    meshes = asyncio.ensure_future(mesh.sync_meshes(ctx, plans, force))
    results = await asyncio.gather(*(_sync_node(ctx, n, config, image) for n in todo), return_exceptions=True)
    await meshes
    for node, result in zip(todo, results):
        if isinstance(result, BaseException):
            rot.applied.pop(node.name, None)
            why = str(result) if isinstance(result, NodeError) else f"{type(result).__name__}: {result}"
            if rot.problems.get(node.name) != why:
                rot.problems[node.name] = why
                ctx.bus.publish(event("traffic", f"edge proxy on {node.name}: {why}", node=node.name, level="warning"))
            if not isinstance(result, (NodeError, OSError, ValueError)):
                log.error("edge proxy sync on %s", node.name, exc_info=result)
            continue
        rot.applied[node.name] = config
        rot.checked[node.name] = now
        if rot.problems.pop(node.name, None):
            ctx.bus.publish(event("traffic", f"edge proxy on {node.name} is in line again", node=node.name))
    # announced only for replicas a proxy serves: behind a published port, or of a service
    # that has a mesh proxy somewhere (a service nobody calls by name has none)
    named = {service for node_plans in plans.values() for service in node_plans}
    changes = [(cid, what) for cid, what in rot.changes
               if rot.about.get(cid, ("", False))[1] or rot.about.get(cid, ("", False))[0] in named
               or rot.service_of.get(cid) in named]
    by_id = {r.container_id: r for r in ctx.store.replicas() if r.container_id} if changes else {}
    for cid, what in changes:
        rep = by_id.get(cid)
        ctx.bus.publish(event("traffic", f"{rep.key if rep else cid[:12]} {what} rotation",
                              service=rep.service if rep else None, replica=rep.key if rep else None,
                              node=rep.node if rep else rot.servers.get(cid, ("",))[0] or None))
    rot.changes = []


async def drain(ctx: Context, container_id: str, grace: float) -> None:
    """Take a replica out of rotation before its stop: no new connections on any node, and
    wait (up to ``grace`` seconds) until the connections it serves are done."""
    rot = ctx.rotation
    if not rot.applied and not rot.seen:
        await sync_all(ctx)  # a command's first stop: learn who is in rotation from the records
    if container_id not in rot.servers:
        return
    rot.draining.add(container_id)
    await sync_all(ctx)
    name = server_name(container_id)
    deadline = time.monotonic() + max(0.0, grace)
    nodes = [n for n in ctx.fleet.ready() if not n.simulated and rot.applied.get(n.name) is not None]
    while time.monotonic() < deadline:
        busy = await mesh.sessions(ctx, container_id)
        for node in nodes:
            with contextlib.suppress(NodeError):
                stats = runtime.parse_sessions((await node.edge_runtime(ctx.owner, [runtime.show_stat()]))[0])
                busy += sum(n for (_b, s), n in stats.items() if s == name)
        if busy == 0:
            return
        await asyncio.sleep(0.1)


def stopped(ctx: Context, container_id: str) -> None:
    """The container is stopped: out of the backends at the next pass."""
    rot = ctx.rotation
    rot.draining.discard(container_id)
    if container_id in rot.servers:
        rot.gone.add(container_id)
    rot.poke()


async def run(ctx: Context) -> None:
    """The loop: a look at the records every POLL seconds (at once when poked), every proxy
    checked every VERIFY seconds."""
    rot = ctx.rotation
    rot.wake = asyncio.Event()
    while True:
        await wait_event(rot.wake, POLL)  # a cancel that comes with a wake-up ends the loop
        rot.wake.clear()
        try:
            await sync_all(ctx)
        except asyncio.CancelledError:
            raise
        except TuiOrchError as exc:  # e.g. an etcd state without quorum: one line, no traceback
            log.warning("traffic pass failed: %s", exc)
            await asyncio.sleep(1.0)
        except Exception:  # noqa: BLE001 - the loop must outlive one bad pass; logged
            log.exception("traffic pass failed")
            await asyncio.sleep(1.0)


def in_rotation(ctx: Context) -> frozenset[str]:
    """The container ids in rotation (ready in the edge proxies)."""
    return frozenset(ctx.rotation.ready)


# ----------------------------------------------------------------------------- the read side


def advertised(spec: "NodeSpec") -> str | None:
    """The IP address a node's published ports answer at, from its inventory entry (advertise,
    else its address, resolved here); None when it cannot be told."""
    host = spec.advertise or ("127.0.0.1" if spec.local else spec.address)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        try:
            return socket.gethostbyname(host)
        except OSError:
            return None


def addresses_of(spec: ServiceSpec, nodes: dict[str, str]) -> list[str]:
    """Where clients reach the service: each ingress port at every (Ready) node's address
    (``nodes``: name -> address), as "address:port"."""
    out = []
    for _i, published in _ingress(spec):
        host_ip = next((p.host_ip for p in spec.ports if p.published == published and p.mode == "ingress"), None)
        for _name, addr in sorted(nodes.items()):
            out.append(f"{host_ip or addr}:{published}")
    return list(dict.fromkeys(out))


async def read_rotation(fleet: "Fleet", owner: str) -> dict[str, str]:
    """As the proxies report it now (each node's edge proxy, and its mesh proxies: the services
    reached by name): server (container id's first 12) -> "in" (ready in every proxy that
    answered and serves it), "draining" (drain in one) or "out"."""
    found: dict[str, set[str]] = {}
    nodes = [n for n in fleet.ready() if not n.simulated]
    ask = [runtime.show_servers_state()]

    async def node_answers(node: Node) -> list[BaseException | list[str]]:
        meshes = await node.meshes(owner)
        return list(await asyncio.gather(
            node.edge_runtime(owner, ask, timeout=5.0),
            *(node.mesh_runtime(owner, service, ask, timeout=5.0) for service in sorted(meshes)),
            return_exceptions=True))

    per_node = await asyncio.gather(*(node_answers(n) for n in nodes), return_exceptions=True)
    answers = [a for node in per_node if not isinstance(node, BaseException) for a in node]
    for answer in answers:
        if isinstance(answer, BaseException):
            continue
        with contextlib.suppress(ValueError):
            for servers in runtime.parse_servers_state(answer[0]).values():
                for name, status in servers.items():
                    found.setdefault(name, set()).add(status.state)
    return {name: "in" if states == {"ready"} else "draining" if "drain" in states else "out"
            for name, states in found.items()}


def served_now(ctx: Context) -> set[str]:
    """The services reached by name that a mesh proxy serves on some node now."""
    return {service for plans in ctx.rotation.meshes.values() for service in plans}


def rotation_now(ctx: Context) -> dict[str, str]:
    """As this controller told the proxies: server -> "in" or "draining"."""
    rot = ctx.rotation
    return {server_name(cid): "draining" if cid in rot.draining else "in" for cid in rot.servers
            if cid in rot.ready or cid in rot.draining}
