"""The restart baton (see containers.py): one restarter at a time, the controller or the engine.

``take_over``: when the reconcile loop starts, and when a node becomes Ready while it runs,
every container the controller owns there gets the engine policy ``no``: from then on only
the controller restarts them. ``hand_back``: when the controller closes, the container of
each wanted replica gets the engine policy derived from its service's restart_policy, so
that the engine restarts it while no controller runs. Both work on all nodes in parallel,
bounded in time; a failure is an event, never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tui_orch.controller import planning
from tui_orch.controller.containers import CONTROLLER_HOLDS, LABEL_OWNER, engine_restart_policy
from tui_orch.controller.events import event
from tui_orch.errors import ContainerNotFound
from tui_orch.model import NodeState, Replica, ReplicaState
from tui_orch.nodes.base import Node

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

HANDOVER_TIMEOUT = 10.0  # seconds for a whole take-over or hand-back
WANTED = (ReplicaState.STARTING, ReplicaState.RUNNING, ReplicaState.EXITED)  # FAILED: given up, stays down


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(exc) or type(exc).__name__


def _failure(res: object) -> BaseException | None:
    """The exception of a gathered result (re-raised when it is a cancellation)."""
    if isinstance(res, BaseException) and not isinstance(res, Exception):
        raise res
    return res if isinstance(res, Exception) else None


async def take_over(ctx: "Context", nodes: Iterable[Node], started: dict[str, float] | None = None,
                    timeout: float = HANDOVER_TIMEOUT) -> set[str]:
    """Set the engine policy ``no`` on every container ``ctx`` owns on ``nodes``; returns the
    names of the nodes where that is done (the others are tried again by the next pass).
    ``started`` receives each running container's start time (engine clock): a ``die`` event
    older than that was followed by a restart by its engine, before the take-over."""
    todo = list(nodes)
    seen = started if started is not None else {}
    results = await asyncio.gather(*(asyncio.wait_for(_take_node(ctx, n, seen), timeout) for n in todo),
                                   return_exceptions=True)
    done = set()
    for node, res in zip(todo, results):
        exc = _failure(res)
        if exc is not None:
            ctx.bus.publish(event("handover", f"could not take over restarts on {node.name} from its engine: "
                                             f"{_why(exc, timeout)}", node=node.name, level="warning"))
        else:
            done.add(node.name)
    return done


async def _take_node(ctx: "Context", node: Node, started: dict[str, float]) -> None:
    known = {r.container_id for r in ctx.store.replicas() if r.node == node.name and r.container_id}
    mine = []
    for c in await node.list_owned():
        if c.label(LABEL_OWNER) == ctx.owner or c.id in known:
            mine.append(c.id)
            if c.status == "running" and c.started_at:
                started[c.id] = c.started_at

    async def hold(container_id: str) -> None:
        with contextlib.suppress(ContainerNotFound):  # removed meanwhile
            await node.set_restart_policy(container_id, CONTROLLER_HOLDS)

    await asyncio.gather(*(hold(cid) for cid in mine))


def _handed(ctx: "Context") -> list[tuple[Replica, Node, str, int]]:
    """(replica, its node, engine policy, max retries) of every wanted replica on a Ready node."""
    desired = planning.desired(ctx)
    out = []
    for rec in ctx.store.replicas():
        node = ctx.fleet.nodes.get(rec.node)
        if (rec.service not in desired or rec.container_id is None or rec.state not in WANTED
                or node is None or node.status.state != NodeState.READY):
            continue
        spec = planning.revision_spec(ctx, rec.service, rec.revision) or desired[rec.service][0]
        name, retries = engine_restart_policy(spec.restart_policy)
        out.append((rec, node, name, retries))
    return out


async def hand_back(ctx: "Context", timeout: float = HANDOVER_TIMEOUT) -> int:
    """Give each wanted replica's container its derived engine policy (the controller is
    closing); returns how many the engines will now restart (policy other than ``no``). Waits for the controller's lock (a command in
    flight may be creating a container) at most ``timeout`` seconds. A process that no longer
    leads its (etcd) state hands nothing: the containers are the new leader's."""
    if not ctx.store.acting():
        return 0
    locked = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await ctx.lock.acquire()
        locked = True
    try:
        jobs = _handed(ctx)
        results = await asyncio.gather(
            *(asyncio.wait_for(node.set_restart_policy(rec.container_id or "", name, retries), timeout)
              for rec, node, name, retries in jobs),
            return_exceptions=True)
    finally:
        if locked:
            ctx.lock.release()
    handed = 0
    for (rec, node, name, _), res in zip(jobs, results):
        exc = _failure(res)
        if isinstance(exc, ContainerNotFound):
            continue  # gone: the next controller starts a new one
        if exc is not None:
            ctx.bus.publish(event("handover", f"could not hand the restarts of {rec.key} to the engine of "
                                             f"{node.name}: {_why(exc, timeout)}", service=rec.service,
                                  replica=rec.key, node=node.name, level="warning"))
        elif name != "no":
            handed += 1
    if handed:
        ctx.bus.publish(event("handover", f"controller closing: the engines restart {handed} replica(s) "
                                         f"that die until a controller runs again"))
    return handed
