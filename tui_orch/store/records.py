"""The documents of the two TinyDB files, their indexes, and the checks run on load.

desired.json (what the operator asked for; small, so writing it stays fast):
    meta                {"schema": 1}
    services            ServiceRecord fields
    revisions:<service> one table per service: model.to_dict(Revision)
    rollouts            {"service", "data"}
    availability        {"node", "availability"}
    removals            {"service", "time", "reason"}: services the operator removed (tombstones)
observed.json (what the nodes report; rewritten often):
    meta                {"schema": 1}
    replicas:<service>  one table per service: model.to_dict(Replica)
    nodes               {"name", "status"}
    lost                {"container", "replica"}: the record of a replica when its node was cut
                        off, by its container id (its copy may still run there; reconcile.py)
    volume_homes        model.to_dict(VolumeHome): the node where each named volume of each
                        replica holds its data (volumes.py)

Tables are per service so that a write re-serialises only that service's documents (see
storage.py). Loading checks every document's identifying fields and raises Corrupt when
one is wrong; the rest of a revision or replica is decoded lazily, when first read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui_orch.model import Availability
from tui_orch.store.storage import Corrupt, Data

SERVICES = "services"
ROLLOUTS = "rollouts"
AVAILABILITY = "availability"
REMOVALS = "removals"
NODES = "nodes"
LOST = "lost"
VOLUME_HOMES = "volume_homes"
REVISIONS_PREFIX = "revisions:"
REPLICAS_PREFIX = "replicas:"


@dataclass(frozen=True)
class ServiceRecord:
    """The desired state of one service (its spec lives in its current revision)."""

    name: str
    revision: int  # the current (desired) revision number
    replicas: int | None = None  # scale override; None: the spec's replica count
    paused: bool = False  # rollouts and reconciling of this service are paused
    removed: bool = False  # being removed: its replicas are stopped, then the record goes
    updated_at: float = 0.0  # time of the last put

    def to_doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "revision": self.revision,
            "replicas": self.replicas,
            "paused": self.paused,
            "removed": self.removed,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "ServiceRecord":
        return cls(
            name=_get(doc, "name", str),
            revision=_get(doc, "revision", int),
            replicas=_get(doc, "replicas", int, optional=True),
            paused=_get(doc, "paused", bool, default=False),
            removed=_get(doc, "removed", bool, default=False),
            updated_at=float(_get(doc, "updated_at", (int, float), default=0.0)),
        )


def _get(doc: dict[str, Any], key: str, kind: Any, optional: bool = False, default: Any = ...) -> Any:
    if key not in doc:
        if default is not ...:
            return default
        if optional:
            return None
        raise Corrupt(f"a document has no {key!r}: {_short(doc)}")
    value = doc[key]
    if value is None and optional:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise Corrupt(f"{key!r} of a document is {value!r}: {_short(doc)}")
    return value


def _short(doc: dict[str, Any]) -> str:
    text = repr(doc)
    return text if len(text) <= 120 else text[:117] + "..."


def replica_key(service: str, slot: int, node: str) -> str:
    """Replica.key, from a document's fields."""
    return f"{service}.{slot}" if slot else f"{service}.{node}"


class DesiredIndex:
    """Where each desired document is (doc ids), plus the small records decoded."""

    def __init__(self, data: Data):
        self.service_ids: dict[str, int] = {}
        self.services: dict[str, ServiceRecord] = {}
        self.rollout_ids: dict[str, int] = {}
        self.availability_ids: dict[str, int] = {}
        self.availability: dict[str, Availability] = {}
        self.revision_ids: dict[str, dict[int, int]] = {}  # service -> number -> doc id
        self.removal_ids: dict[str, int] = {}
        self.removals: dict[str, tuple[float, str]] = {}  # service -> (when, why)
        for doc_id, doc in data.get(REMOVALS, {}).items():
            service = _get(doc, "service", str)
            when, why = _get(doc, "time", (int, float)), _get(doc, "reason", str)
            _unique(self.removal_ids, service, REMOVALS)
            self.removal_ids[service] = int(doc_id)
            self.removals[service] = (float(when), why)
        for doc_id, doc in data.get(SERVICES, {}).items():
            record = ServiceRecord.from_doc(doc)
            _unique(self.service_ids, record.name, SERVICES)
            self.service_ids[record.name] = int(doc_id)
            self.services[record.name] = record
        for doc_id, doc in data.get(ROLLOUTS, {}).items():
            service = _get(doc, "service", str)
            _get(doc, "data", dict)
            _unique(self.rollout_ids, service, ROLLOUTS)
            self.rollout_ids[service] = int(doc_id)
        for doc_id, doc in data.get(AVAILABILITY, {}).items():
            node = _get(doc, "node", str)
            value = _get(doc, "availability", str)
            try:
                availability = Availability(value)
            except ValueError:
                raise Corrupt(f"node {node} has an unknown availability {value!r}") from None
            _unique(self.availability_ids, node, AVAILABILITY)
            self.availability_ids[node] = int(doc_id)
            self.availability[node] = availability
        for name, table in data.items():
            if not name.startswith(REVISIONS_PREFIX):
                continue
            service = name[len(REVISIONS_PREFIX):]
            numbers: dict[int, int] = {}
            for doc_id, doc in table.items():
                if _get(doc, "service", str) != service:
                    raise Corrupt(f"table {name!r} holds a revision of {doc['service']!r}")
                number = _get(doc, "number", int)
                _get(doc, "spec", dict)
                _unique(numbers, number, name)
                numbers[number] = int(doc_id)
            if numbers:
                self.revision_ids[service] = numbers


class ObservedIndex:
    """Where each observed document is (doc ids)."""

    def __init__(self, data: Data):
        self.replica_ids: dict[str, tuple[str, int]] = {}  # key -> (service, doc id)
        # the replica keys ordered by (service, slot, node), made when first asked for and
        # dropped when a key comes or goes (a key's place in the order never changes)
        self.ordered: list[str] | None = None
        self.node_ids: dict[str, int] = {}
        self.lost_ids: dict[str, int] = {}  # container id -> doc id
        for name, table in data.items():
            if not name.startswith(REPLICAS_PREFIX):
                continue
            service = name[len(REPLICAS_PREFIX):]
            for doc_id, doc in table.items():
                if _get(doc, "service", str) != service:
                    raise Corrupt(f"table {name!r} holds a replica of {doc['service']!r}")
                key = replica_key(service, _get(doc, "slot", int), _get(doc, "node", str))
                _unique(self.replica_ids, key, name)
                self.replica_ids[key] = (service, int(doc_id))
        for doc_id, doc in data.get(NODES, {}).items():
            node = _get(doc, "name", str)
            _get(doc, "status", dict)
            _unique(self.node_ids, node, NODES)
            self.node_ids[node] = int(doc_id)
        self.volume_home_ids: dict[tuple[str, str], int] = {}  # (replica key, volume name) -> doc id
        for doc_id, doc in data.get(VOLUME_HOMES, {}).items():
            home = (_get(doc, "replica", str), _get(doc, "volume", str))
            _get(doc, "node", str)
            _get(doc, "service", str)
            _unique(self.volume_home_ids, home, VOLUME_HOMES)
            self.volume_home_ids[home] = int(doc_id)
        for doc_id, doc in data.get(LOST, {}).items():
            container = _get(doc, "container", str)
            _get(doc, "replica", dict)
            _unique(self.lost_ids, container, LOST)
            self.lost_ids[container] = int(doc_id)


def _unique(index: dict[Any, Any], key: Any, table: str) -> None:
    if key in index:
        raise Corrupt(f"table {table!r} holds {key!r} twice")
