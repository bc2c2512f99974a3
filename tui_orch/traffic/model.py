"""The desired configuration of one edge proxy: listeners, backends and their servers."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

ServerState = Literal["ready", "drain", "maint"]
STATES: tuple[ServerState, ...] = ("ready", "drain", "maint")
# Balance algorithms HAProxy calls dynamic: only those accept servers added at run time
# (`add server` answers "Backend must use a dynamic load balancing" for static-rr or a
# map-based hash).
BALANCES = ("roundrobin", "leastconn", "first", "random")
NAME_MAX = 64
_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_name(kind: str, name: str) -> str:
    """``name`` if HAProxy and its Runtime API take it as is (no quoting, no spaces, no '/'
    that would split backend/server), else ValueError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > NAME_MAX:
        raise ValueError(f"{kind} name {name!r} must be 1 to {NAME_MAX} characters among A-Z a-z 0-9 . _ -")
    return name


def _check_port(port: int) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} must be a number from 1 to 65535")


def endpoint(host: str, port: int) -> str:
    """host:port as haproxy.cfg and `add server` write it (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Server:
    """One replica in a backend: where it listens and whether it takes new connections.
    ready: in rotation; drain: no new connections, established ones carry on; maint: out."""

    name: str
    address: str
    port: int
    state: ServerState = "ready"

    def __post_init__(self) -> None:
        check_name("server", self.name)
        ipaddress.ip_address(self.address)  # ValueError: the proxy resolves no names at run time
        _check_port(self.port)
        if self.state not in STATES:
            raise ValueError(f"server {self.name}: state {self.state!r} is not one of {', '.join(STATES)}")

    @property
    def endpoint(self) -> str:
        return endpoint(self.address, self.port)


@dataclass(frozen=True)
class Backend:
    name: str
    servers: tuple[Server, ...] = ()
    balance: str = "roundrobin"

    def __post_init__(self) -> None:
        check_name("backend", self.name)
        object.__setattr__(self, "servers", tuple(self.servers))
        if self.balance not in BALANCES:
            raise ValueError(f"backend {self.name}: balance {self.balance!r} is not one of {', '.join(BALANCES)}")
        names = [s.name for s in self.servers]
        if len(set(names)) != len(names):
            raise ValueError(f"backend {self.name}: two servers share a name")


@dataclass(frozen=True)
class Listener:
    """A port the proxy accepts connections on, sent to one backend. bind "*" is every
    address of the node; otherwise one IP address."""

    name: str
    port: int
    backend: str
    bind: str = "*"

    def __post_init__(self) -> None:
        check_name("listener", self.name)
        check_name("backend", self.backend)
        _check_port(self.port)
        if self.bind != "*":
            ipaddress.ip_address(self.bind)

    @property
    def endpoint(self) -> str:
        return endpoint(self.bind, self.port)


@dataclass(frozen=True)
class ProxyConfig:
    listeners: tuple[Listener, ...]
    backends: tuple[Backend, ...]
    admin_socket: str  # the Runtime API's unix socket, as the proxy process sees the path

    def __post_init__(self) -> None:
        object.__setattr__(self, "listeners", tuple(self.listeners))
        object.__setattr__(self, "backends", tuple(self.backends))
        if not self.admin_socket.startswith("/") or any(c.isspace() for c in self.admin_socket):
            raise ValueError(f"admin socket {self.admin_socket!r} must be an absolute path without spaces")
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError("two backends share a name")
        if len({x.name for x in self.listeners}) != len(self.listeners):
            raise ValueError("two listeners share a name")
        if len({(x.bind, x.port) for x in self.listeners}) != len(self.listeners):
            raise ValueError("two listeners share a port")
        missing = sorted({x.backend for x in self.listeners} - set(names))
        if missing:
            raise ValueError(f"listeners send to backends that do not exist: {', '.join(missing)}")

    def backend(self, name: str) -> Backend:
        return next(b for b in self.backends if b.name == name)
