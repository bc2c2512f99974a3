"""The event log: an append-only JSON-lines file, ``events.jsonl``.

Line 1 is a header, ``{"schema":1}``; every further line is one event (``model.to_dict``).
An append is one ``write`` of whole lines followed by ``fdatasync``; it returns once
durable. Appending costs the size of the new lines, not of the log, which is why events are
not a TinyDB table (TinyDB rewrites its whole file on every write).

A crash can cut only the last append, so on load a last line without its newline is a torn
write and is ignored (the owner also truncates it away so the next append starts on a
clean line). Any other line that cannot be read means the file is corrupt.

Retention: the newest ``limit`` events are kept. The file may hold up to ``limit + chunk``
(chunk = limit // 10) so that a trim, which rewrites the file atomically with the newest
``limit``, happens once every ``chunk`` appends instead of on every append.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tui_orch.errors import StoreError
from tui_orch.model import Event, from_dict, to_dict
from tui_orch.store.files import atomic_write, datasync, write_all
from tui_orch.store.storage import SCHEMA, Corrupt, check_schema, dumps

HEADER = dumps({"schema": SCHEMA}).encode() + b"\n"


def parse_log(raw: bytes | None) -> tuple[list[bytes], list[dict[str, Any]], int]:
    """(event lines, their dicts, length of the good part) of an event log.

    The good part ends at the last newline; what follows is a torn write."""
    if not raw:
        return [], [], 0
    good = raw.rfind(b"\n") + 1
    lines = raw[:good].split(b"\n")[:-1]
    if not lines:
        raise Corrupt("it has no complete header line")
    try:
        header = json.loads(lines[0])
    except ValueError:
        raise Corrupt("line 1 is not the header") from None
    if not isinstance(header, dict) or "schema" not in header:
        raise Corrupt("line 1 is not the header")
    check_schema(header["schema"])
    raws = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            item = json.loads(line)
        except ValueError:
            raise Corrupt(f"line {number} is not valid JSON") from None
        if not (
            isinstance(item, dict)
            and isinstance(item.get("time"), (int, float))
            and isinstance(item.get("kind"), str)
            and isinstance(item.get("message"), str)
        ):
            raise Corrupt(f"line {number} is not an event")
        raws.append(item)
    return lines[1:], raws, good


class EventsView:
    """Events in memory, newest last: what reading them costs (decoded when first read).
    ``_raws`` holds what ``select`` filters on (time, service) and ``_decoded`` the events."""

    path: str
    limit: int
    _raws: list[dict[str, Any]]
    _decoded: list[Event | None]

    def __len__(self) -> int:
        return min(len(self._raws), self.limit)

    def select(
        self, limit: int | None = None, service: str | None = None, since: float | None = None
    ) -> list[Event]:
        start = max(0, len(self._raws) - self.limit)
        indexes = [
            i
            for i in range(start, len(self._raws))
            if (service is None or self._raws[i].get("service") == service)
            and (since is None or self._raws[i]["time"] >= since)
        ]
        if limit is not None:
            indexes = indexes[-limit:] if limit > 0 else []
        return [self._event(i) for i in indexes]

    def _event(self, i: int) -> Event:
        ev = self._decoded[i]
        if ev is None:
            try:
                ev = from_dict(Event, self._raws[i])
            except (TypeError, ValueError, KeyError) as exc:
                raise StoreError(f"an event in {self.path} cannot be read ({exc})") from None
            self._decoded[i] = ev
        return ev


class EventLog(EventsView):
    """The events of one state folder, in memory (newest last) and on disk."""

    def __init__(
        self,
        path: str,
        lines: list[bytes],
        raws: list[dict[str, Any]],
        good: int,
        limit: int,
        dir_fd: int | None,
    ):
        self.path = path
        self.limit = limit
        self.chunk = max(1, limit // 10)
        self._lines = lines
        self._raws = raws
        self._decoded: list[Event | None] = [None] * len(raws)
        self._dir_fd = dir_fd
        self._fd: int | None = None
        self._size = 0
        if dir_fd is not None:
            self._open_append(good)
            if len(self._lines) > self.limit + self.chunk:
                self._trim()

    # ----------------------------------------------------------------- writing

    def _open_append(self, good: int | None = None) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        size = os.fstat(fd).st_size
        if good is not None and size > good:  # drop a torn last line
            os.ftruncate(fd, good)
            datasync(fd)
            size = good
        self._size = size
        self._fd = fd

    def append(self, events: list[Event]) -> None:
        """Append events durably (one write, one fdatasync); trim when the log is full."""
        if not events:
            return
        if self._fd is None:
            raise StoreError(f"{self.path} is open read-only")
        lines = [dumps(to_dict(ev)).encode() for ev in events]
        data = b"\n".join(lines) + b"\n"
        try:
            write_all(self._fd, data)
            datasync(self._fd)
        except OSError as exc:
            try:  # never leave half a line for the next append to run into
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise StoreError(f"cannot append to {self.path}: {exc.strerror}") from None
        self._size += len(data)
        self._lines.extend(lines)
        self._raws.extend({"time": ev.time, "service": ev.service} for ev in events)  # what select reads
        self._decoded.extend(events)
        if len(self._lines) > self.limit + self.chunk:
            self._trim()

    def _trim(self) -> None:
        """Keep the newest ``limit`` events: rewrite the file atomically, reopen it."""
        assert self._dir_fd is not None and self._fd is not None
        keep = len(self._lines) - self.limit
        data = HEADER + b"".join(line + b"\n" for line in self._lines[keep:])
        try:
            atomic_write(self.path, data, self._dir_fd)
        except OSError:
            return  # the appends are durable; trimming is retried on the next append
        os.close(self._fd)
        self._fd = None
        del self._lines[:keep], self._raws[:keep], self._decoded[:keep]
        self._open_append()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def create_log(path: str, dir_fd: int) -> None:
    """A new, empty log (header only), created atomically with mode 0600."""
    atomic_write(path, HEADER, dir_fd)
