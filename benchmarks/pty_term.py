"""A program in a pseudo-terminal of a given size, its output read (and time-stamped) by a
thread, for benchmarks that wait for text to appear on the screen."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence

# CSI, OSC, DCS/APC/PM strings and two-byte escapes: what is left is the text drawn
ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P^_X][^\x1b]*\x1b\\|\x1b[@-Z\\-_()=>]")


def plain(raw: bytes) -> str:
    return ANSI.sub(b"", raw).decode("utf-8", "replace")


class Term:
    """``argv`` running in a ``cols`` x ``rows`` pseudo-terminal."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cols: int = 120, rows: int = 40):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self._fd = master
        self._chunks: list[tuple[float, bytes]] = []
        self._cond = threading.Condition()
        self._eof = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._chunks.append((time.monotonic(), chunk))
                self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, data: str) -> float:
        """Type ``data``; the time it was written."""
        t = time.monotonic()
        os.write(self._fd, data.encode())
        return t

    def text_since(self, t: float) -> str:
        with self._cond:
            return plain(b"".join(c for at, c in self._chunks if at >= t))

    def wait_for(self, markers: Sequence[str], since: float, timeout: float) -> float | None:
        """When all of ``markers`` had appeared in the text drawn after ``since`` (the arrival
        time of the chunk that completed them), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        first = 0  # chunks before ``first`` were written before ``since``
        with self._cond:
            while True:
                while first < len(self._chunks) and self._chunks[first][0] < since:
                    first += 1
                chunks = self._chunks[first:]
                if chunks:
                    text = plain(b"".join(c for _, c in chunks))
                    if all(m in text for m in markers):
                        # the earliest chunk after which every marker is there
                        for end in range(1, len(chunks) + 1):
                            part = plain(b"".join(c for _, c in chunks[:end]))
                            if all(m in part for m in markers):
                                return chunks[end - 1][0]
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cond.wait(min(left, 0.5))

    def forget(self) -> None:
        """Drop the output read so far (a long run keeps only what it still waits for)."""
        with self._cond:
            self._chunks.clear()

    def close(self, keys: str = "\x03", timeout: float = 20.0) -> int | None:
        """Quit with ``keys`` (ctrl+c), else terminate, else kill; the exit status."""
        try:
            if self.proc.poll() is None:
                self.send(keys)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.terminate()
                    try:
                        self.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        self.proc.kill()
                        self.proc.wait()
        finally:
            self._thread.join(2)
            os.close(self._fd)
        return self.proc.returncode
