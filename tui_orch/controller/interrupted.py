"""Rollouts that a command left in progress when it died (SIGKILL, a closed terminal) are
carried on by the next command that takes the state folder, before it acts.

Why before: a command that plans around a half-done rollout loses what its records do not
say. An `apply` of the same file answered "unchanged" and left the rollout at its batch; an
`apply` of another file wrote a new rollout record over the old one and with it the old
start-first replica that record kept serving (left running, untracked, holding its port);
a replacement created just before the death, whose record was never written, stayed as an
orphan; a replica stopped but not yet removed stayed as an exited container.

So every command (apply, rm, scale, rollout ..., cordon/drain/uncordon) first
- tidies each interrupted rollout's service under the lock: finishes the stops the dead
  command began (records STOPPING or STOPPED) and removes the service's containers that no
  record stands for (neither a replica nor an old replica the rollout keeps serving);
- carries the rollout on: to its end (or its failure action), or, for a service the command
  is about to give a new revision (apply, restart, undo, pause), to the end of the batch it
  was in, so that the new rollout record replaces one that holds no old replica.

A rollout is interrupted when its record is in progress (or holds a batch) and no task of
this controller runs it: in a command's process every stored one is; in the console none
is, since it resumes them all when it starts (``Rollouts.resume_all``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tui_orch.controller import deploy
from tui_orch.controller.events import event
from tui_orch.controller.rollout import GONE, Rollouts, load, retired
from tui_orch.model import Rollout, from_dict

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.store import Store


def unfinished(ro: Rollout) -> bool:
    """In progress, or stopped (paused) in the middle of a batch."""
    return ro.active or bool(ro.batch_keys) or bool(ro.retiring)


def stored(store: "Store") -> list[str]:
    """Services whose stored rollout is unfinished (whoever runs it)."""
    return sorted(name for name, data in store.rollouts().items()
                  if store.get_service(name) is not None and unfinished(from_dict(Rollout, data)))


def pending(ctx: "Context", rollouts: Rollouts) -> list[str]:
    """Services whose rollout is unfinished and not being carried out here."""
    return [name for name in stored(ctx.store) if not rollouts.running(name)]


async def settle(ctx: "Context", rollouts: Rollouts, halt: Iterable[str] = (), skip: Iterable[str] = ()) -> None:
    """Carry on every interrupted rollout but those of ``skip``: to its end, or to the end of
    its batch for the services of ``halt``."""
    halt, skip = set(halt), set(skip)
    names = [name for name in pending(ctx, rollouts) if name not in skip]
    if not names:
        return
    async with ctx.lock:
        for name in names:
            await tidy(ctx, name)
    await asyncio.gather(*(rollouts.carry_on(name, halt=name in halt) for name in names))


async def tidy(ctx: "Context", service: str) -> None:
    """Under the lock: finish the stops begun, remove the containers nobody stands for."""
    for rec in ctx.store.replicas(service):
        if rec.state in GONE:
            await deploy.stop_replica(ctx, rec, "its stop was interrupted")
    wanted = {r.container_id for r in ctx.store.replicas(service) if r.container_id}
    wanted |= {r.container_id for r in retired(load(ctx, service)).values() if r.container_id}
    for node, c in await deploy.owned_containers(ctx, service):
        if c.id in wanted:
            continue
        await deploy.remove_container(ctx, node, c.id, 1.0)
        ctx.bus.publish(event("stop", f"removed {c.name} on {node}: left by an interrupted rollout of {service}",
                              service=service, node=node))
