"""A tar stream from one engine to another, read and written by two threads.

Reading the source, checksumming what was read and writing it to the target each wait on a
different thing (the source engine and its SSH channel, the CPU, the target engine and its
channel). Done one after the other in one thread, each waits for the others; here a reader
thread reads big blocks and feeds the checksum while the writing thread sends the blocks
before it. A bounded queue between them keeps memory at a few blocks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import requests

from tui_orch.nodes.tardigest import TarDigest

BLOCK = 1024 * 1024  # bytes per read from the source (whole blocks, whatever the HTTP chunks)
AHEAD = 4  # blocks read ahead of the writer at most: memory is about (AHEAD + 2) blocks
_END = b""


class Pump:
    """Iterate it (in the writing thread) for the source's blocks, in order."""

    def __init__(self, source: requests.Response, digest: TarDigest, stop: threading.Event,
                 sent: Callable[[int], None]) -> None:
        self._source, self._digest, self._stop, self._sent = source, digest, stop, sent
        self._blocks: queue.Queue[bytes | BaseException] = queue.Queue(AHEAD)
        self._thread = threading.Thread(target=self._read, name="tui-orch-volume-read", daemon=True)
        self._quit = False

    def __iter__(self) -> Iterator[bytes]:
        self._thread.start()
        done = 0
        try:
            while True:
                try:
                    block = self._blocks.get(timeout=0.5)
                except queue.Empty:
                    if self._stop.is_set():
                        raise OSError("the copy was stopped") from None
                    continue
                if isinstance(block, BaseException):
                    raise block
                if block is _END or not block:
                    return
                done += len(block)
                self._sent(done)
                yield block
        finally:
            self._quit = True  # the writer is done or failed: a reader waiting on the full queue leaves

    def _read(self) -> None:
        raw = self._source.raw
        try:
            while not self._quit:
                if self._stop.is_set():
                    raise OSError("the copy was stopped")
                block = raw.read(BLOCK, decode_content=True)  # plain tar even if the engine compressed it
                if not block:
                    self._put(_END)
                    return
                self._digest.feed(block)
                self._put(block)
        except BaseException as exc:  # handed to the writer, which raises it in its thread
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._quit:
            try:
                self._blocks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
