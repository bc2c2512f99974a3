"""Clients on the lab network for the traffic tests and benchmark: a steady load of requests
from the lab's client namespace (tests/lab/labparts/netns.py) to a node's published port."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

from labparts.netns import enter


class LabLoad(threading.Thread):
    """Sends ``rate`` requests/s to ``url`` (each on a new connection, as a browser or a health
    checker does) from the client namespace until stopped; counts what failed and when."""

    def __init__(self, url: str, rate: float = 50.0, timeout: float = 5.0, netns: str = "tuiorch-client"):
        super().__init__(daemon=True)
        self.url, self.interval, self.timeout, self.netns = url, 1.0 / rate, timeout, netns
        self.sent = 0
        self.failures: list[tuple[float, str]] = []  # (monotonic time, why)
        self.served: dict[str, int] = {}  # body -> how many
        self.latencies: list[float] = []
        self.slow: list[tuple[float, float]] = []  # (monotonic start, seconds) of answers slower than 0.5 s
        self._stop_event = threading.Event()

    @property
    def failed(self) -> int:
        return len(self.failures)

    def run(self) -> None:
        enter(self.netns)  # this thread only: its sockets are made on the lab network
        next_at = time.monotonic()
        while not self._stop_event.is_set():
            self.sent += 1
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as reply:
                    body = reply.read().decode(errors="replace").strip()
                took = time.monotonic() - start
                self.latencies.append(took)
                if took > 0.5:
                    self.slow.append((start, took))
                self.served[body] = self.served.get(body, 0) + 1
            except (urllib.error.URLError, OSError) as exc:
                self.failures.append((start, repr(exc)))
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self) -> "LabLoad":
        self._stop_event.set()
        self.join(15)
        return self
