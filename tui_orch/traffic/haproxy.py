"""haproxy.cfg for one edge proxy (HAProxy 2.6, master-worker, TCP mode).

The file is rendered whole from a ProxyConfig. Rotation changes go through the Runtime API
(``runtime``) without a reload; a reload (SIGUSR2 to the master) happens only when the
layout changes (listeners, backends, the admin socket). Each server is written with its
current state so that the new worker starts with the rotation the old one had.
"""

from __future__ import annotations

import hashlib
import json

from tui_orch.traffic.model import Backend, Listener, ProxyConfig, Server

# The layout digest is kept in the running process's environment (`setenv` in global) and
# read back with `show env`: the Runtime API cannot list the listeners, and a backend with
# no servers is absent from `show servers state`.
LAYOUT_VARIABLE = "TUIORCH_LAYOUT"
# Old workers keep their established connections after a reload (a database session can last
# hours) but not forever: each reload leaves one process behind until then.
HARD_STOP_AFTER = "30m"
# One node's edge proxy: 4096 concurrent connections (8200 file descriptors) fits the default
# container limit of open files and a small node's memory (about 35 kB per connection).
MAXCONN = 4096
# Two threads: a TCP relay on a 2-core node is not CPU bound, and one more thread than one
# keeps a slow accept from delaying the others.
NBTHREAD = 2
TIMEOUTS = (
    # A replica that does not accept within 2 s is retried elsewhere (retries + redispatch).
    ("connect", "2s"),
    # Idle database and websocket connections stay open for an hour each way.
    ("client", "1h"),
    ("server", "1h"),
    # A half-closed connection (one side said FIN) is closed after 30 s, not an hour.
    ("client-fin", "30s"),
    ("server-fin", "30s"),
    ("queue", "5s"),
)


def layout_digest(config: ProxyConfig) -> str:
    """What a reload is needed for: listeners, backends and their balance, the admin socket.
    Servers are left out: they change through the Runtime API."""
    layout = {
        "socket": config.admin_socket,
        "listeners": sorted([x.name, x.bind, x.port, x.backend] for x in config.listeners),
        "backends": sorted([b.name, b.balance] for b in config.backends),
    }
    return hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()[:16]


def _global(config: ProxyConfig) -> list[str]:
    return [
        "global",
        "    master-worker",
        # expose-fd listeners: a new worker takes the listening sockets from the old one, so a
        # reload refuses no connection.
        f"    stats socket {config.admin_socket} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        f"    hard-stop-after {HARD_STOP_AFTER}",
        f"    maxconn {MAXCONN}",
        f"    nbthread {NBTHREAD}",
        f"    setenv {LAYOUT_VARIABLE} {layout_digest(config)}",
        "",
    ]


def _defaults() -> list[str]:
    lines = [
        "defaults",
        "    mode tcp",
        # A refused or timed-out connect is retried up to 3 times, each time on another server
        # (redispatch 1): a replica that died a moment ago costs a retry, not a failed request.
        "    retries 3",
        "    option redispatch 1",
    ]
    lines += [f"    timeout {name} {value}" for name, value in TIMEOUTS]
    return lines + [""]


def _frontend(listener: Listener) -> list[str]:
    return [
        f"frontend {listener.name}",
        f"    bind {listener.endpoint}",
        f"    default_backend {listener.backend}",
        "",
    ]


def server_line(server: Server) -> str:
    """A server as haproxy.cfg writes it. drain and maint are both written `disabled`: a new
    worker has no connection of its own to a draining server, so the two are the same to it,
    and the Runtime API then sets the exact state (`enable server` clears `disabled`)."""
    flag = "" if server.state == "ready" else " disabled"
    return f"server {server.name} {server.endpoint}{flag}"


def _backend(backend: Backend) -> list[str]:
    lines = [f"backend {backend.name}", f"    balance {backend.balance}"]
    return lines + [f"    {server_line(s)}" for s in backend.servers] + [""]


def render(config: ProxyConfig) -> str:
    """The complete haproxy.cfg for config."""
    lines = _global(config) + _defaults()
    for listener in config.listeners:
        lines += _frontend(listener)
    for backend in config.backends:
        lines += _backend(backend)
    return "\n".join(lines)
