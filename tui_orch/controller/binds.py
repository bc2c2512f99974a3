"""A replica whose process cannot bind its host port is given another port, or another node.

The ports read on a node before a start (ports.py) miss what binds later (a process started
between the read and the replica's own bind) and what the kernel's tables do not show as
listening (a connected socket holding the port, another network namespace): the replica then
exits at once, and restarting it on the same port and node crash-loops it for good (backoff
up to 5 minutes). So when a replica with host ports ends within ``QUICK`` seconds of its start,
the engine's error (published ports) or the last lines of its log are read for a bind
failure; if so its ports are refused on that node for ``REFUSED_FOR`` seconds (PortClaims),
and its next start takes another dynamic port on the same node (ports_to_start_with), or,
when a static port failed, another node that fits (a static port cannot change). Nothing
else fits: it stays where it is and its policy's backoff goes on (the port may come free).
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import TYPE_CHECKING

from tui_orch import placement
from tui_orch.controller import planning
from tui_orch.controller.events import event
from tui_orch.errors import NodeError
from tui_orch.model import Replica, ServiceSpec
from tui_orch.placement.homes import data_line

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

# what engines (published ports), libcs (strerror of EADDRINUSE) and ports.py say
BIND_FAILED = re.compile(r"address already in use|address in use|eaddrinuse|port is already allocated|"
                         r"host port\(s\) [\d, ]+ in use on the node", re.IGNORECASE)
QUICK = 30.0  # seconds: an end this soon after the start is looked at for a bind failure
LOG_LINES = 20


async def bind_failed(ctx: "Context", rep: Replica) -> bool:
    """Whether ``rep``, just ended, could not bind a host port: its record's message (the
    engine's error when starting it) or, when it ended within QUICK s, its last log lines say so."""
    if not rep.ports:
        return False
    if BIND_FAILED.search(rep.message or ""):
        return True
    node = ctx.fleet.nodes.get(rep.node)
    if node is None or rep.container_id is None or time.time() - (rep.started_at or 0.0) > QUICK:
        return False
    try:
        lines = [line async for line in node.logs(rep.container_id, tail=LOG_LINES)]
    except NodeError:
        return False
    return any(BIND_FAILED.search(line) for line in lines)


def _static(spec: ServiceSpec, ports: tuple[int, ...]) -> set[int]:
    return {host for port, host in zip(spec.ports, ports) if port.host_port is not None}


async def next_start(ctx: "Context", rep: Replica, spec: ServiceSpec) -> tuple[str, tuple[int, ...]] | None:
    """Where the next start of ``rep`` (ended; its container not yet removed) goes when it
    could not bind its ports (None: it did not fail so): they are refused on its node; a
    static one sends it to another node that fits (ports_to_start_with changes dynamic ones)."""
    if not await bind_failed(ctx, rep):
        return None
    claims = ctx.claims
    claims.refuse(rep.node, rep.ports, time.monotonic())
    static = _static(spec, rep.ports)
    if not static or not rep.slot:  # a global replica's place is its node
        ctx.bus.publish(event("start", f"{rep.key} could not bind host port(s) {_list(rep.ports)} on {rep.node}; "
                                       f"it gets another port there", service=rep.service, replica=rep.key,
                              node=rep.node, level="warning"))
        return rep.node, rep.ports
    if planning.homes_for(ctx, {spec.name: (spec, rep.revision)}).get(rep.key) == rep.node:
        ctx.bus.publish(event("start", f"{rep.key} could not bind static host port(s) {_list(static)} on {rep.node} "
                                       f"and stays there: {data_line(spec)}", service=rep.service,
                              replica=rep.key, node=rep.node, level="error"))
        return rep.node, rep.ports  # started empty elsewhere, it would lose its data's writes
    infos = [dataclasses.replace(i, ports_in_use=i.ports_in_use | claims.refused(i.name, time.monotonic()))
             for i in planning.node_infos(ctx) if i.name != rep.node]
    p = placement.place(spec, [rep.slot], infos, [r for r in ctx.store.replicas() if r.key != rep.key])
    if not p.starts:
        why = p.unschedulable[0].reason if p.unschedulable else "no other node"
        ctx.bus.publish(event("start", f"{rep.key} could not bind static host port(s) {_list(static)} on {rep.node} "
                                       f"and no other node fits ({why}); it stays there", service=rep.service,
                              replica=rep.key, node=rep.node, level="error"))
        return rep.node, rep.ports
    s = p.starts[0]
    ctx.bus.publish(event("reschedule", f"{rep.key} could not bind static host port(s) {_list(static)} on "
                                        f"{rep.node}; placing it on {s.node}", service=rep.service,
                          replica=rep.key, node=s.node, level="warning"))
    return s.node, s.ports


def _list(ports: set[int] | tuple[int, ...]) -> str:
    return ", ".join(str(p) for p in sorted(set(ports)))
