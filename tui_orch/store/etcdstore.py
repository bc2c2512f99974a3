"""The state kept in etcd (``--state etcd://...``, target.py): the same Store API, the same
records, shared by the controllers and consoles of a team.

Keys under PREFIX (one key a document, so that a write costs the documents it changes):
    PREFIX/leader               who leads (leader.py), on the leader's lease
    PREFIX/d/TABLE/DOC_ID       desired state: the tables of desired.json (records.py)
    PREFIX/o/TABLE/DOC_ID       observed state: the tables of observed.json
    PREFIX/e/SEQ                the event log, SEQ a zero-padded counter (newest 10,000 kept)

Ownership is leadership: a writable open (a console, a command, a controller) takes the lead
on an etcd lease or, while another process leads, is refused with StoreLeased naming it, as
a second owner of a folder is refused with StoreLocked. A controller campaigns instead
(``wait``): it stands by until the leader's lease lapses. Read-only opens follow the state
with one etcd watch (``refresh`` applies what it saw; no rereading of the whole state).

Every write is a transaction that compares the leader key's revision with the one this
process created (fencing): a paused or cut-off old leader cannot write after another took
over, whenever its request arrives. ``acting()`` is the check before a container action
(leader.py). A lost lead (lease lapsed, no quorum) makes every later write fail with
NotLeading and calls the ``on_lost`` callbacks; the process stops acting.

A transaction of more than 120 operations (etcd refuses more than 128 in one) is written
as several fenced transactions, desired state first; the controller's own changes are far
smaller. Memory holds a copy of the whole state, as the TinyDB store does."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

from tui_orch.errors import NotLeading, StoreError, StoreLocked
from tui_orch.model import to_dict
from tui_orch.store.base import DESIRED, OBSERVED
from tui_orch.store.etcdv3 import EtcdClient, EtcdUnavailable, KeyValue, Watch, b64, prefix_end
from tui_orch.store.events import EventsView
from tui_orch.store.leader import Leader, Leadership
from tui_orch.store.records import DesiredIndex, ObservedIndex
from tui_orch.store.storage import Corrupt, Data, Newer, check_data, dumps, fresh_data
from tui_orch.store.target import EtcdTarget

PART = {DESIRED: "d", OBSERVED: "o"}
MAX_OPS = 120
MAX_BYTES = 1 << 20
WRITE_PATIENCE = 3.0  # s a write waits for etcd to answer again (a leader election), while the lease lasts
QUORUM_CHECK = 2.0  # s between a read-only store's quorum checks (refresh)


class StoreLeased(StoreLocked):
    """Another process leads the etcd state (it is the owner a writable open waits for)."""

    def __init__(self, url: str, local: str, leader: Leader | None):
        self.folder = local
        self.pid = leader.pid if leader else None
        self.leader = leader
        who = leader.describe() if leader else "another process"
        StoreError.__init__(
            self, f"state {url} is led by {who} (a tui-orch console, command or controller); "
            f"commands go to it when it is a controller on this machine, or use --controller ssh://HOST")


class _Memory(Storage):
    """TinyDB storage of one part: memory only; the store writes the differences to etcd."""

    def __init__(self, data: Data, readonly: bool):
        self._data = data
        self.readonly = readonly
        self.hold = False
        self.pending = False
        self.dirty: set[str] = set()

    def touch(self, table: str, doc_ids: object = None) -> None:
        """``table`` is about to change (its differences are found by comparing documents)."""
        self.dirty.add(table)

    def read(self) -> Data:
        return self._data

    def write(self, data: Data) -> None:
        if self.readonly:
            raise StoreError("the etcd state is open read-only")
        self._data = data
        self.pending = True

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Part:
    def __init__(self, path: str, data: Data, readonly: bool):
        self.path = path
        self.storage = _Memory(data, readonly)
        self.db = TinyDB(storage=lambda: self.storage)


class _Events(EventsView):
    def __init__(self, path: str, limit: int):
        self.path = path
        self.limit = limit
        self.seqs: list[int] = []
        self._raws = []
        self._decoded = []

    def add(self, seq: int, raw: dict[str, Any]) -> None:
        self.seqs.append(seq)
        self._raws.append(raw)
        self._decoded.append(None)

    def drop_before(self, seq: int) -> None:
        n = 0
        while n < len(self.seqs) and self.seqs[n] < seq:
            n += 1
        del self.seqs[:n], self._raws[:n], self._decoded[:n]

    def close(self) -> None:
        pass


def _table_order(table: str) -> tuple[int, str]:
    """The order a change's tables are written in when it takes several transactions: what
    another record points at first (revisions before the service naming them, services
    before their rollouts), so a change cut between two transactions is still sound."""
    for rank, first in enumerate(("meta", "revisions:", "services", "removals", "availability", "rollouts")):
        if table.startswith(first):
            return rank, table
    return 9, table


def _chunks(ops: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """At most MAX_OPS operations and MAX_BYTES of values a transaction (etcd's defaults: 128
    operations, 1.5 MiB a request)."""
    out: list[list[dict[str, Any]]] = [[]]
    size = 0
    for op in ops:
        n = len(op.get("request_put", {}).get("value", "")) + 200
        if out[-1] and (len(out[-1]) >= MAX_OPS or size + n > MAX_BYTES):
            out.append([])
            size = 0
        out[-1].append(op)
        size += n
    return out


def _check_event(raw: Any, key: str) -> dict[str, Any]:
    if not (isinstance(raw, dict) and isinstance(raw.get("time"), (int, float))
            and isinstance(raw.get("kind"), str) and isinstance(raw.get("message"), str)):
        raise Corrupt(f"key {key} is not an event")
    return raw


class EtcdMixin:
    """Overrides of StoreBase that keep the state in etcd (mixed in before it)."""

    def __init__(self, target: EtcdTarget, *, readonly: bool = False, wait: threading.Event | None = None,
                 event_limit: int = 10_000, revision_limit: int = 10,
                 client: EtcdClient | None = None, repair: bool = False):
        self.target = target
        self.url = target.url
        self.client = client or target.client()
        self.prefix = target.prefix.rstrip("/")
        self.wait = wait
        self.repair = repair  # state import --force: a damaged state is saved to a file and replaced
        self.repaired: str | None = None  # that file
        self.leadership: Leadership | None = None
        self.lost: str | None = None
        self.on_lost: list[Callable[[str], None]] = []
        self.etcd_revision = 0  # of etcd, when this process last read or wrote
        self.cluster = ""
        self._seen: dict[str, dict[str, dict[str, bytes]]] = {DESIRED: {}, OBSERVED: {}}
        self._watch: Watch | None = None
        self._problem: str | None = None
        self.problem_detail = ""  # the error behind ``problem`` (etcd's own words)
        self._stale = False
        self._behind = 0
        self._checked = float("-inf")
        self.read_at = 0.0
        self._watched: queue.SimpleQueue[Any] = queue.SimpleQueue()
        super().__init__(target.local, readonly=readonly, event_limit=event_limit,  # type: ignore[call-arg]
                         revision_limit=revision_limit)

    # ------------------------------------------------------------------ open / close
    def identity(self) -> str:
        return f"etcd:{self.cluster}:{self.prefix}"

    def describe(self) -> str:
        return self.url

    def _open(self) -> None:
        try:
            if not self.readonly:
                from tui_orch.store import files

                files.ensure_folder(str(self.target.local))  # controller socket and info (place.py)
                self._lead()
            try:
                self._load()
            except EtcdUnavailable:
                raise
            except StoreError:
                if not self.repair:
                    raise
                self._save_raw()
            if self.readonly:
                self._follow()
            elif self._touched:  # type: ignore[attr-defined]
                self._commit()  # the schema of a new state
        except EtcdUnavailable as exc:
            self._release()
            raise EtcdUnavailable(f"state {self.url}: {exc}; check that the members run and reach each other "
                                  f"(etcdctl endpoint health)") from None

    def _lead(self) -> None:
        lead = self.leadership = Leadership(self.client, self.prefix, self.target.ttl, on_lost=self._lose)
        if self.wait is not None:
            if not lead.campaign(self.wait):
                raise StoreError(f"state {self.url}: stopped before this process took the lead")
        elif not lead.try_lead():
            raise StoreLeased(self.url, str(self.target.local), lead.leader())

    def _save_raw(self) -> None:
        """A damaged (or newer) state about to be replaced: every key as it is, to a file in
        this machine's folder for the state; memory starts empty."""
        kvs, revision = self.client.range_prefix(self.prefix + "/")
        from tui_orch.store import files

        path = os.path.join(str(self.target.local), time.strftime("damaged-%Y%m%dT%H%M%SZ.json", time.gmtime()))
        dump = {kv.key: kv.value.decode(errors="replace") for kv in kvs if not kv.key.endswith("/leader")}
        dir_fd = files.open_dir(str(self.target.local))
        try:
            files.atomic_write(path, json.dumps(dump, indent=1).encode(), dir_fd)
        finally:
            os.close(dir_fd)
        self.repaired = path
        self._build([], revision)

    def leader(self) -> Leader | None:
        """Who leads the state now (None: nobody)."""
        lead = self.leadership or Leadership(self.client, self.prefix, self.target.ttl)
        return lead.leader()

    def acting(self) -> bool:
        return (self.leadership is not None and self.lost is None and not self._stale
                and self.leadership.acting())

    def _lose(self, why: str) -> None:
        self.lost = why
        for callback in list(self.on_lost):
            callback(why)

    def _key(self, name: str, table: str, doc_id: str) -> str:
        return f"{self.prefix}/{PART[name]}/{urllib.parse.quote(table, safe=':')}/{doc_id}"

    def _load(self) -> None:
        """Read the whole state. A read-only open reads what the member it asks holds, even
        without a quorum (it is the console's last view, said so by ``problem``)."""
        try:
            kvs, revision = self.client.range_prefix(self.prefix + "/")
        except EtcdUnavailable as exc:
            if not self.readonly:
                raise
            # no quorum: what the member asked holds, said so (``problem``) until a quorum answers
            kvs, revision = self.client.range_prefix(self.prefix + "/", serializable=True)
            self._problem = "etcd has no quorum: read-only, the state may be stale"
            self.problem_detail = str(exc)
            self._checked = time.monotonic()
        header = self.client.call("maintenance/status", {}).get("header", {})
        self.cluster = str(header.get("cluster_id", ""))
        self._build(kvs, revision)
        self.read_at = time.time()

    def _build(self, kvs: list[KeyValue], revision: int) -> None:
        parts: dict[str, Data] = {DESIRED: {}, OBSERVED: {}}
        seen: dict[str, dict[str, dict[str, bytes]]] = {DESIRED: {}, OBSERVED: {}}
        events = _Events(f"{self.url} (events)", self.event_limit)  # type: ignore[attr-defined]
        found_events: list[tuple[int, dict[str, Any]]] = []
        try:
            for kv in kvs:
                rest = kv.key[len(self.prefix) + 1:]
                part, _, tail = rest.partition("/")
                if part == "e":
                    if not tail.isdigit():
                        raise Corrupt(f"key {kv.key} is not an event's")
                    found_events.append((int(tail), _check_event(json.loads(kv.value), kv.key)))
                    continue
                name = DESIRED if part == "d" else OBSERVED if part == "o" else None
                if name is None:
                    continue  # the leader key, keys of a newer tui-orch
                table, _, doc_id = tail.rpartition("/")
                if not doc_id.isdigit():
                    raise Corrupt(f"key {kv.key} has a document id that is not a number")
                table = urllib.parse.unquote(table)
                parts[name].setdefault(table, {})[doc_id] = json.loads(kv.value)
                seen[name].setdefault(table, {})[doc_id] = kv.value
            checked = {name: check_data(data) if data else None for name, data in parts.items()}
            indexes = {DESIRED: DesiredIndex(checked[DESIRED] or {}), OBSERVED: ObservedIndex(checked[OBSERVED] or {})}
        except Newer as exc:
            raise StoreError(f"state {self.url} was written by a newer tui-orch (schema {exc.args[0]}); "
                             f"upgrade tui-orch") from None
        except (Corrupt, ValueError) as exc:
            reason = exc.args[0] if isinstance(exc, Corrupt) else f"a value is not JSON ({exc})"
            raise StoreError(f"state {self.url} is damaged ({reason}); restore a backup with "
                             f"`tui-orch state import FILE --force --state {self.url}`") from None
        for seq, raw in sorted(found_events, key=lambda item: item[0]):
            events.add(seq, raw)
        self._seen = seen
        for name in (DESIRED, OBSERVED):
            data = checked[name]
            fresh = data is None
            self._install(name, data or fresh_data(), indexes[name])
            if fresh and not self.readonly:
                self._touched.add(name)  # type: ignore[attr-defined]
                self._part(name).storage.dirty.add("meta")
        self._events = events  # type: ignore[assignment]
        self.etcd_revision = revision
        self._stale = False

    def _part(self, name: str) -> _Part:
        return self._desired if name == DESIRED else self._observed  # type: ignore[attr-defined,no-any-return]

    def _install(self, name: str, data: Data | None, index: Any) -> None:
        part = _Part(f"{self.url} ({'desired' if name == DESIRED else 'observed'} state)", data or fresh_data(),
                     self.readonly)  # type: ignore[attr-defined]
        if name == DESIRED:
            self._desired, self._d = part, index
            self._revision_cache = {}
            self.desired_changes += 1  # type: ignore[attr-defined]
        else:
            self._observed, self._o = part, index
            self._replica_cache = {}
            self.replica_journal = []

    def _release(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self.leadership is not None:
            self.leadership.resign()

    def raw_tables(self) -> tuple[Data, Data]:
        """Plain copies of the desired and observed tables (state export)."""
        with self._mutex:  # type: ignore[attr-defined]
            return (json.loads(dumps(self._desired.storage._data)),  # type: ignore[attr-defined]
                    json.loads(dumps(self._observed.storage._data)))  # type: ignore[attr-defined]

    def replace_all(self, desired: Data, observed: Data, events: list[dict[str, Any]]) -> None:
        """Make the state exactly these tables and events (state import; the caller checked
        them). Written in fenced transactions of at most MAX_OPS operations: the old keys
        are deleted first, so a cut import leaves part of the new state, never a mix."""
        ops: list[dict[str, Any]] = [
            {"request_delete_range": {"key": b64(f"{self.prefix}/{part}/"), "range_end": b64(prefix_end(f"{self.prefix}/{part}/"))}}
            for part in ("d", "o", "e")]
        for name, data in ((DESIRED, desired), (OBSERVED, observed)):
            for table, docs in data.items():
                for doc_id, doc in docs.items():
                    ops.append({"request_put": {"key": b64(self._key(name, table, str(doc_id))),
                                                "value": b64(dumps(doc))}})
        kept = events[-self.event_limit:]  # type: ignore[attr-defined]
        for seq, raw in enumerate(kept, start=1):
            ops.append({"request_put": {"key": b64(f"{self.prefix}/e/{seq:016d}"), "value": b64(dumps(raw))}})
        with self._mutex:  # type: ignore[attr-defined]
            self._write(ops[:3])  # etcd refuses a delete and a put of one key in one transaction
            self._write(ops[3:])
            self._load()
            self.changes += 1  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ following (read-only)
    def _follow(self) -> None:
        watch = self._watch = Watch()
        start = self.etcd_revision + 1

        def run() -> None:
            try:
                self.client.watch(self.prefix + "/", start, lambda evs, rev: self._watched.put((evs, rev)), watch)
            except StoreError as exc:
                self._watched.put(exc)

        threading.Thread(target=run, name="tui-orch-etcd-watch", daemon=True).start()

    @property
    def problem(self) -> str | None:
        """Why what this process shows may be stale or it cannot act (None: all is well)."""
        if self.lost is not None:
            return f"lost the lead of {self.url} ({self.lost})"
        return self._problem

    def _check_quorum(self) -> None:
        """A read-only open: one linearizable read of one key (needs a quorum), at most
        every QUORUM_CHECK seconds; sets ``problem`` while it fails."""
        now = time.monotonic()
        if now - self._checked < QUORUM_CHECK:
            return
        self._checked = now
        try:  # the newest change under the prefix, read through a quorum
            answer = self.client.call("kv/range", {
                "key": b64(self.prefix + "/"), "range_end": b64(prefix_end(self.prefix + "/")), "limit": 1,
                "sort_order": "DESCEND", "sort_target": "MOD", "keys_only": True}, timeout=1.0)
        except StoreError as exc:
            when = time.strftime("%H:%M:%S", time.localtime(self.read_at))
            self._problem = f"etcd has no quorum: read-only, state as of {when}"
            self.problem_detail = str(exc)
            return
        self._problem = None
        newest = max((int(kv.get("mod_revision", 0)) for kv in answer.get("kvs") or []), default=0)
        if newest > self.etcd_revision and self._watched.empty():
            self._behind += 1
            if self._behind >= 2:  # the watch fell silent (its member cut off): read again, watch anew
                self._behind = 0
                self._watched.put(StoreError("the watch fell behind"))
        else:
            self._behind = 0

    def pending(self) -> bool:
        return self.readonly and not self._watched.empty()

    def refresh(self) -> None:
        """Read-only: take in the changes the watch saw since the last refresh (the whole state
        is read again only when the watch broke: the member it used went away, or etcd
        compacted past the revision this console last saw). Never raises for etcd being
        away: ``problem`` says so and the last state stays shown."""
        with self._mutex:  # type: ignore[attr-defined]
            if not self.readonly:
                return
            try:
                self._refresh()
            except StoreError as exc:
                self._problem = "etcd does not answer: read-only, showing the last state read"
                self.problem_detail = str(exc)
            else:
                self._check_quorum()

    def _refresh(self) -> None:
        batches = []
        broken = False
        while True:
            try:
                item = self._watched.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, Exception):
                broken = True
            else:
                batches.append(item)
        if broken or self._watch is None:
            if self._watch is not None:
                self._watch.cancel()
                self._watch = None
            self._load()
            self._follow()
            self.changes += 1  # type: ignore[attr-defined]
        elif batches:
            self._apply(batches)
            self.read_at = time.time()
            self.changes += 1  # type: ignore[attr-defined]

    def _apply(self, batches: list[tuple[list[dict[str, Any]], int]]) -> None:
        data = {DESIRED: self._desired.storage._data, OBSERVED: self._observed.storage._data}  # type: ignore[attr-defined]
        log: _Events = self._events  # type: ignore[assignment]
        touched = set()
        for events, revision in batches:
            for ev in events:
                kv: KeyValue = ev["kv"]
                put = ev["type"] != "DELETE"
                part, _, tail = kv.key[len(self.prefix) + 1:].partition("/")
                if part == "e" and tail.isdigit():
                    seq = int(tail)
                    if put and (not log.seqs or seq > log.seqs[-1]):
                        try:
                            log.add(seq, _check_event(json.loads(kv.value), kv.key))
                        except (Corrupt, ValueError):
                            pass  # the leader wrote it; a damaged one is reported by a full read
                    elif not put:  # a trim deletes the oldest
                        log.drop_before(seq + 1)
                    continue
                name = DESIRED if part == "d" else OBSERVED if part == "o" else None
                if name is None:
                    continue
                table, _, doc_id = tail.rpartition("/")
                table = urllib.parse.unquote(table)
                touched.add(name)
                if put:
                    try:
                        doc = json.loads(kv.value)
                    except ValueError:
                        self._watched.put(StoreError(f"key {kv.key} is not JSON"))  # a full read says what is wrong
                        continue
                    data[name].setdefault(table, {})[doc_id] = doc
                    self._seen[name].setdefault(table, {})[doc_id] = kv.value
                else:
                    data[name].get(table, {}).pop(doc_id, None)
                    self._seen[name].get(table, {}).pop(doc_id, None)
                    if table in data[name] and not data[name][table]:
                        del data[name][table]
            self.etcd_revision = max((ev["kv"].mod_revision for ev in events), default=revision)
        for name in touched:
            try:
                checked = check_data(data[name]) or fresh_data()
                index = (DesiredIndex if name == DESIRED else ObservedIndex)(checked)
            except (Corrupt, Newer):
                self._watched.put(StoreError("a watched change cannot be read"))  # reread all next time
                return
            self._install(name, checked, index)

    # ------------------------------------------------------------------ writing (the leader)
    def _diff(self, name: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, bytes]]]:
        part = self._part(name)
        data = part.storage._data
        seen = self._seen[name]
        tables = set(part.storage.dirty) | {t for t in seen if t not in data}
        ops: list[dict[str, Any]] = []
        after: dict[str, dict[str, bytes]] = {}
        for table in sorted(tables, key=_table_order):
            old = seen.get(table, {})
            new: dict[str, bytes] = {}
            puts = []
            for doc_id, doc in data.get(table, {}).items():
                value = dumps(doc).encode()
                new[str(doc_id)] = value
                if old.get(str(doc_id)) != value:
                    puts.append({"request_put": {"key": b64(self._key(name, table, str(doc_id))), "value": b64(value)}})
            for doc_id in old:  # deletes first: a record moved to a new id is never there twice
                if doc_id not in new:
                    ops.append({"request_delete_range": {"key": b64(self._key(name, table, doc_id))}})
            ops += puts
            after[table] = new
        return ops, after

    def _before_transaction(self) -> None:
        if self._stale and not self.readonly:
            self._load()  # StoreError while etcd does not answer: the change is refused whole

    def _commit(self) -> None:
        try:
            if self.lost is not None:
                raise NotLeading(f"state {self.url}: this process no longer leads ({self.lost}); nothing was written")
            if self._stale:  # a write failed half-way or unknown: start from what etcd holds
                raise StoreError(f"state {self.url}: a write before this one may not have been saved; the state "
                                 f"is being read again, nothing of this change was written")
            ops: list[dict[str, Any]] = []
            afters = {}
            for name in (DESIRED, OBSERVED):
                part = self._part(name)
                part.storage.hold = False
                if name in self._touched or part.storage.pending:  # type: ignore[attr-defined]
                    more, afters[name] = self._diff(name)
                    ops += more
            events, self._pending_events = self._pending_events, []  # type: ignore[attr-defined]
            log: _Events = self._events  # type: ignore[assignment]
            next_seq = (log.seqs[-1] + 1) if log.seqs else 1
            event_ops = []
            for i, ev in enumerate(events):
                event_ops.append({"request_put": {"key": b64(f"{self.prefix}/e/{next_seq + i:016d}"),
                                                  "value": b64(dumps(to_dict(ev)))}})
            keep_from = next_seq + len(events) - self.event_limit  # type: ignore[attr-defined]
            trim = log.seqs and log.seqs[0] < keep_from - max(1, self.event_limit // 10)  # type: ignore[attr-defined]
            if trim:
                event_ops.append({"request_delete_range": {"key": b64(f"{self.prefix}/e/"),
                                                           "range_end": b64(f"{self.prefix}/e/{keep_from:016d}")}})
            self._write(ops + event_ops)
            for name, after in afters.items():
                self._seen[name].update(after)
                for table in [t for t, docs in self._seen[name].items() if not docs]:
                    del self._seen[name][table]
                part = self._part(name)
                if part.storage.pending or any(after.values()) or name in self._touched:  # type: ignore[attr-defined]
                    self.changes += 1  # type: ignore[attr-defined]
                    if name == DESIRED:
                        self.desired_changes += 1  # type: ignore[attr-defined]
                part.storage.pending = False
                part.storage.dirty.clear()
                self._touched.discard(name)  # type: ignore[attr-defined]
            for i, ev in enumerate(events):
                log.add(next_seq + i, {"time": ev.time, "service": ev.service})
                log._decoded[-1] = ev
            if trim:
                log.drop_before(keep_from)
        except BaseException:
            self._rollback()  # type: ignore[attr-defined]
            raise

    def _write(self, ops: list[dict[str, Any]]) -> None:
        lead = self.leadership
        if not ops:
            return
        if lead is None:
            raise StoreError(f"state {self.url} is open read-only; this command cannot change it")
        for i, chunk in enumerate(_chunks(ops)):
            try:
                ok, answer = self._txn([lead.fence()], chunk)
            except StoreError as exc:  # unavailable (it may have been applied), or refused
                self._stale = True  # memory is not known to match etcd: reread before the next write
                raise StoreError(f"state {self.url}: cannot write ({exc}); "
                                 + ("part of the change was saved" if i else "it may not have been saved")) from None
            if not ok:
                self._lose("another process took the lead")
                raise NotLeading(f"state {self.url}: another process took the lead; this one no longer acts"
                                 + ("; part of the change was saved" if i else "; nothing was written"))
            self.etcd_revision = int(answer.get("header", {}).get("revision", self.etcd_revision))

    def _txn(self, compare: list[dict[str, Any]], ops: list[dict[str, Any]]) -> tuple[bool, dict[str, Any]]:
        """One fenced transaction, tried again for a while when etcd does not answer (a member
        died, the cluster elects a leader: a second or two). Trying again is safe: the same
        puts and deletes, and a fence that still holds only while this process leads."""
        deadline = time.monotonic() + WRITE_PATIENCE
        while True:
            try:
                return self.client.txn(compare, ops)
            except EtcdUnavailable:
                if time.monotonic() >= deadline or self.lost is not None or not self.leadership or \
                        not self.leadership.acting():
                    raise
                time.sleep(0.2)

    def _rollback(self) -> None:
        """Memory back to what etcd is known to hold (``_seen``: no network needed); when that
        is not known (a write failed half-way or without an answer), read etcd again, and
        until that succeeds refuse writes and container actions (``acting``)."""
        for name in (DESIRED, OBSERVED):
            self._part(name).storage.hold = False
        self._pending_events = []  # type: ignore[attr-defined]
        self._touched.clear()  # type: ignore[attr-defined]
        if self._stale:
            try:
                self._load()
            except StoreError:
                pass  # still stale: the next write tries again
        else:
            for name in (DESIRED, OBSERVED):
                data: Data = {table: {doc_id: json.loads(value) for doc_id, value in docs.items()}
                              for table, docs in self._seen[name].items()}
                data = data or fresh_data()
                self._install(name, data, (DesiredIndex if name == DESIRED else ObservedIndex)(data))
        self.changes += 1  # type: ignore[attr-defined]

