"""Placing one replica at a time (a rollout's next replica, a restart elsewhere) on a placer
kept current (``placement.LivePlacement``) instead of one made from every node and replica
for each (1 to 2 s at 50,000 nodes).

The kept placer follows the store's replica records through its journal (the keys written or
removed since it last looked; a new journal, after the records were read again, makes it
anew). It takes the nodes as the planner sees them (``planning.node_infos``) again when a
node changed state, an availability or the desired services (their ingress ports) changed,
or ``NODES_EVERY`` seconds passed (measured use, which decides which nodes run hot, and the
grace period of a node that is not Ready); it follows changed nodes in place, and is made
anew when a node came or went or changed its resources, labels or host.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tui_orch import placement
from tui_orch.controller import planning
from tui_orch.controller.context import Context
from tui_orch.model import Availability, Replica, ServiceSpec
from tui_orch.placement import Plan

NODES_EVERY = 2.0  # seconds between rereads of every node when no state change says to


@dataclass
class Kept:
    live: object  # placement.LivePlacement
    journal: list[str]
    seen: int  # entries of the journal followed
    nodes_key: tuple
    nodes_at: float


def _nodes_key(ctx: Context) -> tuple:
    store = ctx.store
    return (ctx.fleet.state_changes, id(ctx.fleet.nodes), len(ctx.fleet.nodes), store.desired_changes,
            tuple(store.availability().items()))


def kept(ctx: Context) -> placement.LivePlacement:
    """The placer, brought up to date with the store and the fleet."""
    store = ctx.store
    k: Kept | None = ctx.placing.get("kept")
    key = _nodes_key(ctx)
    now = time.monotonic()
    if k is None or k.journal is not store.replica_journal:
        journal = store.replica_journal
        live = placement.LivePlacement(planning.node_infos(ctx), store.replicas())
        ctx.placing["kept"] = Kept(live, journal, len(journal), key, now)
        return live
    live = k.live  # type: ignore[assignment]
    journal = k.journal
    end = len(journal)
    if end > k.seen:
        keys = dict.fromkeys(journal[k.seen:end])
        k.seen = end
        records = {name: store.get_replica(name) for name in keys}
        live.drop([name for name, r in records.items() if r is None])
        live.put([r for r in records.values() if r is not None])
    if key != k.nodes_key or now - k.nodes_at > NODES_EVERY:
        infos = planning.node_infos(ctx)
        if not live.nodes_changed(infos):
            live = placement.LivePlacement(infos, store.replicas())
            k.live = live
        k.nodes_key, k.nodes_at = key, now
    return live


def place(ctx: Context, spec: ServiceSpec, slots: Sequence[int], *, on: Sequence[str] = (),
          homes: Mapping[str, str] = {}, without: Iterable[str] = (), extra: Sequence[Replica] = (),
          avoid: Sequence[str] = ()) -> Plan:
    """``placement.place(spec, slots, nodes, current, on=on, homes=homes)`` on the kept placer,
    where ``nodes`` is ``planning.node_infos(ctx)`` with the nodes ``avoid`` cordoned, and
    ``current`` the store's replica records but the keys ``without``, and ``extra``."""
    without = tuple(without)
    plan = kept(ctx).place(spec, slots, on=on, homes=homes, without=without, extra=extra, avoid=avoid)
    if plan is None:  # cordoning ``avoid`` changes the scale of the scores: from scratch
        nodes = [n if n.name not in avoid else dataclasses.replace(n, availability=Availability.CORDONED)
                 for n in planning.node_infos(ctx)]
        current = [r for r in ctx.store.replicas() if r.key not in without]
        plan = placement.place(spec, slots, nodes, [*current, *extra], on=on, homes=homes)
    return plan
