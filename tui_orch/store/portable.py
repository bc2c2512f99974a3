"""``tui-orch state export`` / ``import``: a whole state folder as one JSON document, for
backups and for moving a fleet's state between folders (and, later, stores).

The document: ``{"format": "tui-orch-state", "schema": N, "exported_at": T, "source": DIR,
"desired": {...}, "observed": {...}, "events": [...]}``: the two state files' tables as
they are, and the event log's events, oldest first. An export reads a consistent snapshot
of each file (they are replaced atomically), checked as a read-only open checks them; it
never takes the lock, so it works while a console or controller runs.

An import is checked whole before anything is written: the document's shape and schema,
then the files it makes are opened as a state folder in a scratch folder beside the target
(every check ``open_store`` makes). It takes the target's lock for the writes (refused while
a console, command or controller owns it), and refuses a target that already holds
services or replicas unless ``force`` (the files it replaces are moved aside, never lost)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from typing import Any

from tui_orch.errors import StoreError
from tui_orch.manifest.deploy import MAX_REPLICAS
from tui_orch.store import files
from tui_orch.store.base import DESIRED, EVENTS, OBSERVED
from tui_orch.store.events import HEADER, parse_log
from tui_orch.store.storage import SCHEMA, Corrupt, Newer, dumps, parse_db
from tui_orch.store.target import is_etcd

FORMAT = "tui-orch-state"
MAX_DOCUMENT = 1 << 30  # bytes: far above 10,000 events and a 50,000-replica fleet


def export_state(folder: str) -> tuple[dict[str, Any], dict[str, int]]:
    """(the document, what it holds: ``counts``). ``folder`` may be an etcd:// URL."""
    if is_etcd(folder):
        return _export_etcd(folder)
    if not os.path.isdir(folder):
        raise StoreError(f"there is no state in {folder}; give the folder with --state DIR")
    held = counts(folder)  # the open refuses a corrupt or newer state, naming the file
    desired = parse_db(files.read_bytes(os.path.join(folder, DESIRED))) or {}
    observed = parse_db(files.read_bytes(os.path.join(folder, OBSERVED))) or {}
    _lines, events, _good = parse_log(files.read_bytes(os.path.join(folder, EVENTS)))
    return {"format": FORMAT, "schema": SCHEMA, "exported_at": time.time(), "source": os.path.abspath(folder),
            "desired": desired, "observed": observed, "events": events}, held


def counts(folder: str) -> dict[str, int]:
    """services, replicas and events the state in ``folder`` holds (what the CLI reports)."""
    from tui_orch.store import open_store

    store = open_store(folder, readonly=True)
    try:
        return {"services": len(store.services()), "replicas": len(store.replicas()),
                "events": len(store.events(limit=None))}
    finally:
        store.close()


def import_state(document: Any, folder: str, *, source: str, force: bool = False) -> list[str]:
    """Make ``folder`` hold the state of ``document`` (read from ``source``, named in errors);
    returns the paths of the files moved aside (with ``force``)."""
    from tui_orch.store import open_store

    payload = _files_of(document, source)
    _check(payload, source)  # every record read as tui-orch will read it, before anything is written
    if is_etcd(folder):
        return _import_etcd(document, folder, force)
    files.ensure_folder(folder)
    lock = files.FolderLock(folder)  # StoreLocked naming the owner
    try:
        current = open_store(folder, readonly=True)
        try:
            services, replicas = len(current.services()), len(current.replicas())
        finally:
            current.close()
        held = services + replicas
        if held and not force:
            raise StoreError(f"{folder} already holds a state ({_count(services, 'service')} and "
                             f"{_count(replicas, 'replica')}); import into an empty folder (--state DIR), or add "
                             f"--force to replace it (its files are moved aside, not deleted)")
        dir_fd = files.open_dir(folder)
        aside = []
        try:
            for name, data in payload.items():
                path = os.path.join(folder, name)
                if held and os.path.exists(path):
                    aside.append(files.move_aside(path, dir_fd))
                files.atomic_write(path, data, dir_fd)
        finally:
            os.close(dir_fd)
        return aside
    finally:
        lock.release()


def _files_of(document: Any, source: str) -> dict[str, bytes]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StoreError(f"{source} is not a tui-orch state export (no \"format\": \"{FORMAT}\"); "
                         f"make one with `tui-orch state export`")
    schema = document.get("schema")
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise StoreError(f"{source}: \"schema\" is not a number")
    if schema > SCHEMA:
        raise StoreError(f"{source} was exported by a newer tui-orch (schema {schema} > {SCHEMA}); upgrade tui-orch")
    out: dict[str, bytes] = {}
    for key, name in (("desired", DESIRED), ("observed", OBSERVED)):
        data = document.get(key)
        if not isinstance(data, dict):
            raise StoreError(f"{source}: \"{key}\" is not an object of tables")
        raw = dumps(data).encode()
        try:
            parse_db(raw)
        except (Corrupt, Newer) as exc:
            raise StoreError(f"{source}: \"{key}\" cannot be a state file: {exc.args[0]}") from None
        out[name] = raw
    events = document.get("events")
    if not isinstance(events, list):
        raise StoreError(f"{source}: \"events\" is not a list")
    log = HEADER + b"".join(dumps(ev).encode() + b"\n" for ev in events)
    try:
        parse_log(log)
    except Corrupt as exc:
        raise StoreError(f"{source}: \"events\" holds an entry that is not an event ({exc.args[0]}, "
                         f"counting the log's header as line 1)") from None
    out[EVENTS] = log
    return out


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _check(payload: dict[str, bytes], source: str) -> None:
    """Open the files as a state folder (in a scratch folder of the system's) and read every
    record as the commands will: what a command could not read later is refused now."""
    from tui_orch.store import open_store

    scratch = tempfile.mkdtemp(prefix="tui-orch-import-")
    try:
        for name, data in payload.items():
            fd = os.open(os.path.join(scratch, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        try:
            store = open_store(scratch, readonly=True)
            try:
                for rec in store.services():
                    numbers = {r.number for r in store.revisions(rec.name)}
                    if rec.revision not in numbers:
                        raise StoreError(f"service {rec.name} is at revision {rec.revision}, which the export "
                                         f"does not hold (it holds {sorted(numbers) or 'none'})")
                    if rec.replicas is not None and not 0 <= rec.replicas <= MAX_REPLICAS:
                        raise StoreError(f"service {rec.name} is scaled to {rec.replicas} replicas (0 to {MAX_REPLICAS})")
                store.replicas()
                store.events(limit=None)
                store.rollouts()
                store.availability()
                store.node_status()
            finally:
                store.close()
        except StoreError as exc:
            raise StoreError(f"{source} is not a state tui-orch can use: {_reason(str(exc), scratch)}; "
                             f"nothing was imported") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _reason(message: str, scratch: str) -> str:
    """A store's message about the scratch folder, said of the export."""
    found = re.search(r"state file \S*/(desired|observed)\.json is corrupt \((.*?)\); ", message)
    if found:
        return f"its {found[1]} state is damaged ({found[2]})"
    return message.replace(f" in {scratch}/", " in the export's ").replace(scratch + "/", "the export's ")


def load_document(path: str) -> Any:
    """The JSON of an export file ('-': standard input), or StoreError naming the file."""
    import sys

    try:
        if path == "-":
            return json.load(sys.stdin)
        if not os.path.exists(path):
            raise StoreError(f"{path}: no such file; give the file `tui-orch state export -o FILE` wrote")
        if not os.path.isfile(path):
            raise StoreError(f"{path}: not a file; give the file `tui-orch state export -o FILE` wrote")
        if os.path.getsize(path) > MAX_DOCUMENT:
            raise StoreError(f"{path}: {os.path.getsize(path) >> 20} MiB is more than a state export can be "
                             f"({MAX_DOCUMENT >> 20} MiB); is it the right file?")
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StoreError(f"{path}: cannot be read as JSON ({str(exc)[:200]})") from None


def _export_etcd(url: str) -> tuple[dict[str, Any], dict[str, int]]:
    from tui_orch.model import to_dict
    from tui_orch.store import open_store

    store = open_store(url, readonly=True)
    try:
        held = {"services": len(store.services()), "replicas": len(store.replicas()),
                "events": len(store.events(limit=None))}
        desired, observed = store.raw_tables()
        events = [to_dict(ev) for ev in store.events(limit=None)]
    finally:
        store.close()
    return {"format": FORMAT, "schema": SCHEMA, "exported_at": time.time(), "source": url,
            "desired": desired, "observed": observed, "events": events}, held


def _import_etcd(document: dict[str, Any], url: str, force: bool) -> list[str]:
    """Replace the etcd state's keys with the document's, leading it meanwhile (StoreLeased
    while another process leads). With ``force``, what it held is first exported to a file
    in this machine's folder for the state (returned), never lost."""
    from tui_orch.store import EtcdStore, state_target

    store = EtcdStore(state_target(url), repair=force)  # type: ignore[arg-type]
    try:
        services, replicas = len(store.services()), len(store.replicas())
        held = services + replicas
        if held and not force:
            raise StoreError(f"{url} already holds a state ({_count(services, 'service')} and "
                             f"{_count(replicas, 'replica')}); import into another prefix, or add --force to "
                             f"replace it (it is exported to a file first, not deleted)")
        aside = [store.repaired] if store.repaired else []
        if held:
            from tui_orch.model import to_dict

            desired, observed = store.raw_tables()
            old = {"format": FORMAT, "schema": SCHEMA, "exported_at": time.time(), "source": url,
                   "desired": desired, "observed": observed,
                   "events": [to_dict(ev) for ev in store.events(limit=None)]}
            path = os.path.join(str(store.folder), time.strftime("replaced-%Y%m%dT%H%M%SZ.json", time.gmtime()))
            dir_fd = files.open_dir(str(store.folder))
            try:
                files.atomic_write(path, dumps(old).encode(), dir_fd)
            finally:
                os.close(dir_fd)
            aside.append(path)
        try:
            store.replace_all(document["desired"], document["observed"], document["events"])
        except StoreError as exc:
            kept = f"; what it held before is in {', '.join(aside)}" if aside else ""
            raise StoreError(f"the import into {url} was cut off: {exc}{kept}; run the import again") from None
        return aside
    finally:
        store.close()
