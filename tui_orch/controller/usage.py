"""The last hour of cpu and memory per node and per service, at 10-second resolution, kept
across console restarts (the plot screen draws it; the sparklines show the last minutes at one
sample a second, from the nodes' own memory).

One value pair per key and slot: slot ``s`` holds the sample of the 10 seconds
``[s*RES, (s+1)*RES)``; a key's row is a ring of SLOTS slots, the slot of time t at index
``(t // RES) % SLOTS``. Every row shares one clock (``last``: the newest slot written), so a
sample writes one cell per key and advancing the clock blanks the slots it skipped for every
row at once (numpy, no Python loop over keys). Values are float16 (3 significant digits, as a
plot wants): node cpu and memory in percent, a service's cpu in cores and memory in GiB;
NaN is "no sample". 1,000 nodes and 200 services take 1.7 MB, in memory and on disk.

The file (``save``/``load``): a line of JSON (format, resolution, slots, last slot, keys),
then the rows' bytes compressed (zlib, level 1: the blank slots of keys not seen all hour
compress away). Written whole to a temporary file, mode 0600, then renamed over the old one:
a console that dies while writing leaves the previous file."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from dataclasses import dataclass
from pathlib import Path


from tui_orch.errors import TuiOrchError

if TYPE_CHECKING:
    import numpy as np
else:
    class _Numpy:
        """numpy, imported when first used: the console makes its UsageHistory before its first
        frame, which must not wait for numpy's import (tests/test_cli_startup.py); the first
        sample comes after it."""

        def __getattr__(self, name: str) -> Any:
            import numpy

            return getattr(numpy, name)

    np = _Numpy()

RES = 10  # seconds per slot
SLOTS = 360  # one hour
MAX_KEYS = 50_000  # a bound on the rows kept (keys beyond it are not recorded)
FORMAT = "tui-orch usage 1"
GIB = float(1 << 30)

Sample = Mapping[str, tuple[float, float]]  # key ("node/NAME", "service/NAME") -> (cpu, memory)


def node_key(name: str) -> str:
    return f"node/{name}"


def service_key(name: str) -> str:
    return f"service/{name}"


class UsageHistory:
    """Rings of (cpu, memory) per key; ``record`` a sample every RES seconds, ``series`` reads."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}  # key -> row in ``data``
        self.seen: dict[str, int] = {}  # key -> the last slot it had a sample in
        self._data: np.ndarray | None = None  # made when first used (see np above)
        self.last = -1  # the newest slot written (-1: none)
        self._free: list[int] = []  # rows of keys dropped, to reuse

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def data(self) -> np.ndarray:
        if self._data is None:
            self._data = np.full((0, SLOTS, 2), np.nan, dtype=np.float16)
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = value

    def _row(self, key: str) -> int | None:
        row = self.rows.get(key)
        if row is not None:
            return row
        if self._free:
            row = self._free.pop()
        elif len(self.rows) >= MAX_KEYS:
            return None
        else:
            row = len(self.rows)
            if row >= len(self.data):  # double: a fleet grows by many nodes at once
                grown = np.full((max(16, 2 * len(self.data)), SLOTS, 2), np.nan, dtype=np.float16)
                grown[:len(self.data)] = self.data
                self.data = grown
        self.data[row] = np.nan
        self.rows[key] = row
        return row

    def _advance(self, slot: int) -> None:
        """Move the clock to ``slot``: the slots it passes over hold nothing (for every row)."""
        if self.last >= 0 and slot > self.last:
            gap = slot - self.last
            cols = np.arange(self.last + 1, slot + 1) % SLOTS if gap < SLOTS else slice(None)
            self.data[:, cols] = np.nan
        elif self.last < 0:
            self.data[:] = np.nan
        self.last = max(self.last, slot)

    def record(self, now: float, sample: Sample) -> None:
        """The values of ``now``'s slot (a second sample in one slot replaces the first); keys
        with no sample for an hour are dropped."""
        slot = int(now // RES)
        if slot < self.last - SLOTS + 1:
            return  # older than the hour kept (a clock set back)
        self._advance(slot)
        rows, values = [], []
        for key, pair in sample.items():
            row = self._row(key)
            if row is not None:
                rows.append(row)
                values.append(pair)
                self.seen[key] = max(self.seen.get(key, slot), slot)
        if rows:
            self.data[np.array(rows), slot % SLOTS] = np.array(values, dtype=np.float32).astype(np.float16)
        self._forget(self.last - SLOTS)

    def _forget(self, before: int) -> None:
        for key in [k for k, s in self.seen.items() if s <= before]:
            self._free.append(self.rows.pop(key))
            del self.seen[key]

    def series(self, key: str, now: float) -> tuple[list[float], list[float]]:
        """The last hour up to ``now`` of ``key``: (cpu, memory), SLOTS values each, oldest
        first, NaN where there is no sample (the console was closed, the node away)."""
        blank = [math.nan] * SLOTS
        row = self.rows.get(key)
        end = int(now // RES)
        if row is None or self.last < 0:
            return blank, list(blank)
        slots = np.arange(end - SLOTS + 1, end + 1)
        values = self.data[row, slots % SLOTS].astype(np.float32)
        values[(slots > self.last) | (slots <= self.last - SLOTS)] = np.nan  # not written in this hour
        return values[:, 0].tolist(), values[:, 1].tolist()

    # ------------------------------------------------------------------ file
    def snapshot(self) -> "Snapshot":
        """What ``write`` saves, taken on the event loop at the cost of copying two small
        dictionaries; the rows' bytes are read by ``Snapshot.encode``, in the writing thread.
        A sample recorded meanwhile may be half in the file: the next write has it whole."""
        return Snapshot(dict(self.rows), dict(self.seen), self.last, self.data)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "UsageHistory":
        """The history of a file's (uncompressed) bytes; ValueError when they are not one."""
        line, _, body = raw.partition(b"\n")
        head = json.loads(line)
        if not isinstance(head, dict) or head.get("format") != FORMAT or head.get("res") != RES \
                or head.get("slots") != SLOTS:
            raise ValueError("not a usage history of this version")
        keys, seen, last = head["keys"], head["seen"], int(head["last"])
        if not (isinstance(keys, list) and isinstance(seen, list) and len(keys) == len(seen)
                and all(isinstance(k, str) for k in keys)) or len(keys) > MAX_KEYS:
            raise ValueError("its list of keys is damaged")
        data = np.frombuffer(body, dtype=np.float16)
        if data.size != len(keys) * SLOTS * 2:
            raise ValueError(f"{data.size} values for {len(keys)} keys")
        out = cls()
        out.data = data.reshape(len(keys), SLOTS, 2).copy()
        out.rows = {k: i for i, k in enumerate(keys)}
        out.seen = {k: int(s) for k, s in zip(keys, seen)}
        out.last = last
        return out


@dataclass(frozen=True)
class Snapshot:
    """A history as it was when ``UsageHistory.snapshot`` took it (``data`` is the array it
    had: a history that grows makes itself a new one)."""

    rows: dict[str, int]
    seen: dict[str, int]
    last: int
    data: np.ndarray

    def encode(self) -> bytes:
        """The file's bytes before compression: rows in the order of their keys."""
        keys = sorted(self.rows, key=self.rows.__getitem__)
        head = {"format": FORMAT, "res": RES, "slots": SLOTS, "last": self.last,
                "keys": keys, "seen": [self.seen[k] for k in keys]}
        order = np.fromiter((self.rows[k] for k in keys), dtype=np.int64, count=len(keys))
        body = self.data[order].tobytes() if len(order) else b""
        return json.dumps(head, separators=(",", ":")).encode() + b"\n" + body


def write(path: Path, snapshot: Snapshot) -> None:
    """Encode, compress and write ``snapshot`` to ``path`` (mode 0600) through a temporary
    file renamed over it. Runs in a thread. Raises TuiOrchError naming the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".usage-", dir=path.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(zlib.compress(snapshot.encode(), 1))
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise TuiOrchError(f"cannot write the usage history {path}: {exc.strerror or exc}; "
                           f"the plots keep what this console saw") from exc


def load(path: Path) -> tuple[UsageHistory, str]:
    """The history in ``path`` (an empty one when there is no file), and a sentence when the
    file was there but could not be read (then it starts afresh)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return UsageHistory(), ""
    except OSError as exc:
        return UsageHistory(), f"cannot read the usage history {path}: {exc.strerror or exc}; the plots start afresh"
    try:
        return UsageHistory.from_bytes(zlib.decompress(raw)), ""
    except (zlib.error, ValueError, KeyError, TypeError) as exc:
        return UsageHistory(), f"the usage history {path} is damaged ({exc}); the plots start afresh"
