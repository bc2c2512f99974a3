"""Desired-state methods of the Store: services, revisions, rollouts, node availability
(all in desired.json)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from tinydb.table import Table

from tui_orch.errors import StoreError
from tui_orch.model import Availability, Revision, from_dict, to_dict
from tui_orch.store.base import DESIRED, StoreBase, _json_copy, _reader
from tui_orch.store.records import AVAILABILITY, REMOVALS, REVISIONS_PREFIX, ROLLOUTS, SERVICES, ServiceRecord


class DesiredMixin(StoreBase):
    # ------------------------------------------------------------------ services

    def put_service(
        self,
        name: str,
        revision: int,
        replicas: int | None = None,
        *,
        paused: bool = False,
        removed: bool = False,
    ) -> ServiceRecord:
        """Set the whole desired record of a service (see ``update_service`` to change a field)."""
        record = ServiceRecord(name, revision, replicas, paused, removed, time.time())
        if not name or not _count(revision) or not (replicas is None or _count(replicas)):
            raise ValueError(f"bad service record {record!r}")
        with self.transaction():
            self._put(DESIRED, SERVICES, self._d.service_ids, name, record.to_doc())
            self._d.services[name] = record
            if self._delete(DESIRED, REMOVALS, self._d.removal_ids, name):  # deployed again
                self._d.removals.pop(name, None)
        return record

    def update_service(self, name: str, **changes: Any) -> ServiceRecord:
        """Change some fields (revision, replicas, paused, removed) of an existing service
        record; StoreError if there is none."""
        if not set(changes) <= {"revision", "replicas", "paused", "removed"}:
            raise TypeError(f"cannot change {sorted(changes)} of a service record")
        with self.transaction():
            record = self._d.services.get(name)
            if record is None:
                raise StoreError(f"there is no service {name} in {self.folder}")
            new = dataclasses.replace(record, **changes)
            return self.put_service(name, new.revision, new.replicas, paused=new.paused, removed=new.removed)

    @_reader
    def get_service(self, name: str) -> ServiceRecord | None:
        return self._d.services.get(name)

    @_reader
    def services(self) -> list[ServiceRecord]:
        return [self._d.services[n] for n in sorted(self._d.services)]

    def remove_service(self, name: str, reason: str = "removed by the operator") -> bool:
        """Forget a service: its record, revisions and rollout, in one write, and record
        the removal (when, why): a controller removes the containers of a service only when
        it finds this tombstone, never for a service merely missing from the state."""
        with self.transaction():
            when = time.time()
            doc = {"service": name, "time": when, "reason": reason}
            self._put(DESIRED, REMOVALS, self._d.removal_ids, name, doc)
            self._d.removals[name] = (when, reason)
            found = self._delete(DESIRED, SERVICES, self._d.service_ids, name)
            self._d.services.pop(name, None)
            found = self._delete(DESIRED, ROLLOUTS, self._d.rollout_ids, name) or found
            if self._d.revision_ids.pop(name, None) is not None:
                self._table(DESIRED, REVISIONS_PREFIX + name)
                self._desired.db.drop_table(REVISIONS_PREFIX + name)
                for key in [k for k in self._revision_cache if k[0] == name]:
                    del self._revision_cache[key]
                found = True
        return found

    @_reader
    def removal(self, name: str) -> tuple[float, str] | None:
        """When and why the operator removed ``name`` (None: never, or deployed again since)."""
        return self._d.removals.get(name)

    @_reader
    def known(self, name: str) -> bool:
        """Whether this state stands for service ``name``: it has a record (being removed
        included) or a recorded removal. Containers of an unknown service are unowned."""
        return name in self._d.services or name in self._d.removals

    # ------------------------------------------------------------------ revisions

    def add_revision(self, rev: Revision) -> Revision:
        """Store a revision; number 0 means the next one. Keeps the newest
        ``revision_limit`` of the service, plus its current revision and those its rollout
        names (``from_revision``/``to_revision``). Returns the revision as stored."""
        if not isinstance(rev, Revision):
            raise TypeError(f"expected a Revision, got {type(rev).__name__}")
        with self.transaction():
            numbers = self._d.revision_ids.get(rev.service, {})
            if rev.number == 0:
                current = self._d.services.get(rev.service)
                rev = dataclasses.replace(
                    rev, number=max([*numbers, current.revision if current else 0]) + 1
                )
            elif rev.number in numbers:
                existing = self._revision(rev.service, rev.number)
                if existing == rev:
                    return existing
                raise StoreError(
                    f"revision {rev.number} of service {rev.service} already exists with another spec"
                )
            if rev.number < 1:
                raise ValueError(f"revision number {rev.number} of {rev.service} is not positive")
            table = self._table(DESIRED, REVISIONS_PREFIX + rev.service)
            numbers = self._d.revision_ids.setdefault(rev.service, {})
            numbers[rev.number] = table.insert(to_dict(rev))
            self._revision_cache[(rev.service, rev.number)] = rev
            self._trim_revisions(rev.service, table, numbers)
        return rev

    def _trim_revisions(self, service: str, table: Table, numbers: dict[int, int]) -> None:
        if len(numbers) <= self.revision_limit:
            return
        keep = set(sorted(numbers)[-self.revision_limit:])
        if service in self._d.services:
            keep.add(self._d.services[service].revision)
        rollout = self._rollout(service)
        for field in ("from_revision", "to_revision"):
            if isinstance((rollout or {}).get(field), int):
                keep.add(rollout[field])  # type: ignore[index]
        drop = [n for n in numbers if n not in keep]
        if drop:
            table.remove(doc_ids=[numbers.pop(n) for n in drop])
            for n in drop:
                self._revision_cache.pop((service, n), None)

    def _revision(self, service: str, number: int) -> Revision | None:
        rev = self._revision_cache.get((service, number))
        if rev is None:
            doc_id = self._d.revision_ids.get(service, {}).get(number)
            if doc_id is None:
                return None
            raw = self._raw(DESIRED, REVISIONS_PREFIX + service, doc_id)
            try:
                rev = from_dict(Revision, raw)
            except (TypeError, ValueError, KeyError) as exc:
                raise StoreError(
                    f"revision {number} of {service} in {self._desired.path} cannot be read ({exc})"
                ) from None
            self._revision_cache[(service, number)] = rev
        return rev

    @_reader
    def revision(self, service: str, number: int) -> Revision | None:
        return self._revision(service, number)

    @_reader
    def revisions(self, service: str) -> list[Revision]:
        """The kept revisions of a service, oldest first."""
        numbers = sorted(self._d.revision_ids.get(service, {}))
        return [r for n in numbers if (r := self._revision(service, n)) is not None]

    @_reader
    def current_revision(self, service: str) -> Revision | None:
        """The revision the service record names, if kept."""
        record = self._d.services.get(service)
        return self._revision(service, record.revision) if record else None

    # ------------------------------------------------------------------ rollouts

    def put_rollout(self, service: str, data: Mapping[str, Any]) -> None:
        """Set the rollout record of a service (plain JSON data)."""
        doc = {"service": service, "data": _json_copy(dict(data))}
        with self.transaction():
            self._put(DESIRED, ROLLOUTS, self._d.rollout_ids, service, doc)

    def _rollout(self, service: str) -> dict[str, Any] | None:
        doc_id = self._d.rollout_ids.get(service)
        return None if doc_id is None else self._raw(DESIRED, ROLLOUTS, doc_id)["data"]

    @_reader
    def get_rollout(self, service: str) -> dict[str, Any] | None:
        data = self._rollout(service)
        return None if data is None else _json_copy(data)

    @_reader
    def rollouts(self) -> dict[str, dict[str, Any]]:
        return {s: _json_copy(self._rollout(s)) for s in sorted(self._d.rollout_ids)}

    def delete_rollout(self, service: str) -> bool:
        with self.transaction():
            return self._delete(DESIRED, ROLLOUTS, self._d.rollout_ids, service)

    # ------------------------------------------------------------------ node availability

    def set_availability(self, node: str, availability: Availability | str) -> None:
        """Cordon, drain or activate a node (kept explicitly, active included)."""
        value = Availability(availability)
        with self.transaction():
            doc = {"node": node, "availability": value.value}
            self._put(DESIRED, AVAILABILITY, self._d.availability_ids, node, doc)
            self._d.availability[node] = value

    @_reader
    def availability(self) -> dict[str, Availability]:
        """Availability of every node that has one set (others are active)."""
        return dict(sorted(self._d.availability.items()))


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
