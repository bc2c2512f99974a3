"""Which host ports are bound on a node: listening TCP and bound UDP sockets of any process
(the kernel's /proc/net tables, one read), and the ports the engine publishes for any
container (its own replicas, another state folder's, anyone's).

The controller reads them before each start and feeds them to the planner as taken: a port
held by something it did not place must never be handed to a replica (a replica that cannot
bind crash-loops on it)."""

from __future__ import annotations

from collections.abc import Iterable

# the tables read: IPv4 and IPv6, TCP and UDP
PROC_NET = ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6")
TCP_LISTEN = "0A"
UDP_BOUND = "07"  # unconnected: a bound socket


def parse_proc_net(text: str) -> frozenset[int]:
    """The local ports of listening TCP sockets and bound UDP sockets in the concatenated
    /proc/net/{tcp,tcp6,udp,udp6} ``text`` (header lines and garbage are skipped)."""
    ports: set[int] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or ":" not in fields[1] or fields[3] not in (TCP_LISTEN, UDP_BOUND):
            continue
        try:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except ValueError:
            continue
    return frozenset(ports)


def published_ports(summaries: Iterable[dict[str, object]]) -> frozenset[int]:
    """The host ports of the engine's container summaries (``docker ps``'s ``Ports``)."""
    out: set[int] = set()
    for summary in summaries:
        for binding in summary.get("Ports") or ():  # type: ignore[union-attr]
            public = binding.get("PublicPort") if isinstance(binding, dict) else None
            if isinstance(public, int):
                out.add(public)
    return frozenset(out)


def read_local() -> str:
    """The /proc/net tables of this machine (blocking: call in a thread)."""
    parts = []
    for path in PROC_NET:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                parts.append(f.read())
        except OSError:
            continue  # no IPv6, or not Linux: what there is
    return "\n".join(parts)
