"""The base of the Store: opening (lock, permissions, load checks), closing, transactions,
and the helpers the record methods (desired.py, observed.py) write and read through."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from tinydb import TinyDB
from tinydb.table import Table

from tui_orch.errors import StoreError
from tui_orch.model import Event, Replica, Revision
from tui_orch.store import files
from tui_orch.store.events import HEADER, EventLog, create_log, parse_log
from tui_orch.store.records import DesiredIndex, ObservedIndex
from tui_orch.store.storage import SCHEMA, AtomicJSONStorage, Corrupt, Data, Newer, dumps, fresh_data, parse_db

DESIRED = "desired.json"
OBSERVED = "observed.json"
EVENTS = "events.jsonl"
FILES = (DESIRED, OBSERVED, EVENTS)
WHAT = {
    DESIRED: "desired state (services, revisions, rollouts, node availability)",
    OBSERVED: "observed state (replicas, node status)",
    EVENTS: "event log",
}
DEFAULT_EVENT_LIMIT = 10_000
DEFAULT_REVISION_LIMIT = 10

F = TypeVar("F", bound=Callable[..., Any])


class _File:
    """One TinyDB file: its storage (memory copy, atomic write-through) and database."""

    def __init__(self, path: str, data: Data, dir_fd: int | None):
        self.path = path
        self.storage = AtomicJSONStorage(path, data, dir_fd)
        self.db = TinyDB(storage=lambda: self.storage)


def _reader(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: "StoreBase", *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            if self._closed:
                raise StoreError(f"the state store of {self.folder} is closed")
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _replace_with(new: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        doc.clear()
        doc.update(new)

    return apply


def _json_copy(value: Any) -> Any:
    """A deep, plain-JSON copy; raises TypeError/ValueError for what JSON cannot hold."""
    return json.loads(dumps(value))


def folder_identity(folder: str | os.PathLike[str]) -> str:
    """The identity of the state in ``folder`` on this machine (StoreBase.identity)."""
    import socket

    return f"{socket.gethostname()}:{os.path.realpath(folder)}"


class StoreBase:
    """The state of one state folder. Writable stores own the folder (an flock on
    FOLDER/lock); read-only ones take no lock, read a snapshot (``refresh`` rereads it)
    and refuse writes. Every write method returns once its change is durable. Thread-safe."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        readonly: bool = False,
        event_limit: int = DEFAULT_EVENT_LIMIT,
        revision_limit: int = DEFAULT_REVISION_LIMIT,
    ):
        if event_limit < 1 or revision_limit < 1:
            raise ValueError("event_limit and revision_limit must be at least 1")
        self.folder = Path(os.path.abspath(os.path.expanduser(os.fspath(folder))))
        self.readonly = readonly
        self.event_limit = event_limit
        self.revision_limit = revision_limit
        self._mutex = threading.RLock()
        self._closed = False
        self._lock: files.FolderLock | None = None
        self._dir_fd: int | None = None
        self._depth = 0  # transaction nesting
        # transactions that changed the desired or observed state, or rereads of a file: a
        # cheap way to tell whether anything changed since a moment
        self.changes = 0
        self.desired_changes = 0  # the same, of the desired state only
        # keys of the replica records written or removed, in order (the controller's live
        # placement follows it): a new list whenever the records are read again
        self.replica_journal: list[str] = []
        self._failed = False  # a block inside the transaction raised
        self._touched: set[str] = set()  # files changed in memory by the transaction
        self._pending_events: list[Event] = []
        self._events: EventLog | None = None
        try:
            self._open()
        except BaseException:
            self._release()
            raise

    # ------------------------------------------------------------------ open / close

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def _open(self) -> None:
        folder = str(self.folder)
        try:
            if not self.readonly:
                files.ensure_folder(folder)
                self._lock = files.FolderLock(folder)
                self._dir_fd = files.open_dir(folder)
                files.clean_temp_files(folder, FILES)
                for name in FILES:
                    files.tighten(self._path(name), files.FILE_MODE)
            self._load()
        except OSError as exc:
            where = exc.filename or folder
            raise StoreError(f"cannot use state in {folder}: {where}: {exc.strerror or exc}") from None

    def _load(self) -> None:
        """Read the three files; refuse a newer schema; move corrupt files aside and raise."""
        loaded: dict[str, Any] = {}
        newer = 0
        corrupt: list[tuple[str, str]] = []
        for name in FILES:
            path = self._path(name)
            try:
                raw = files.read_bytes(path)
                if name == EVENTS:
                    loaded[name] = parse_log(raw)
                else:
                    data = parse_db(raw)
                    index = (DesiredIndex if name == DESIRED else ObservedIndex)(data or {})
                    loaded[name] = (data, index)
            except Newer as exc:
                newer = max(newer, exc.args[0])
            except Corrupt as exc:
                corrupt.append((name, exc.args[0]))
        if newer:
            raise StoreError(
                f"state in {self.folder} was written by a newer tui-orch "
                f"(schema {newer} > {SCHEMA}); upgrade tui-orch or use --state"
            )
        if corrupt and self.readonly:
            raise StoreError("\n".join(
                f"state file {self._path(name)} is corrupt ({reason}); the next tui-orch command "
                f"that changes state will move it aside; restore it first if you have a copy"
                for name, reason in corrupt
            ))
        if corrupt:
            assert self._dir_fd is not None
            lines = []
            for name, reason in corrupt:
                aside = files.move_aside(self._path(name), self._dir_fd)
                kept = (" (containers of services it named are kept and shown as unowned, never "
                        "removed, until you restore it or remove them)" if name == DESIRED else "")
                lines.append(
                    f"state file {self._path(name)} is corrupt ({reason}); it was moved aside to "
                    f"{aside} and the next start begins with an empty {WHAT[name]}{kept}; "
                    f"inspect or restore it from there"
                )
            raise StoreError("\n".join(lines))
        for name in (DESIRED, OBSERVED):
            data, index = loaded[name]
            self._install(name, data, index)
        lines, raws, good = loaded[EVENTS]
        if self._events is not None:
            self._events.close()
        if good == 0 and self._dir_fd is not None:  # no log yet (or an empty file)
            create_log(self._path(EVENTS), self._dir_fd)
            good = len(HEADER)
        self._events = EventLog(self._path(EVENTS), lines, raws, good, self.event_limit, self._dir_fd)

    def _install(self, name: str, data: Data | None, index: Any) -> None:
        file = _File(self._path(name), data or fresh_data(), self._dir_fd)
        if data is None and not self.readonly:  # new (or empty) file: record the schema now
            file.storage.pending = True
            file.storage.flush()
        if name == DESIRED:
            self._desired, self._d = file, index
            self._revision_cache: dict[tuple[str, int], Revision] = {}
            self.desired_changes += 1
        else:
            self._observed, self._o = file, index
            self._replica_cache: dict[str, Replica] = {}
            self.replica_journal = []

    def _reload(self, name: str) -> None:
        """Replace memory with the file (after a failed transaction)."""
        try:
            data = parse_db(files.read_bytes(self._path(name)))
            index = (DesiredIndex if name == DESIRED else ObservedIndex)(data or {})
        except (Corrupt, Newer) as exc:
            raise StoreError(f"state file {self._path(name)} cannot be reread: {exc.args[0]}") from None
        self._install(name, data, index)

    @_reader
    def refresh(self) -> None:
        """Read-only stores: reread the files (a snapshot is taken at open). Owners: no-op."""
        if self.readonly:
            self._load()
            self.changes += 1

    def close(self) -> None:
        with self._mutex:
            if self._closed:
                return
            if self._depth:
                raise StoreError("the state store cannot be closed inside a transaction")
            self._closed = True
            self._release()

    def _release(self) -> None:
        if self._events is not None:
            self._events.close()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def identity(self) -> str:
        """What names this state among others (containers carry a hash of it as their owner)."""
        return folder_identity(self.folder)

    def describe(self) -> str:
        """Where the state is, for messages."""
        return str(self.folder)

    problem: str | None = None  # etcd: why the state shown may be stale, or this process cannot act

    def pending(self) -> bool:
        """A read-only store: has a change come that ``refresh`` would take in? (Files: not
        known without rereading them; the console rereads them once a second.)"""
        return False

    def acting(self) -> bool:
        """May this process act on the nodes? (An etcd state: only while it leads.)"""
        return True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.readonly else "owner"
        return f"<Store {self.folder} ({mode}{', closed' if self._closed else ''})>"

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[Self]:
        """Batch writes: at most one durable write per file when the block ends, none if it
        raises. Nested blocks join the outer one; if any block raises, nothing is written.
        Files commit in order desired, observed, events: atomic within a file, not across."""
        with self._mutex:
            if self._closed:
                raise StoreError(f"the state store of {self.folder} is closed")
            if self.readonly:
                raise StoreError(
                    f"state in {self.folder} is open read-only; this command cannot change it"
                )
            if self._depth == 0:
                self._before_transaction()
                self._failed = False
                self._desired.storage.hold = self._observed.storage.hold = True
            self._depth += 1
            ok = False
            try:
                yield self
                ok = True
            finally:
                self._depth -= 1
                self._failed = self._failed or not ok
                if self._depth == 0:
                    if self._failed:
                        self._rollback()
                        if ok:  # an inner block raised and the caller swallowed it
                            raise StoreError("a write inside the transaction failed; nothing was written")
                    else:
                        self._commit()

    def _before_transaction(self) -> None:
        """A hook for the etcd store (reread a state it is not sure of)."""

    def _commit(self) -> None:
        saved = ""
        try:
            for name, file in ((DESIRED, self._desired), (OBSERVED, self._observed)):
                file.storage.hold = False
                pending = file.storage.pending
                try:
                    file.storage.flush()
                except OSError as exc:
                    raise StoreError(
                        f"cannot write state file {file.path}: {exc.strerror}; "
                        + (f"{saved} was saved, the rest was not" if saved else "nothing was saved")
                    ) from None
                self._touched.discard(name)
                if pending:
                    saved = saved or f"the {WHAT[name]}"
                    self.changes += 1
                    if name == DESIRED:
                        self.desired_changes += 1
            events, self._pending_events = self._pending_events, []
            assert self._events is not None
            self._events.append(events)
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        for name in sorted(self._touched):
            self._reload(name)
            self.changes += 1
        self._touched.clear()
        self._pending_events = []
        self._desired.storage.hold = self._observed.storage.hold = False

    def _table(self, name: str, table: str, doc_ids: Iterable[int] | None = None) -> Table:
        """A table to change (inside a transaction): the documents ``doc_ids`` only (the
        file is then written without encoding the others again), or any (None)."""
        file = self._desired if name == DESIRED else self._observed
        self._touched.add(name)
        file.storage.touch(table, doc_ids)
        return file.db.table(table)

    def _raw_table(self, table: str) -> dict[str, dict[str, Any]]:
        """The documents of an observed ``table`` by id, to change in place (inside a
        transaction, the table named by ``_table`` first; ``_raw_written`` after). TinyDB's
        insert, update and remove copy the whole table for each call: with 30,000 replicas in
        a table, each record written cost ~20 ms."""
        return self._observed.storage.read().setdefault(table, {})

    def _raw_written(self, table: str) -> None:
        file = self._observed
        file.db.table(table).clear_cache()
        file.storage.write(file.storage.read())

    def _put(self, name: str, table: str, ids: dict[str, int], key: str, doc: dict[str, Any]) -> bool:
        """Insert or replace the document of ``key``; False when it is already so."""
        t = self._table(name, table)
        doc_id = ids.get(key)
        if doc_id is None:
            ids[key] = t.insert(doc)
            return True
        if t.get(doc_id=doc_id) == doc:
            return False
        t.update(_replace_with(doc), doc_ids=[doc_id])
        return True

    def _delete(self, name: str, table: str, ids: dict[str, int], key: str) -> bool:
        doc_id = ids.pop(key, None)
        if doc_id is None:
            return False
        self._table(name, table).remove(doc_ids=[doc_id])
        return True

    def _raw(self, name: str, table: str, doc_id: int) -> dict[str, Any]:
        file = self._desired if name == DESIRED else self._observed
        doc = file.db.table(table).get(doc_id=doc_id)
        assert doc is not None
        return doc  # type: ignore[return-value]
