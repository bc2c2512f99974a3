"""Waiting for an asyncio.Event with a time limit, in loops that must end when cancelled.

``asyncio.wait_for(event.wait(), t)`` on Python 3.11 swallows a cancel that arrives in the
same turn as the event: it returns as if woken, and a ``while True`` loop around it goes on
for good, so whoever cancelled it and waits for it (a controller closing) waits forever.
``asyncio.wait`` never swallows the cancel of the task that awaits it."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds passed; True when it is set."""
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()
