"""The events bus: every event is kept in the store and handed to every subscriber."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Literal

from tui_orch.errors import NotLeading
from tui_orch.model import Event, pairs
from tui_orch.store import Store


def event(kind: str, message: str, *, service: str | None = None, replica: str | None = None,
          node: str | None = None, level: Literal["info", "warning", "error"] = "info",
          **data: object) -> Event:
    """An Event of now; ``data`` (exit code, attempt, next delay...) kept as string pairs."""
    return Event(time.time(), kind, message, service, replica, node, level,
                 pairs({k: v for k, v in data.items() if v is not None}))


class EventBus:
    """``publish`` appends to the store's event log, then fans out to subscriber queues
    (a full queue misses the event rather than blocking the controller)."""

    def __init__(self, store: Store):
        self.store = store
        self._queues: list[asyncio.Queue[Event]] = []

    def subscribe(self, maxsize: int = 10_000) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        with contextlib.suppress(ValueError):
            self._queues.remove(queue)

    def publish(self, ev: Event) -> None:
        try:
            self.store.append_event(ev)
        except NotLeading:
            pass  # the process lost the lead of its etcd state: it records nothing more; the log still shows it
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(ev)
