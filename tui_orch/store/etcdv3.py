"""A small client of etcd's v3 API through its JSON gateway (HTTP/1.1, part of every etcd
since 3.3: ``POST /v3/kv/range`` and friends, keys and values in base64).

Why the gateway and not a gRPC client: the store's API is synchronous (a write returns once
durable, as the TinyDB files do), the gateway needs nothing beyond the standard library (no
grpcio wheel to build on a fresh machine), it is maintained with etcd itself, and it speaks
every part of the API tui-orch needs (kv, txn, leases, watches, auth). Python's etcd3 gRPC
client is unmaintained; aetcd is asyncio-only, which the synchronous store cannot use without
blocking on a loop it runs in.

Endpoints are tried in turn: a member that does not answer is skipped, the first that
answers is kept. TLS (a CA, a client certificate) and user/password (a token from
``/v3/auth/authenticate``, renewed when it expires) as etcd offers them."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tui_orch.errors import StoreError

DEFAULT_TIMEOUT = 2.0


class EtcdUnavailable(StoreError):
    """No member answered, or the cluster has no quorum (writes and linearizable reads fail)."""


class EtcdRefused(StoreError):
    """etcd answered with an error (auth, a request it rejects)."""


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int
    lease: int = 0


@dataclass(frozen=True)
class Tls:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass
class _Auth:
    user: str
    password: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


def _kv(doc: dict[str, Any]) -> KeyValue:
    return KeyValue(key=unb64(doc.get("key")).decode(errors="replace"), value=unb64(doc.get("value")),
                    mod_revision=int(doc.get("mod_revision", 0)), create_revision=int(doc.get("create_revision", 0)),
                    lease=int(doc.get("lease", 0)))


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with ``prefix`` (etcd's convention)."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return "\0"
    raw[-1] += 1
    return bytes(raw).decode("latin-1")


@dataclass
class EtcdClient:
    endpoints: list[str]
    timeout: float = DEFAULT_TIMEOUT
    tls: Tls | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    _current: int = 0
    _auth: _Auth | None = field(default=None, repr=False)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise StoreError("no etcd endpoint given")
        if self.user is not None:
            self._auth = _Auth(self.user, self.password or "")

    # ------------------------------------------------------------------ transport
    def _context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        ctx = ssl.create_default_context(cafile=self.tls.ca)
        if self.tls.cert:
            ctx.load_cert_chain(self.tls.cert, self.tls.key)
        return ctx

    def _connection(self, endpoint: str, timeout: float) -> http.client.HTTPConnection:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme == "https":
            return http.client.HTTPSConnection(url.hostname or "", url.port or 2379, timeout=timeout,
                                               context=self._context())
        return http.client.HTTPConnection(url.hostname or "", url.port or 2379, timeout=timeout)

    def _conns(self) -> dict[str, http.client.HTTPConnection]:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        return conns

    def call(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """POST ``body`` to ``/v3/PATH`` on the first member that answers."""
        problems = []
        n = len(self.endpoints)
        first = self._current  # once: another thread (the lease's) may move it meanwhile
        for i in range(n):
            index = (first + i) % n
            endpoint = self.endpoints[index]
            try:
                answer = self._post(endpoint, path, body, timeout or self.timeout)
            except (OSError, http.client.HTTPException) as exc:
                self._conns().pop(endpoint, None)
                problems.append(f"{endpoint}: {exc}")
                continue
            self._current = index
            return answer
        raise EtcdUnavailable("etcd does not answer: " + "; ".join(problems))

    def _post(self, endpoint: str, path: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        conns = self._conns()
        conn = conns.get(endpoint)
        if conn is None:
            conn = conns[endpoint] = self._connection(endpoint, timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        for attempt in range(2):
            headers = {"Content-Type": "application/json"}
            if self._auth is not None and path != "auth/authenticate":
                headers["Authorization"] = self._token(endpoint)
            conn.request("POST", f"/v3/{path}", json.dumps(body), headers)
            response = conn.getresponse()
            data = response.read()
            try:
                answer = json.loads(data) if data else {}
            except ValueError:
                raise EtcdRefused(f"{endpoint}: not an etcd answer (HTTP {response.status})") from None
            if response.status == 200:
                return answer if isinstance(answer, dict) else {}
            message = str(answer.get("message") or answer.get("error") or data[:200])
            if self._auth is not None and "token" in message and attempt == 0:
                self._auth.token = None  # expired: authenticate again, once
                continue
            if response.status in (503, 504) or "no leader" in message or "timed out" in message:
                raise EtcdUnavailable(f"{endpoint}: {message}")
            raise EtcdRefused(f"{endpoint}: {message}")
        raise EtcdRefused(f"{endpoint}: authentication failed")

    def _token(self, endpoint: str) -> str:
        auth = self._auth
        assert auth is not None
        if auth.token is None:
            answer = self._post(endpoint, "auth/authenticate", {"name": auth.user, "password": auth.password},
                                self.timeout)
            auth.token = str(answer.get("token", ""))
        return auth.token

    # ------------------------------------------------------------------ kv
    def get(self, key: str) -> KeyValue | None:
        found = self.call("kv/range", {"key": b64(key)}).get("kvs") or []
        return _kv(found[0]) if found else None

    def range_prefix(self, prefix: str, serializable: bool = False) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` and the store's revision they were read at.
        ``serializable``: answered by the member asked, without a quorum (it may be stale)."""
        body: dict[str, Any] = {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}
        if serializable:
            body["serializable"] = True
        answer = self.call("kv/range", body)
        return [_kv(d) for d in answer.get("kvs") or []], int(answer.get("header", {}).get("revision", 0))

    def put(self, key: str, value: bytes | str, lease: int = 0) -> int:
        body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return int(self.call("kv/put", body).get("header", {}).get("revision", 0))

    def delete(self, key: str) -> int:
        return int(self.call("kv/deleterange", {"key": b64(key)}).get("deleted", 0))

    def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
            failure: list[dict[str, Any]] | None = None) -> tuple[bool, dict[str, Any]]:
        answer = self.call("kv/txn", {"compare": compare, "success": success, "failure": failure or []})
        return bool(answer.get("succeeded", False)), answer

    # ------------------------------------------------------------------ leases
    def grant(self, ttl: float) -> int:
        return int(self.call("lease/grant", {"TTL": max(1, round(ttl))}).get("ID", 0))

    def keepalive(self, lease: int) -> int:
        """Renew ``lease``; its TTL now (0 or less: it expired)."""
        answer = self.call("lease/keepalive", {"ID": str(lease)})
        return int((answer.get("result") or {}).get("TTL", 0))

    def revoke(self, lease: int) -> None:
        self.call("lease/revoke", {"ID": str(lease)})

    # ------------------------------------------------------------------ watch
    def watch(self, prefix: str, start_revision: int, on_events: Callable[[list[dict[str, Any]], int], None],
              stop: "Watch") -> None:
        """Follow every change under ``prefix`` from ``start_revision`` until ``stop.cancel()``;
        ``on_events(events, revision)`` gets each batch ({type, kv}). Blocks: run it in a thread.
        Raises EtcdUnavailable when no member can be watched, and StoreError when the start
        revision was compacted (the caller reads the state again)."""
        body = {"create_request": {"key": b64(prefix), "range_end": b64(prefix_end(prefix)),
                                   "start_revision": str(start_revision)}}
        problems = []
        for i in range(len(self.endpoints)):
            endpoint = self.endpoints[(self._current + i) % len(self.endpoints)]
            conn = self._connection(endpoint, self.timeout)
            try:
                headers = {"Content-Type": "application/json"}
                if self._auth is not None:
                    headers["Authorization"] = self._token(endpoint)
                conn.connect()
                if not stop.attach(conn):
                    return
                conn.request("POST", "/v3/watch", json.dumps(body), headers)
                conn.sock.settimeout(None)  # a watch waits for changes as long as it takes
                response = conn.getresponse()
                while True:
                    line = response.readline()
                    if not line:
                        break
                    result = json.loads(line).get("result") or {}
                    if int(result.get("compact_revision") or 0) > 0:
                        raise StoreError(f"etcd compacted its history past revision {start_revision}")
                    events = [{"type": e.get("type", "PUT"), "kv": _kv(e.get("kv") or {})} for e in result.get("events") or []]
                    revision = int(result.get("header", {}).get("revision", 0))
                    if events:
                        on_events(events, revision)
                        # resume after the last event delivered (a catch-up batch may end before the header's revision)
                        start_revision = max(e["kv"].mod_revision for e in events) + 1
                        body["create_request"]["start_revision"] = str(start_revision)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                if stop.cancelled:
                    return
                problems.append(f"{endpoint}: {exc}")
            finally:
                conn.close()
            if stop.cancelled:
                return
        raise EtcdUnavailable("no etcd member can be watched: " + "; ".join(problems or ["the stream ended"]))


class Watch:
    """A handle to stop a watch from another thread (its connection is shut down)."""

    def __init__(self) -> None:
        self.cancelled = False
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def attach(self, conn: http.client.HTTPConnection) -> bool:
        with self._lock:
            self._conn = conn
            return not self.cancelled

    def cancel(self) -> None:
        import socket

        with self._lock:
            self.cancelled = True
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
