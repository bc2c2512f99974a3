"""The records of replicas whose node was cut off, kept in the store (not in one process's
memory): a controller started while the node is away must still know that the copies there
may run, healthy, and hold their ports, so that when the node comes back a healthy copy is
kept rather than its replacement that has not passed the health gate (Reconciler._adopt).

A record is kept when its replica is marked LOST (``Store.put_lost_copy``), taken when its
container is seen again as one no record wants (adopted or removed), and forgotten once its
node has been listed Ready by a full pass, whatever became of the copy."""

from __future__ import annotations

from collections.abc import Iterable

from tui_orch.store import Store


def forget_seen(store: Store, listed: Iterable[str]) -> None:
    """Forget the kept records of the nodes just listed (their copies were dealt with)."""
    nodes = set(listed)
    for container_id, rec in store.lost_copies().items():
        if rec.node in nodes:
            store.take_lost_copy(container_id)
