"""Host ports of starts in flight, per node (see ports.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class PortClaims:
    """Ports of starts in flight (planned or re-placed, not yet recorded), per node."""

    def __init__(self) -> None:
        self._claims: dict[object, tuple[str, tuple[int, ...]]] = {}

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
