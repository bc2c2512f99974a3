"""Child of tests/test_store_crash.py: writes to a store until it is killed.

    python tests/store_crash_child.py FOLDER START

Write number n (n = START, START+1, ...) is a pure function of n (``write`` below), so the
parent can tell what every write did. After each write returns, the child prints
``durable N`` and flushes. ``effects(n)`` is what write n leaves in the store.
"""

from __future__ import annotations

import sys
from typing import Any

from tui_orch.model import Availability, Event, Replica, Revision, ServiceSpec
from tui_orch.store import Store, open_store

EVENT_LIMIT = 60  # small, so that crashes land in trims too
REVISION_LIMIT = 4
KINDS = 7
AVAILABILITIES = (Availability.ACTIVE, Availability.CORDONED, Availability.DRAINING)


def open_for_test(folder: str, readonly: bool = False) -> Store:
    return open_store(folder, readonly, event_limit=EVENT_LIMIT, revision_limit=REVISION_LIMIT)


def ev(n: int) -> Event:
    return Event(time=float(n), kind="test", message=str(n), service="app")


def write(store: Store, n: int) -> None:
    kind = n % KINDS
    if kind == 0:  # a desired write
        store.put_service(f"s{n % 3}", n, replicas=n % 5)
    elif kind == 1:  # an observed write
        store.put_replica(Replica("web", n % 8 + 1, n, "node1"))
    elif kind == 2:  # an event
        store.append_event(ev(n))
    elif kind == 3:  # a deploy: one transaction over all three files
        with store.transaction():
            store.add_revision(Revision("app", n, ServiceSpec("app", f"app:{n}"), float(n), "deploy"))
            store.put_service("app", n)
            store.put_replica(Replica("app", 1, n, "node2"))
            store.append_event(ev(n))
    elif kind == 4:  # a batch of replicas in one write
        store.put_replicas([Replica("batch", slot, n, f"node{slot % 3}") for slot in range(1, 11)])
    elif kind == 5:
        store.set_availability(f"node{n % 4}", AVAILABILITIES[(n // KINDS) % 3])
    elif (n // KINDS) % 2:
        store.put_rollout("app", {"n": n, "state": "running"})
    else:
        store.put_node_status("node1", {"n": n, "state": "Ready"})


def effects(n: int) -> dict[tuple[str, str], Any]:
    """(record, key) -> value that write n leaves; events and revisions are checked apart."""
    kind = n % KINDS
    if kind == 0:
        return {("service", f"s{n % 3}"): n}
    if kind == 1:
        return {("replica", f"web.{n % 8 + 1}"): n}
    if kind == 3:
        return {("service", "app"): n, ("replica", "app.1"): n}
    if kind == 4:
        return {("replica", f"batch.{slot}"): n for slot in range(1, 11)}
    if kind == 5:
        return {("availability", f"node{n % 4}"): AVAILABILITIES[(n // KINDS) % 3].value}
    if kind == 6:
        return {("rollout", "app") if (n // KINDS) % 2 else ("node", "node1"): n}
    return {}


def has_event(n: int) -> bool:
    return n % KINDS in (2, 3)


def has_revision(n: int) -> bool:
    return n % KINDS == 3


def observe(store: Store) -> dict[tuple[str, str], Any]:
    """The store's state in the terms of ``effects``."""
    seen: dict[tuple[str, str], Any] = {}
    for rec in store.services():
        seen[("service", rec.name)] = rec.revision
    for rep in store.replicas():
        seen[("replica", rep.key)] = rep.revision
    for node, value in store.availability().items():
        seen[("availability", node)] = value.value
    for service, data in store.rollouts().items():
        seen[("rollout", service)] = data["n"]
    for node, status in store.node_status().items():
        seen[("node", node)] = status["n"]
    return seen


def main() -> None:
    folder, start = sys.argv[1], int(sys.argv[2])
    store = open_for_test(folder)
    print("ready", flush=True)
    n = start
    while True:
        write(store, n)
        print(f"durable {n}", flush=True)
        n += 1


if __name__ == "__main__":
    main()
