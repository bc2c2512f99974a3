"""Host ports of starts in flight, per node, and ports refused after a failed bind (see
ports.py and binds.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


REFUSED_FOR = 600.0  # seconds a port a replica could not bind is not given on that node again


class PortClaims:
    """Ports of starts in flight (planned or re-placed, not yet recorded), per node; and ports
    a replica could not bind on a node though no read showed them bound (binds.py)."""

    def __init__(self) -> None:
        self._claims: dict[object, tuple[str, tuple[int, ...]]] = {}
        self._refused: dict[tuple[str, int], float] = {}  # (node, port) -> monotonic time refused

    def refuse(self, node: str, ports: tuple[int, ...], now: float) -> None:
        """``ports`` could not be bound on ``node``: none of them is given there for a while."""
        for port in ports:
            self._refused[(node, port)] = now

    def refused(self, node: str, now: float) -> frozenset[int]:
        """The ports refused on ``node`` in the last REFUSED_FOR seconds."""
        for key in [k for k, t in self._refused.items() if now - t > REFUSED_FOR]:
            del self._refused[key]
        return frozenset(p for (n, p) in self._refused if n == node)

    @contextmanager
    def claim(self, node: str, ports: tuple[int, ...]) -> Iterator[object]:
        """Claim ``ports`` on ``node`` while the block runs; yields the claim's token."""
        token = object()
        self._claims[token] = (node, ports)
        try:
            yield token
        finally:
            del self._claims[token]

    def move(self, token: object, ports: tuple[int, ...]) -> None:
        """The start holding ``token`` now uses ``ports``."""
        self._claims[token] = (self._claims[token][0], ports)

    def held(self, nodes: set[str], but: object) -> frozenset[int]:
        """Ports claimed on ``nodes`` by starts other than ``but``."""
        return frozenset(p for token, (node, ports) in self._claims.items()
                         if token is not but and node in nodes for p in ports)
