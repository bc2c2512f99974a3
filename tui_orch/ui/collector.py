"""When the cyclic garbage collector makes its full passes: between keys, not during them.

With 1,000 nodes the objects that live on (rows, rendered lines, the store's records, the
nodes' histories) make a full pass take 40-100 ms, and Python starts one on its own every
second or two, whenever it likes: during a key's redraw it is a view switch or a cursor
move 40-100 ms late. While ``Collector`` runs, Python makes only its cheap young-generation
passes; the console makes the full pass itself, once every ``every`` seconds, at a moment
no key has been pressed for ``quiet`` seconds (or at the latest after ``every * 4``)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

NO_AUTOMATIC_FULL_PASS = 1_000_000  # young passes between two full ones: never, in practice


class Collector:
    """Holds back Python's own full collections while started; ``maybe_collect`` runs one
    when it is due and the keyboard is quiet."""

    def __init__(self, every: float = 20.0, quiet: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.quiet, self.clock = every, quiet, clock
        self._saved: tuple[int, int, int] | None = None
        self._last = clock()
        self.passes = 0  # full passes made here (for tests)

    @property
    def started(self) -> bool:
        return self._saved is not None

    def start(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _ = self._saved
            gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_PASS)
            self._last = self.clock()

    def stop(self) -> None:
        """Python's own thresholds back."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def due(self) -> bool:
        return self._saved is not None and self.clock() - self._last >= self.every

    def maybe_collect(self, last_key: float) -> bool:
        """A full pass if one is due and no key came in the last ``quiet`` seconds (``last_key``
        on this collector's clock); whether it ran."""
        if self._saved is None:
            return False
        now = self.clock()
        since = now - self._last
        if since < self.every or (now - last_key < self.quiet and since < 4 * self.every):
            return False
        gc.collect()
        self._last = self.clock()
        self.passes += 1
        return True
