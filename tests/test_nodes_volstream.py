"""The two-thread tar pump: blocks arrive whole and in order, the checksum sees all of them,
a failed read reaches the writer, and a writer that stops early does not leave the reader
hanging."""

from __future__ import annotations

import io
import tarfile
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from tui_orch.nodes.tardigest import TarDigest
from tui_orch.nodes.volstream import BLOCK, Pump


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(3):
            info = tarfile.TarInfo(f"v/f{i}")
            data = bytes([i]) * (BLOCK + 1000 * i)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Raw(io.BytesIO):
    """A response body as urllib3 reads it (decode_content: the engine may gzip it)."""

    def read(self, size: Any = -1, decode_content: bool = False) -> bytes:
        assert decode_content
        return super().read(size)


class Broken(Raw):
    def read(self, size: Any = -1, decode_content: bool = False) -> bytes:
        if self.tell() >= BLOCK:
            raise OSError("connection reset")
        return super().read(size, decode_content)


def _pump(raw: Raw, stop: threading.Event | None = None) -> tuple[Pump, TarDigest, list[int]]:
    digest, seen = TarDigest(), []
    return Pump(SimpleNamespace(raw=raw), digest, stop or threading.Event(), seen.append), digest, seen  # type: ignore[arg-type]


def test_the_blocks_and_the_checksum_are_the_stream_s() -> None:
    data = _tar()
    pump, digest, seen = _pump(Raw(data))
    blocks = list(pump)
    assert b"".join(blocks) == data and all(len(b) == BLOCK for b in blocks[:-1])
    expected = TarDigest()
    expected.feed(data)
    assert digest.result() == expected.result() and seen[-1] == len(data)


def test_a_failed_read_fails_the_writer() -> None:
    pump, _, _ = _pump(Broken(_tar()))
    with pytest.raises(OSError, match="connection reset"):
        list(pump)


def test_a_writer_that_stops_early_lets_the_reader_go() -> None:
    pump, _, _ = _pump(Raw(bytes(40 * BLOCK)))  # more than the queue holds
    for _ in pump:
        break  # the writer failed after its first block
    deadline = time.monotonic() + 5
    while pump._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pump._thread.is_alive()


def test_a_stopped_copy_stops_a_writer_waiting_for_a_block() -> None:
    stop = threading.Event()

    class Silent(Raw):
        def read(self, size: Any = -1, decode_content: bool = False) -> bytes:
            stop.wait(5)
            time.sleep(1)
            return b""
    pump, _, _ = _pump(Silent(), stop)
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(OSError, match="stopped"):
        list(pump)
