"""Acting on one replica: bring its image, run its container and record it, wait until it
runs (and is healthy), stop it. The caller holds the controller's lock while containers are
created or removed (so that a reconcile pass never mistakes a new container for an orphan);
waiting happens outside it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui_orch.controller import binds, delivery, homes, mounting, networks, planning
from tui_orch.controller.ordering import COMPLETED, held_back
from tui_orch.controller.containers import LABEL_OWNER, container_request
from tui_orch.controller.events import event
from tui_orch.controller import traffic
from tui_orch.controller.ports import ports_to_start_with
from tui_orch.controller.results import ApplyResult
from tui_orch.errors import NodeError
from tui_orch.model import Health, NodeState, Replica, ReplicaState, ServiceSpec
from tui_orch.nodes.base import LABEL_SERVICE, ContainerInfo, Node
from tui_orch.placement import Plan
from tui_orch.waiting import wait_event

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.controller.planning import Desired

POLL = 0.2  # seconds between inspections while waiting for a replica to run
GROUP_MOST = 500  # replica records written in one commit at most (their encoding holds the loop)
Make = Callable[[Callable[[str], "Replica | None"]], "Replica | None"]


@dataclass(eq=False)
class WriteGroup:
    """Replica records waiting for one commit: (make, after, future) each (see write_replica)."""

    entries: list[tuple[Make, Callable[[], None] | None, "asyncio.Future[Replica | None]"]] = field(
        default_factory=list)


async def write_replica(ctx: "Context", make: Make, after: Callable[[], None] | None = None) -> Replica | None:
    """Write one replica record in a group commit; returns it (None: ``make`` wrote nothing).

    A deploy of N replicas has N coroutines each writing its record, then its state once it
    runs. One durable write each cost the whole state file's encoding and an fsync: 3,000
    replicas took minutes, and the loop was held for each. The writers of one loop turn (and
    those that come while a commit is written) join one group, committed in one transaction:
    one encoding and one fsync for all of them. ``make(get)`` builds the record at commit
    time (``get`` sees the records of the group written before it); ``after`` runs inside
    the same transaction. The caller returns once its record is durable, as before; a
    commit that fails fails every writer of its group with the store's error."""
    loop = asyncio.get_running_loop()
    group = ctx.writing.group
    if not isinstance(group, WriteGroup) or len(group.entries) >= GROUP_MOST:
        group = ctx.writing.group = WriteGroup()
        task = loop.create_task(_commit(ctx, group))
        ctx.writing.tasks.add(task)
        task.add_done_callback(ctx.writing.tasks.discard)
    done: asyncio.Future[Replica | None] = loop.create_future()
    group.entries.append((make, after, done))
    return await done


async def _commit(ctx: "Context", group: WriteGroup) -> None:
    await asyncio.sleep(0)  # the writers of this loop turn join
    async with ctx.writes:  # groups commit one after another; later writers join the next
        if ctx.writing.group is group:
            ctx.writing.group = None
        entries = [e for e in group.entries if not e[2].cancelled()]
        made: list[Replica | None] = []
        staged: dict[str, Replica] = {}

        def get(key: str) -> Replica | None:
            return staged.get(key) or ctx.store.get_replica(key)

        try:
            with ctx.store.transaction():
                for make, _after, _done in entries:
                    rep = make(get)
                    made.append(rep)
                    if rep is not None:
                        staged[rep.key] = rep
                ctx.store.put_replicas(staged.values())
                for _make, after, _done in entries:
                    if after is not None:
                        after()
        except Exception as exc:  # noqa: BLE001 - each writer gets the store's error, as before
            for _make, _after, done in entries:
                if not done.done():
                    done.set_exception(exc)
        else:
            for (_make, _after, done), rep in zip(entries, made):
                if not done.done():
                    done.set_result(rep)
        await asyncio.sleep(0)  # the loop reads the terminal between two commits


def changed_replica(get: Callable[[str], Replica | None], key: str, container_id: str | None,
                    **changes: Any) -> Replica | None:
    """The record of ``key`` with ``changes`` if it still stands for ``container_id``."""
    rec = get(key)
    if rec is None or rec.container_id != container_id:
        return None
    return dataclasses.replace(rec, **changes)


async def bring_image(ctx: "Context", node: Node, image: str) -> str:
    """Make ``image`` present on ``node`` (pull, or copy from another ready node / this
    machine's engine: nodes/images.py); returns how."""
    return await node.bring_image(image, ctx.fleet.ready_when_read(), timeout=ctx.timeouts.image)


async def start_replica(ctx: "Context", spec: ServiceSpec, revision: int, slot: int, node_name: str,
                        ports: tuple[int, ...], *, restarts: int = 0) -> Replica:
    """Create and start the container of a replica and record it (STARTING). On failure the
    replica is recorded as EXITED with the reason (a later pass tries again) and returned."""
    node = ctx.fleet.nodes[node_name]
    res = spec.reservation
    rep = Replica(spec.name, slot, revision, node_name, ReplicaState.PENDING, cpus=res.cpus,
                  memory=res.memory, ports=ports, restarts=restarts)
    try:
        if node.status.state != NodeState.READY:
            raise NodeError(node_name, f"the node is {node.status.state.value}")
        claims = ctx.claims
        with claims.claim(node_name, ports) as token:  # a port bound meanwhile: another one
            ports = await ports_to_start_with(ctx, spec, slot, node, ports, claims, token)
            rep = dataclasses.replace(rep, ports=ports)
            await bring_image(ctx, node, spec.image)
            files = await delivery.deliver(ctx, node, spec)
            shared = await mounting.prepare(ctx, node, spec)  # named volumes made; volumes_from ids
            ctx.check_acting()
            info = await node.run_container(container_request(spec, slot=slot, node=node_name, revision=revision,
                                                              ports=ports, owner=ctx.owner, delivered=files,
                                                              volumes_from=shared))
    except NodeError as exc:
        networks.touched(ctx, node_name)  # a network made for it may be left with no container on it
        ended = dataclasses.replace(rep, state=ReplicaState.EXITED, message=str(exc), started_at=time.time())
        why = event("start", f"{rep.key} could not start on {node_name}: {exc}", service=spec.name,
                    replica=rep.key, node=node_name, level="error")
        await write_replica(ctx, lambda _get: ended, lambda: ctx.bus.publish(why))
        return ended
    started = dataclasses.replace(rep, state=ReplicaState.STARTING, container_id=info.id, started_at=time.time(),
                                  health=Health.STARTING if info.health != "none" else Health.NONE)

    def after() -> None:  # in the record's commit: its event, and its named volumes' data is here now
        homes.record_homes(ctx, spec, started)
        ctx.bus.publish(event("start", f"{started.key} (revision {revision}) started on {node_name} as {info.name}",
                              service=spec.name, replica=started.key, node=node_name, container=info.id[:12]))

    await write_replica(ctx, lambda _get: started, after)
    return started


def update_replica(ctx: "Context", key: str, container_id: str | None, **changes: Any) -> Replica | None:
    """Change a replica's record if it still stands for ``container_id``."""
    new = changed_replica(ctx.store.get_replica, key, container_id, **changes)
    if new is not None and new != ctx.store.get_replica(key):
        ctx.store.put_replica(new)
    return new


REBINDS = 3  # new starts a wait makes for a replica that could not bind its ports (binds.py)


async def wait_ready(ctx: "Context", rep: Replica, timeout: float) -> Replica:
    """Wait until the replica's container runs, and is healthy when it has a health check.
    Returns the replica as recorded; its state tells how it ended (RUNNING, EXITED, or
    STARTING past the timeout, with a message). A replica that ended because it could not
    bind a host port is started again at once on another port or node (binds.py) and
    waited for, up to REBINDS times: the replica returned may stand for a new container."""
    for _ in range(REBINDS):
        rep = await _wait_one(ctx, rep, timeout)
        again = await _rebind(ctx, rep) if rep.state == ReplicaState.EXITED else None
        if again is None:
            return rep
        rep = again
    return await _wait_one(ctx, rep, timeout)


async def _rebind(ctx: "Context", rep: Replica) -> Replica | None:
    """The new start of ``rep`` (ended) when it could not bind its ports; None: not so, or
    something else (a reconcile pass, a command) already acted on it."""
    async with ctx.lock:
        cur = ctx.store.get_replica(rep.key)
        spec = planning.revision_spec(ctx, rep.service, rep.revision)
        if (cur is None or spec is None or cur.container_id != rep.container_id or cur.node != rep.node
                or cur.state != ReplicaState.EXITED):
            return None
        where = await binds.next_start(ctx, cur, spec)
        if where is None:
            return None  # not a bind failure: the caller (restart policy) decides
        node, ports = where
        if cur.container_id:
            await remove_container(ctx, cur.node, cur.container_id, grace=1.0)
        return await start_replica(ctx, spec, cur.revision, cur.slot, node, ports, restarts=cur.restarts + 1)


async def _wait_one(ctx: "Context", rep: Replica, timeout: float) -> Replica:
    if rep.container_id is None:
        return rep
    # woken by the container's engine events (start, health_status, die) while the reconcile
    # loop runs; polled every POLL seconds in any case
    changed = asyncio.Event()
    waiters = ctx.waiters.setdefault(rep.container_id, [])
    waiters.append(changed)
    try:
        return await _wait_ready(ctx, rep, rep.container_id, timeout, changed)
    finally:
        waiters.remove(changed)
        if not waiters:
            ctx.waiters.pop(rep.container_id, None)


async def _wait_ready(ctx: "Context", rep: Replica, container_id: str, timeout: float,
                      changed: asyncio.Event) -> Replica:
    node = ctx.fleet.nodes[rep.node]
    deadline = time.monotonic() + timeout
    spec = planning.revision_spec(ctx, rep.service, rep.revision)
    one_shot = spec is not None and spec.one_shot  # a job: waited for until it ends
    while True:
        changed.clear()
        try:
            info = await node.inspect(container_id)
        except NodeError as exc:
            message = str(exc)
            return await write_replica(
                ctx, lambda get: changed_replica(get, rep.key, rep.container_id, message=message)) or rep
        changes = _settled(info, timeout, time.monotonic() >= deadline, one_shot)
        if changes is not None:
            return await write_replica(ctx, lambda get: _settle(get, rep, changes)) or rep
        await wait_event(changed, POLL)


async def owned_containers(ctx: "Context", service: str) -> list[tuple[str, ContainerInfo]]:
    """(node, container) of every container of ``service`` this controller made, on the
    Ready nodes (a node that cannot list is left out)."""
    ready = ctx.fleet.ready()
    listings = await asyncio.gather(*(n.list_owned() for n in ready), return_exceptions=True)
    return [(n.name, c) for n, found in zip(ready, listings) if not isinstance(found, BaseException)
            for c in found if c.label(LABEL_SERVICE) == service and c.label(LABEL_OWNER) == ctx.owner]


async def remove_container(ctx: "Context", node_name: str, container_id: str, grace: float = 10.0) -> bool:
    """Stop and remove an owned container; False when its node cannot be reached. A replica in
    rotation is drained first (traffic.py): no new connections, its own finish within grace."""
    node = ctx.fleet.nodes.get(node_name)
    if node is None or node.status.state != NodeState.READY:
        return False
    ctx.check_acting()
    await traffic.drain(ctx, container_id, grace)  # out of rotation first, its connections done
    ctx.check_acting()
    with contextlib.suppress(NodeError):
        await node.stop_container(container_id, timeout=grace)
    traffic.stopped(ctx, container_id)
    ctx.check_acting()
    try:
        await node.remove_container(container_id)
    except NodeError:
        return False
    networks.touched(ctx, node_name)  # its networks may be unused there now
    return True


async def stop_replica(ctx: "Context", rep: Replica, reason: str) -> None:
    """Stop a replica's container and forget its record. A container left on an unreachable
    node is kept as a lost copy (lost.py): the first full pass or command that lists the node
    again removes it, or adopts it when its replacement does not serve (sweep.py)."""
    grace = 10.0
    cur = planning.revision_spec(ctx, rep.service, rep.revision)
    if cur is not None:
        grace = cur.stop_grace_period
    if rep.container_id is not None:
        update_replica(ctx, rep.key, rep.container_id, state=ReplicaState.STOPPING)
        done = await remove_container(ctx, rep.node, rep.container_id, grace)
    else:
        done = True
    rec = ctx.store.get_replica(rep.key)
    if rec is not None and rec.container_id == rep.container_id and rec.node == rep.node:
        ctx.store.remove_replica(rep.key)
    if not done:  # it may still run there: whoever lists the node again removes or adopts it (lost.py)
        ctx.store.put_lost_copy(rep)
    how = "stopped" if done else "left for later (node unreachable)"
    ctx.bus.publish(event("stop", f"{rep.key} on {rep.node} {how}: {reason}", service=rep.service,
                          replica=rep.key, node=rep.node))


async def execute(ctx: "Context", p: Plan, wanted: "Desired", result: ApplyResult | None = None) -> list[Replica]:
    """Carry out a plan: stops first (they free resources), then starts; the caller holds the
    lock. Returns the replicas started (to be waited for)."""
    stops = []
    for s in p.stops:
        rec = ctx.store.get_replica(s.key)
        if rec is not None and rec.node == s.node:
            stops.append(stop_replica(ctx, rec, s.reason))
            if result is not None:
                result.stopped.append(s.key)
    await asyncio.gather(*stops)
    if stops:  # no start of this plan is in flight yet: files no replica uses go (delivery.py)
        await delivery.prune(ctx)
    held = held_back(ctx, wanted)  # depends_on: those whose dependencies are not there yet wait
    starts = [start_replica(ctx, wanted[s.service][0], wanted[s.service][1], s.slot, s.node, s.ports)
              for s in p.starts if s.service not in held]
    return list(await asyncio.gather(*starts))


def _settle(get: Callable[[str], Replica | None], rep: Replica, changes: dict[str, Any]) -> Replica | None:
    cur = get(rep.key)
    if changes.get("state") == ReplicaState.RUNNING and cur is not None:
        # a replica the loop already moved on (stopping...) keeps its state
        changes = {**changes, "state": ReplicaState.RUNNING if cur.state == ReplicaState.STARTING else cur.state}
    return changed_replica(get, rep.key, rep.container_id, **changes)


def _settled(info: ContainerInfo, timeout: float, late: bool, one_shot: bool = False) -> dict[str, Any] | None:
    """The changes to record once ``info`` ends the wait, None to wait on. A one-shot job
    (restart "no") is waited for until it ends: exit 0 is its success ("completed")."""
    health = Health(info.health) if info.health in {h.value for h in Health} else Health.NONE
    if info.status in ("exited", "dead"):
        done = one_shot and info.exit_code == 0
        return dict(state=ReplicaState.EXITED, health=health, exit_code=info.exit_code,
                    message=COMPLETED if done else f"exited with code {info.exit_code}")
    if one_shot and info.status == "running" and not late:
        return None
    if one_shot and info.status == "running":
        return dict(state=ReplicaState.RUNNING, health=health, message=f"job still running after {timeout:g} s")
    if info.status == "running" and health in (Health.NONE, Health.HEALTHY):
        return dict(state=ReplicaState.RUNNING, health=health, message="")
    if info.status == "running" and health == Health.UNHEALTHY:
        return dict(health=health, message="unhealthy: its health check fails")
    if late:
        what = "healthy" if info.status == "running" else "running"
        return dict(health=health, message=f"not {what} after {timeout:g} s")
    return None
