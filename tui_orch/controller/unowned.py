"""Containers and replicas of services this state does not stand for: unowned.

A controller removes a service's containers only when the state says the operator removed
it (a ``rm``: the service record marked removed, or its tombstone in the store). A service
that merely is not in the state (a state file lost, emptied or restored from an old copy)
may still be running and wanted: its replicas hold their resources and ports but are never
planned (never stopped as "no longer deployed"), its containers are never removed as orphans, and each one is
reported once as unowned (an event) for the operator to decide: restore the state, or
``tui-orch rm SERVICE`` (then ``docker rm`` what has no record).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_orch.controller.events import event
from tui_orch.model import Replica, ReplicaState
from tui_orch.nodes.base import LABEL_REPLICA, LABEL_SERVICE, ContainerInfo

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.store import Store


@dataclass(frozen=True)
class UnownedContainer:
    """A container of ours, of a service the state does not know, as the last pass found it."""

    service: str
    key: str  # its replica label (its container name when it has none)
    node: str
    image: str
    running: bool
    container_id: str

    @classmethod
    def of(cls, service: str, node: str, c: ContainerInfo) -> "UnownedContainer":
        return cls(service, c.label(LABEL_REPLICA) or c.name, node, c.image, c.status == "running", c.id)


def owned_replicas(store: "Store", adopting: Iterable[str] = ()) -> list[Replica]:
    """The planner's input: the replica records of services the state stands for (or is about
    to: ``adopting``), and those of unowned services as held (STOPPING: the planner counts
    their resources and ports but never stops or replaces them)."""
    adopted = set(adopting)
    out = []
    for r in store.replicas():
        if not store.known(r.service) and r.service not in adopted and r.state != ReplicaState.STOPPED:
            r = dataclasses.replace(r, state=ReplicaState.STOPPING)
        out.append(r)
    return out


def unowned_service(store: "Store", container: ContainerInfo) -> str | None:
    """The service of a container of ours that the state does not know, else None."""
    service = container.label(LABEL_SERVICE)
    return service if service and not store.known(service) else None


def report(ctx: "Context", seen: dict[str, set[str]], found: dict[str, set[str]]) -> None:
    """Publish one warning per unowned service the first time (or when its nodes change);
    ``seen`` (service -> nodes) is what was reported before and is updated in place."""
    for service, nodes in sorted(found.items()):
        if seen.get(service) != nodes:
            ctx.bus.publish(event(
                "unowned", f"service {service} is not in the state ({ctx.store.folder}) but runs on "
                f"{', '.join(sorted(nodes))}: kept, not removed; restore the state, or remove it "
                f"with `tui-orch rm {service}`", service=service, level="warning"))
    for service in [s for s in seen if s not in found]:
        del seen[service]
    seen.update(found)


def unowned_records(store: "Store", replicas: Iterable[Replica]) -> dict[str, set[str]]:
    """service -> nodes of the replica records whose service the state does not know."""
    out: dict[str, set[str]] = {}
    for r in replicas:
        if not store.known(r.service):
            out.setdefault(r.service, set()).add(r.node)
    return out
