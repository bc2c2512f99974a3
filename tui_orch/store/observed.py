"""Observed-state methods of the Store: replicas and node status (observed.json), and the
event log (events.jsonl)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from tui_orch.errors import StoreError
from tui_orch.model import Event, Replica, from_dict, to_dict
from tui_orch.store.base import OBSERVED, StoreBase, _json_copy, _replace_with, _reader
from tui_orch.store.records import LOST, NODES, REPLICAS_PREFIX, replica_key


JOURNAL_MAX = 100_000  # keys in the replica journal before it starts afresh


class ObservedMixin(StoreBase):
    # ------------------------------------------------------------------ replicas

    def put_replica(self, rep: Replica) -> None:
        self.put_replicas([rep])

    def put_replicas(self, reps: Iterable[Replica]) -> None:
        """Insert or replace replicas (by key), all in one durable write."""
        by_key: dict[str, Replica] = {}
        for rep in reps:
            if not isinstance(rep, Replica):
                raise TypeError(f"expected a Replica, got {type(rep).__name__}")
            by_key[rep.key] = rep
        docs = {key: to_dict(rep) for key, rep in by_key.items()}
        groups: dict[str, list[str]] = {}
        for key, rep in by_key.items():
            groups.setdefault(rep.service, []).append(key)
        with self.transaction():
            for service, keys in groups.items():
                self._put_replica_group(service, keys, docs)
            self._replica_cache.update(by_key)
            self._journal(by_key)

    def _put_replica_group(self, service: str, keys: list[str], docs: dict[str, dict[str, Any]]) -> None:
        ids = self._o.replica_ids
        table_name = REPLICAS_PREFIX + service
        existing = {ids[k][1]: k for k in keys if k in ids}
        changed = [i for i, k in existing.items() if self._raw(OBSERVED, table_name, i) != docs[k]]
        new = [k for k in keys if k not in ids]
        if not changed and not new:
            return
        table = self._table(OBSERVED, table_name, changed)
        raw = self._raw_table(table_name)
        for i in changed:  # replaced in place, as TinyDB's update would (its update copies the table)
            doc = raw[str(i)]
            doc.clear()
            doc.update(docs[existing[i]])
        if new:
            self._o.ordered = None
            inserted = [table._get_next_id() for _ in new]  # noqa: SLF001 - TinyDB's own id counter
            self._table(OBSERVED, table_name, inserted)
            for key, doc_id in zip(new, inserted):
                raw[str(doc_id)] = dict(docs[key])
                ids[key] = (service, doc_id)
        self._raw_written(table_name)

    def remove_replica(self, key: str) -> bool:
        return self.remove_replicas([key]) == 1

    def remove_replicas(self, keys: Iterable[str]) -> int:
        """Forget replicas by key, in one write. Returns how many there were."""
        with self.transaction():
            by_service: dict[str, list[int]] = {}
            for key in set(keys):
                found = self._o.replica_ids.pop(key, None)
                if found:
                    self._o.ordered = None
                    by_service.setdefault(found[0], []).append(found[1])
                self._replica_cache.pop(key, None)
                if found:
                    self._journal((key,))
            for service, doc_ids in by_service.items():
                self._table(OBSERVED, REPLICAS_PREFIX + service, doc_ids)
                raw = self._raw_table(REPLICAS_PREFIX + service)
                for doc_id in doc_ids:
                    raw.pop(str(doc_id), None)
                self._raw_written(REPLICAS_PREFIX + service)
        return sum(len(v) for v in by_service.values())

    def _journal(self, keys: Iterable[str]) -> None:
        """Note replica records written or removed (``replica_journal``); a long journal is
        started afresh (its readers then read every record again)."""
        if len(self.replica_journal) > JOURNAL_MAX:
            self.replica_journal = []
        self.replica_journal.extend(keys)

    def _replica(self, key: str) -> Replica | None:
        rep = self._replica_cache.get(key)
        if rep is None:
            found = self._o.replica_ids.get(key)
            if found is None:
                return None
            raw = self._raw(OBSERVED, REPLICAS_PREFIX + found[0], found[1])
            try:
                rep = from_dict(Replica, raw)
            except (TypeError, ValueError, KeyError) as exc:
                raise StoreError(f"replica {key} in {self._observed.path} cannot be read ({exc})") from None
            self._replica_cache[key] = rep
        return rep

    @_reader
    def get_replica(self, key: str) -> Replica | None:
        return self._replica(key)

    @_reader
    def replicas(self, service: str | None = None) -> list[Replica]:
        """Replicas (of one service or all), ordered by service, slot, node."""
        o = self._o
        if o.ordered is None:
            everyone = [r for k in o.replica_ids if (r := self._replica(k)) is not None]
            everyone.sort(key=lambda r: (r.service, r.slot, r.node))
            o.ordered = [r.key for r in everyone]
            if service is None:
                return everyone
        keys = o.ordered if service is None else [k for k in o.ordered if o.replica_ids[k][0] == service]
        return [r for k in keys if (r := self._replica(k)) is not None]

    # ------------------------------------------------------------------ node status

    def put_node_status(self, name: str, status: Mapping[str, Any]) -> None:
        """Set what was last observed of a node (plain JSON data)."""
        doc = {"name": name, "status": _json_copy(dict(status))}
        with self.transaction():
            self._put(OBSERVED, NODES, self._o.node_ids, name, doc)

    def remove_node_status(self, name: str) -> bool:
        with self.transaction():
            return self._delete(OBSERVED, NODES, self._o.node_ids, name)

    @_reader
    def get_node_status(self, name: str) -> dict[str, Any] | None:
        doc_id = self._o.node_ids.get(name)
        return None if doc_id is None else _json_copy(self._raw(OBSERVED, NODES, doc_id)["status"])

    @_reader
    def node_status(self) -> dict[str, dict[str, Any]]:
        return {
            name: _json_copy(self._raw(OBSERVED, NODES, self._o.node_ids[name])["status"])
            for name in sorted(self._o.node_ids)
        }

    # ------------------------------------------------------------------ lost copies

    def put_lost_copy(self, rep: Replica) -> None:
        """Keep the record ``rep`` had when its node was cut off, by its container id: the
        copy may still run there, and whichever controller sees the node back decides on it."""
        if rep.container_id is None:
            return
        doc = {"container": rep.container_id, "replica": to_dict(rep)}
        with self.transaction():
            self._put(OBSERVED, LOST, self._o.lost_ids, rep.container_id, doc)

    def take_lost_copy(self, container_id: str) -> Replica | None:
        """The kept record of ``container_id`` (None: none), forgotten from now on."""
        doc_id = self._o.lost_ids.get(container_id)
        if doc_id is None:
            return None
        raw = self._raw(OBSERVED, LOST, doc_id)["replica"]
        with self.transaction():
            self._delete(OBSERVED, LOST, self._o.lost_ids, container_id)
        try:
            return from_dict(Replica, raw)
        except (TypeError, ValueError, KeyError):
            return None  # unreadable: as if not kept (the copy is then treated as an orphan)

    @_reader
    def lost_copies(self) -> dict[str, Replica]:
        """Container id -> the record kept for it (``put_lost_copy``)."""
        out: dict[str, Replica] = {}
        for container_id, doc_id in self._o.lost_ids.items():
            with contextlib.suppress(TypeError, ValueError, KeyError):
                out[container_id] = from_dict(Replica, self._raw(OBSERVED, LOST, doc_id)["replica"])
        return out

    # ------------------------------------------------------------------ events

    def append_event(self, ev: Event) -> None:
        self.append_events([ev])

    def append_events(self, evs: Iterable[Event]) -> None:
        """Append events durably (one write and one fdatasync for all)."""
        evs = list(evs)
        for ev in evs:
            if not isinstance(ev, Event):
                raise TypeError(f"expected an Event, got {type(ev).__name__}")
        with self.transaction():
            self._pending_events.extend(evs)

    @_reader
    def events(
        self, limit: int | None = None, service: str | None = None, since: float | None = None
    ) -> list[Event]:
        """Kept events, oldest first (newest last): of one service, at or after ``since``
        (a time.time() value), the newest ``limit`` of them."""
        assert self._events is not None
        return self._events.select(limit, service, since)
