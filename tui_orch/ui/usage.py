"""The console keeps the last hour of cpu and memory per node and per service (the plot screen
draws it) and saves it in its state folder so that a restart loses nothing but the time it was
closed.

Every RES (10) seconds one sample from the controller's read side (``Query.usage_now``: a
dictionary update per node and service); every SAVE_EVERY seconds it is written by a thread (the
event loop only copies its key dictionaries: 0.03 ms for 1,200 keys; encoding, compressing and
writing 1,000 nodes' and 200 services' hour take ~150 ms of that thread), so the screen never
waits on the disk. Closing the console writes it once more."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tui_orch.controller.usage import RES, Sample, UsageHistory, load, write
from tui_orch.errors import TuiOrchError

SAVE_EVERY = 60.0  # seconds between two writes of the file


class UsageKeeper:
    """``history`` fed by ``sample()`` at ``clock()``; saved to ``path`` (None: kept in memory)."""

    def __init__(self, path: Path | None, sample: Callable[[], Sample], clock: Callable[[], float]) -> None:
        self.path = path
        self.sample = sample
        self.clock = clock
        self.history = UsageHistory()
        self.saving = False  # a write is under way (never two at once)
        self.opened = False  # the file was read: until then a write would replace it with nothing
        self.saves = 0  # files written (for tests)

    def open(self) -> str:
        """Read the file (its problem as one sentence; the history then starts afresh)."""
        if self.path is None:
            return ""
        self.history, problem = load(self.path)
        self.opened = True
        return problem

    def record(self) -> None:
        self.history.record(self.clock(), self.sample())

    async def save(self) -> str:
        """Write the file in a thread; its problem as one sentence ("" when written or when a
        write is under way already)."""
        if self.path is None or self.saving or not self.opened:
            return ""
        self.saving = True
        try:
            await asyncio.to_thread(write, self.path, self.history.snapshot())
            self.saves += 1
            return ""
        except TuiOrchError as exc:
            return str(exc)
        finally:
            self.saving = False

    def save_now(self) -> None:
        """Write the file here and now (the console is closing); a problem is let go: there
        is no screen left to say it on."""
        if self.path is not None and self.opened:
            try:
                write(self.path, self.history.snapshot())
            except TuiOrchError:
                pass


__all__ = ["RES", "SAVE_EVERY", "UsageKeeper"]
