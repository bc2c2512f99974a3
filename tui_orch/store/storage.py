"""The TinyDB storage of the state files: an in-memory copy, written through atomically.

TinyDB hands its storage the whole database on every write. This storage keeps that
database in memory (read once at open; every read is served from memory) and writes it
back with ``files.atomic_write`` (temp file, fsync, rename, fsync of the folder), so a write
returns only once it is durable and a crash leaves either the old or the new file.

Two things keep a write cheap as the state grows:
- each table is serialised on its own and its JSON text is reused while the table is
  unchanged. TinyDB replaces a table's dict on every change to it (``Table._update_table``)
  and the store also names the tables it changes (``dirty``); a table is re-serialised when
  either says so. So a write costs the JSON of the tables it changed plus copying the bytes;
- while ``hold`` is set (a transaction), writes only mark the storage ``pending`` and the
  transaction ends with one ``flush``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tinydb.storages import Storage

from tui_orch.errors import StoreError
from tui_orch.store.files import atomic_write

SCHEMA = 1
META = "meta"

Data = dict[str, dict[str, dict[str, Any]]]

dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class Corrupt(Exception):
    """A state file that cannot be read as what it should be (reason in args[0])."""


class Newer(Exception):
    """A state file written by a newer schema (the schema number in args[0])."""


def fresh_data() -> Data:
    return {META: {"1": {"schema": SCHEMA}}}


def schema_of(data: Any) -> Any:
    meta = data.get(META) if isinstance(data, dict) else None
    if isinstance(meta, dict):
        for doc in meta.values():
            if isinstance(doc, dict) and "schema" in doc:
                return doc["schema"]
    return None


def check_schema(schema: Any) -> None:
    """Raise Newer for a newer schema, Corrupt for one that is not a schema number."""
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise Corrupt(f"schema version {schema!r} is not a positive integer")
    if schema > SCHEMA:
        raise Newer(schema)


def parse_db(raw: bytes | None) -> Data | None:
    """A TinyDB JSON file's content checked for shape; None when missing.

    Raises Newer before any shape check (a newer tui-orch may use another shape) and
    Corrupt for an empty file (every write of ours leaves at least the schema, so an empty
    file is a lost one, never an empty state), invalid JSON or a wrong shape."""
    if raw is None:
        return None
    if not raw.strip():
        raise Corrupt(f"it is empty ({len(raw)} bytes)")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Corrupt(f"not valid JSON: {exc}") from None
    return check_data(data)


def check_data(data: Any) -> Data | None:
    """parse_db's checks of an already decoded database (the etcd store assembles one)."""
    if not isinstance(data, dict):
        raise Corrupt(f"expected a JSON object of tables, found {type(data).__name__}")
    schema = schema_of(data)
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > SCHEMA:
        raise Newer(schema)
    for name, table in data.items():
        if not isinstance(table, dict):
            raise Corrupt(f"table {name!r} is not an object")
        for doc_id, doc in table.items():
            if not (doc_id.isascii() and doc_id.isdigit()):
                raise Corrupt(f"table {name!r} has a document id {doc_id!r} that is not a number")
            if not isinstance(doc, dict):
                raise Corrupt(f"document {doc_id} of table {name!r} is not an object")
    if schema is None:
        if any(table for name, table in data.items() if name != META):
            raise Corrupt("it has no schema version")
        return None
    check_schema(schema)
    return data


class AtomicJSONStorage(Storage):
    """TinyDB storage: memory copy + atomic, durable write-through. ``dir_fd`` None = read-only."""

    def __init__(self, path: str, data: Data, dir_fd: int | None):
        self.path = path
        self._data = data
        self._dir_fd = dir_fd
        self._fragments: dict[str, tuple[object, str]] = {}
        # table -> doc id -> '"id":{...}' of the tables whose changes name their documents
        self._docs: dict[str, dict[str, str]] = {}
        self.hold = False  # set by a transaction: writes wait for flush()
        self.pending = False  # memory differs from the file
        self.dirty: set[str] = set()  # tables the store changed since the last flush
        self.dirty_docs: dict[str, set[str]] = {}  # of a dirty table: the documents changed, when known
        self.whole: set[str] = set()  # dirty tables changed without naming the documents

    def touch(self, table: str, doc_ids: Iterable[int] | None = None) -> None:
        """``table`` is about to change: its documents ``doc_ids`` only (None: any of them)."""
        self.dirty.add(table)
        if doc_ids is None:
            self.whole.add(table)
        else:
            self.dirty_docs.setdefault(table, set()).update(map(str, doc_ids))

    def read(self) -> Data:
        return self._data

    def write(self, data: Data) -> None:
        if self._dir_fd is None:
            raise StoreError(f"{self.path} is open read-only")
        self._data = data
        self.pending = True
        if not self.hold:
            self.flush()

    def flush(self) -> None:
        """Write memory to the file if it changed; durable when this returns."""
        if not self.pending:
            return
        assert self._dir_fd is not None
        fragments: dict[str, tuple[object, str]] = {}
        parts = []
        for name, table in self._data.items():
            old = self._fragments.get(name)
            if old is not None and old[0] is table and name not in self.dirty:
                text = old[1]
            elif name in self.dirty_docs and name not in self.whole:
                text = self._by_document(name, table)
            else:
                text = dumps(table)
                self._docs.pop(name, None)
            fragments[name] = (table, text)
            parts.append(f"{dumps(name)}:{text}")
        atomic_write(self.path, ("{" + ",".join(parts) + "}").encode(), self._dir_fd)
        self._fragments = fragments
        self.pending = False
        self.dirty.clear()
        self.dirty_docs.clear()
        self.whole.clear()

    def _by_document(self, name: str, table: dict[str, Any]) -> str:
        """The text of a table whose changed documents are known: the others' text is kept
        from the last write (a table of 30,000 replicas took 0.3 s to encode for each record
        changed; joining the kept texts takes a few ms). The same bytes as dumps(table)."""
        old = self._docs.get(name)
        changed = self.dirty_docs[name]
        docs: dict[str, str] = {}
        for doc_id, doc in table.items():
            text = old.get(doc_id) if old is not None and doc_id not in changed else None
            docs[doc_id] = text if text is not None else f"{dumps(doc_id)}:{dumps(doc)}"
        self._docs[name] = docs
        return "{" + ",".join(docs.values()) + "}"

    def serialized(self) -> bytes:
        """The whole memory copy as one plain dump (tests compare it with the file)."""
        return dumps(self._data).encode()

    def close(self) -> None:
        pass
