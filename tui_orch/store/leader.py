"""One controller acts at a time: leadership held on an etcd lease.

``Leadership.campaign()`` waits until this process holds the key ``PREFIX/leader`` (created
in a transaction only if absent, attached to a lease of ``ttl`` seconds), then keeps the lease
alive from a thread (every ttl/3). The key holds who leads (host, pid, since), for consoles to
show. The lease lapses when the leader dies, is paused (SIGSTOP) or is cut off: etcd deletes
the key and another campaigner takes over.

Fencing, two ways:
- ``fence()`` is the compare every write of the leader adds to its transaction: the leader
  key still exists with the revision this process created it at. A write of an old leader
  whose lease lapsed fails in etcd itself, whenever it arrives.
- ``acting()`` says whether this process may still act on the nodes: true only while the
  last renewal (a monotonic clock, which runs on while the process is paused) is less than
  ``ttl`` minus a margin ago. A leader resumed after a pause longer than its lease finds
  ``acting()`` false before it touches a container, even before it learns it lost the key."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui_orch.errors import StoreError
from tui_orch.store.etcdv3 import EtcdClient, EtcdUnavailable, b64

DEFAULT_TTL = 5.0
MARGIN = 0.2  # of the ttl: acting() turns false this much before the lease can lapse


@dataclass(frozen=True)
class Leader:
    host: str
    pid: int
    since: float

    def describe(self) -> str:
        return f"{self.host} pid {self.pid} since {time.strftime('%H:%M:%S', time.localtime(self.since))}"


class Leadership:
    def __init__(self, client: EtcdClient, prefix: str, ttl: float = DEFAULT_TTL,
                 on_lost: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        if ttl < 2 or ttl != int(ttl):
            raise ValueError("the lease TTL must be a whole number of seconds, at least 2 (etcd grants whole seconds)")
        self.client = client
        self.key = prefix.rstrip("/") + "/leader"
        self.ttl = ttl
        self.on_lost = on_lost
        self.clock = clock
        self.lease = 0
        self.revision = 0  # the leader key's create revision while this process leads
        self._renewed = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.me = Leader(socket.gethostname(), os.getpid(), time.time())

    # ------------------------------------------------------------------ campaign
    def try_lead(self) -> bool:
        """One attempt: lead now if nobody does. True when this process leads."""
        t0 = self.clock()  # before the grant: the lease's time runs from when etcd granted it at the latest
        lease = self.client.grant(self.ttl)
        since = time.time()
        ok, answer = self.client.txn(
            [{"key": b64(self.key), "target": "CREATE", "create_revision": "0"}],
            [{"request_put": {"key": b64(self.key), "value": b64(json.dumps({**self.me.__dict__, "since": since})),
                               "lease": str(lease)}}])
        if not ok:
            self.client.revoke(lease)
            return False
        self.lease, self.revision = lease, int(answer.get("header", {}).get("revision", 0))
        self.me = Leader(self.me.host, self.me.pid, since)
        self._renewed = t0
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep, name="tui-orch-lease", daemon=True)
        self._thread.start()
        return True

    def campaign(self, stop: threading.Event | None = None, poll: float = 0.2) -> bool:
        """Wait until this process leads (True), or ``stop`` is set (False)."""
        while stop is None or not stop.is_set():
            try:
                if self.client.get(self.key) is None and self.try_lead():  # a read while another leads
                    return True
            except EtcdUnavailable:
                pass  # no quorum: nobody can lead; try again
            time.sleep(poll)
        return False

    def leader(self) -> Leader | None:
        """Who leads now, as the key says."""
        found = self.client.get(self.key)
        if found is None:
            return None
        try:
            data = json.loads(found.value)
            return Leader(str(data["host"]), int(data["pid"]), float(data["since"]))
        except (ValueError, KeyError, TypeError):
            return None

    # ------------------------------------------------------------------ holding it
    def acting(self) -> bool:
        """May this process still act (its lease surely alive by its own clock)?"""
        return self.lease != 0 and self.clock() - self._renewed < self.ttl * (1 - MARGIN)

    def fence(self) -> dict[str, Any]:
        """The compare a leader's write adds to its transaction."""
        return {"key": b64(self.key), "target": "CREATE", "create_revision": str(self.revision)}

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            t0 = self.clock()
            try:
                alive = self.client.keepalive(self.lease) > 0
            except Exception:  # noqa: BLE001 - unavailable, refused, garbled: cannot tell; acting() runs out by the clock
                alive = None
            if alive:
                self._renewed = t0
            elif alive is False or not self.acting():
                self._lose("the lease lapsed" if alive is False else "etcd does not answer (no quorum?)")
                return

    def _lose(self, why: str) -> None:
        self.lease, self._renewed = 0, float("-inf")
        if self.on_lost is not None:
            self.on_lost(why)

    def resign(self) -> None:
        """Step down now (a clean stop): the next campaigner leads at once."""
        self._stop.set()
        lease, self.lease = self.lease, 0
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.ttl)
        if lease:
            try:
                self.client.revoke(lease)
            except StoreError:
                pass  # etcd away, or the lease already gone: it lapses on its own
