"""The state store: everything tui-orch decides, kept in a state folder so that it picks up
where it left off. This package is the only code that touches TinyDB.

Files (folder 0700, files 0600; looser permissions are tightened on open):
    lock            advisory flock of the owner; holds its pid
    desired.json    TinyDB: services, revisions (newest 10 per service), rollouts, node availability,
                    removals (tombstones: which services the operator removed, when, why)
    observed.json   TinyDB: replicas, node status, volume homes (where each replica's data lives)
    events.jsonl    the event log, JSON lines (newest 10,000 events)
Desired state is small and apart from what changes often, so a desired-state write stays
fast as the fleet and its history grow (TinyDB rewrites a whole file on every write).

Durability: every write method returns once its change is on disk. TinyDB files are
replaced atomically (temp file in the folder, fsync, rename, fsync of the folder) from an
in-memory copy that serves all reads (storage.py); the event log is appended to with one
fdatasync per append (events.py). ``Store.transaction()`` batches several writes into one
durable write per file. After a crash each file holds every write that had returned.

Ownership: one process owns a folder (``open_store(folder)``); a second owner gets
StoreLocked naming the owner's pid. ``open_store(folder, readonly=True)`` takes no lock,
reads a snapshot (``refresh()`` rereads) and refuses writes; it is what ``get``-style
commands use while a console runs.

On open the owner removes temp files a crashed writer left. A state file of a newer schema
is refused (nothing is touched). A corrupt file (empty, invalid JSON, wrong shape, a record
that cannot be identified) is never silently replaced: the owner renames it to
``NAME.corrupt-<UTC time>`` and raises StoreError naming both paths, so the operator sees
it; the next open starts that file afresh. A torn last line of the event log is not
corruption (it is the append that was cut by the crash) and is dropped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import platformdirs

from tui_orch.store.base import DEFAULT_EVENT_LIMIT, DEFAULT_REVISION_LIMIT
from tui_orch.store.desired import DesiredMixin
from tui_orch.store.etcdstore import EtcdMixin
from tui_orch.store.observed import ObservedMixin
from tui_orch.store.records import ServiceRecord
from tui_orch.store.storage import SCHEMA
from tui_orch.store.target import EtcdTarget, is_etcd, parse_etcd
from tui_orch.store.volumes import VolumesMixin

APP = "tui-orch"


class Store(DesiredMixin, ObservedMixin, VolumesMixin):
    """The state of one state folder, behind a typed API: model values in and out.

    Lifecycle and transactions: base.py. Services, revisions, rollouts, availability:
    desired.py. Replicas, node status, events: observed.py. Volume homes: volumes.py."""


class EtcdStore(EtcdMixin, Store):
    """The same state kept in etcd (etcdstore.py)."""


def default_state_dir() -> Path | EtcdTarget:
    """$TUI_ORCH_STATE (a folder or an etcd:// URL), else the platform's user state dir for
    tui-orch (the CLI's ``--state`` beats both and is passed to ``open_store``)."""
    value = os.environ.get("TUI_ORCH_STATE")
    return state_target(value) if value else default_local_root()


def default_local_root() -> Path:
    return Path(platformdirs.user_state_dir(APP))


def state_target(value: str | os.PathLike[str]) -> Path | EtcdTarget:
    """``--state``: a folder, or an etcd state (store/target.py)."""
    if isinstance(value, EtcdTarget):
        return value
    text = os.fspath(value)
    return parse_etcd(text) if is_etcd(text) else Path(text).expanduser()


def open_store(
    folder: str | os.PathLike[str] | None = None,
    readonly: bool = False,
    *,
    event_limit: int = DEFAULT_EVENT_LIMIT,
    revision_limit: int = DEFAULT_REVISION_LIMIT,
    wait: threading.Event | None = None,
) -> Store:
    """Open the state in ``folder`` (default: ``default_state_dir()``), creating it if needed.

    Raises StoreLocked if another process owns it (not for readonly opens), StoreError if
    it is of a newer schema or corrupt (see the module docstring). An etcd state (an
    EtcdTarget or an etcd:// URL) gives an EtcdStore; ``wait`` (etcd only): stand by until
    this process leads instead of raising StoreLeased (a controller), unless it is set."""
    target = state_target(default_state_dir() if folder is None else folder)
    if isinstance(target, EtcdTarget):
        return EtcdStore(target, readonly=readonly, wait=wait, event_limit=event_limit,
                         revision_limit=revision_limit)
    return Store(
        default_state_dir() if folder is None else folder,
        readonly=readonly,
        event_limit=event_limit,
        revision_limit=revision_limit,
    )


__all__ = [
    "DEFAULT_EVENT_LIMIT",
    "DEFAULT_REVISION_LIMIT",
    "SCHEMA",
    "EtcdStore",
    "EtcdTarget",
    "ServiceRecord",
    "Store",
    "default_state_dir",
    "open_store",
    "state_target",
]
