"""One placer kept current as replicas and nodes change: how the controller places one replica
at a time (a rollout's next replica, a restart elsewhere) without making the fleet anew for
each (1 to 2 s at 50,000 nodes; placing on a kept one takes well under a millisecond).

    live = LivePlacement(nodes, current)
    live.put(replicas) / live.drop(keys)        # records written / removed
    live.nodes_changed(nodes)                   # False: make a new one
    live.place(spec, slots, on=, homes=, without=, extra=) -> Plan

``place`` gives exactly what ``placement.place`` gives for the same nodes and replicas (the
tests compare them), and leaves the placer as it found it: what it places is counted once
its records are ``put``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from typing import Iterator

from tui_orch.model import Availability, NodeInfo, Replica, ServiceSpec
from tui_orch.placement.engine import Placer
from tui_orch.placement.planner import place_with
from tui_orch.placement.pool import hot_note, nano
from tui_orch.placement.result import PlacementOptions, Plan

LOG_MAX = 100_000  # changed nodes the pool's log keeps (beyond 8 a node) before it starts afresh
Item = tuple[int, "str | None", int, int, tuple[int, ...]]  # NodePool.hold's (node, service or None, rc, rm, ports)


def _fixed(x: NodeInfo) -> tuple:
    """What of a node the pool takes once, when it is made (its bound ports: ``rebind``)."""
    return (x.capacity, x.reserved, x.labels, x.hostname, x.host_id, x.platform)


class LivePlacement:
    def __init__(self, nodes: Sequence[NodeInfo], current: Iterable[Replica] = (),
                 options: PlacementOptions | None = None) -> None:
        self.placer = Placer(nodes, (), options)
        self.fleet = self.placer.fleet
        self.nodes: dict[str, NodeInfo] = {x.name: x for x in self.fleet.infos}
        self.held: dict[str, Item] = {}
        # (node, port) -> how many held replicas hold it: a port held twice on a node of its own
        # host (records of an earlier state may say so) stays held until both are gone, as in
        # a pool made afresh (nodes that share a host count theirs in NodePool.mine)
        self.refs: Counter[tuple[int, int]] = Counter()
        self.put(current)

    def put(self, replicas: Iterable[Replica]) -> None:
        """Replica records written (new, or replacing the one of their key)."""
        items = []
        for r in replicas:
            self._drop(r.key)
            item = self.placer.held_item(r)
            if item is not None:
                self.held[r.key] = item
                items.append(item)
        self._hold(items)

    def _hold(self, items: list[Item]) -> None:
        for i, _, _, _, ports in items:
            for p in ports:
                self.refs[i, p] += 1
        self.fleet.hold(items)

    def _release(self, item: Item) -> None:
        i, service, rc, rm, ports = item
        refs = self.refs
        for p in ports:
            refs[i, p] -= 1
        if i not in self.fleet.mine:
            ports = tuple(p for p in ports if refs[i, p] <= 0)
        for p in item[4]:
            if refs[i, p] <= 0:
                refs.pop((i, p), None)
        self.fleet.remove(i, service, rc, rm, ports)

    def drop(self, keys: Iterable[str]) -> None:
        """Replica records removed."""
        for key in keys:
            self._drop(key)

    def _drop(self, key: str) -> Item | None:
        item = self.held.pop(key, None)
        if item is not None:
            self._release(item)
        return item

    def nodes_changed(self, nodes: Sequence[NodeInfo]) -> bool:
        """Follow the nodes as they are now. False when this placer cannot (a node came or
        went, or changed more than its state, availability or measured use): make a new one."""
        if len(nodes) != len(self.nodes):
            return False
        for x in nodes:
            old = self.nodes.get(x.name)
            if old is None:
                return False
            if old is x or old == x:
                continue
            if _fixed(old) != _fixed(x):
                return False
            if old.ports_in_use != x.ports_in_use:
                i = self.fleet.index[x.name]
                self.fleet.rebind(x, lambda p: self.refs.get((i, p), 0) > 0)
            opts = self.fleet.options
            if (old.state, old.availability, hot_note(old, opts)) != (x.state, x.availability, hot_note(x, opts)):
                if not self.fleet.update_node(x):
                    return False
            self.nodes[x.name] = x
        return True

    @contextmanager
    def _as_if(self, without: Iterable[str], extra: Sequence[Replica]) -> Iterator[None]:
        """The fleet without the replicas ``without`` (keys) and with ``extra`` as well."""
        gone = [(key, item) for key in dict.fromkeys(without) if (item := self._drop(key)) is not None]
        added = [item for r in extra if (item := self.placer.held_item(r)) is not None]
        self._hold(added)
        try:
            yield
        finally:
            for item in added:
                self._release(item)
            self._hold([item for _, item in gone])
            self.held.update(gone)

    @contextmanager
    def _avoiding(self, names: Sequence[str]) -> Iterator[bool]:
        """The nodes ``names`` cordoned (their replicas still hold what they hold); False when
        that would change the scale of the scores (the largest node): then nothing is changed."""
        fleet = self.fleet
        done: list[NodeInfo] = []
        ok = True
        for name in names:
            info = self.nodes.get(name)
            if info is None or not info.schedulable:
                continue
            if not fleet.update_node(dataclasses.replace(info, availability=Availability.CORDONED)):
                ok = False
                break
            done.append(info)
        try:
            yield ok
        finally:
            for info in done:
                fleet.update_node(info)

    def place(self, spec: ServiceSpec, slots: Sequence[int], *, on: Sequence[str] = (),
              homes: Mapping[str, str] = {}, without: Iterable[str] = (), extra: Sequence[Replica] = (),
              avoid: Sequence[str] = ()) -> Plan | None:
        """``placement.place(spec, slots, nodes, current, on=on, homes=homes)``, where
        ``current`` is every replica put here but those of the keys ``without``, and ``extra``.
        ``avoid``: nodes to place nothing on (as if cordoned; None when this placer cannot
        do that: place from scratch without them)."""
        fleet = self.fleet
        if len(fleet.changes) > LOG_MAX + 8 * fleet.n:  # what the rankings follow: start it afresh
            fleet.changes.clear()
            self.placer.ranked.clear()
            self.placer.empty.clear()
        with self._avoiding(avoid) as ok:
            if not ok:
                return None
            with self._as_if(without, extra):
                plan = place_with(self.placer, spec, slots, on=on, homes=homes)
                index = self.fleet.index
                for s in plan.starts:  # what it placed is counted when its record is put
                    self.fleet.remove(index[s.node], s.service, nano(s.cpus), s.memory, s.ports)
        return plan


__all__ = ["LivePlacement"]
