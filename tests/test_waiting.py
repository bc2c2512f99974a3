"""Loops that wait for a wake-up with a time limit end when cancelled, even when the wake-up
comes in the same turn as the cancel (a controller closing while events arrive)."""

from __future__ import annotations

import asyncio

import pytest

from tui_orch.waiting import wait_event


async def _cancel_as_woken(loop_body) -> bool:
    """Run ``while True: await loop_body(event)``, then set the event and cancel the task in
    one turn; True when the task ended (cancelled) within a second."""
    woken = asyncio.Event()

    async def loop() -> None:
        while True:
            await loop_body(woken)
            woken.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)  # the task waits
    woken.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.0)
    if not done:
        task.cancel()  # the loop went on: stop it for good before the test ends
        await asyncio.wait({task}, timeout=1.0)
    return bool(done) and task.cancelled()


async def test_a_cancel_that_comes_with_the_wake_up_ends_the_loop():
    assert await _cancel_as_woken(lambda ev: wait_event(ev, 10))


async def test_wait_for_on_this_python_is_why():
    """The reason for wait_event: the plain form swallows that cancel here (3.11). If this
    fails, Python fixed it and wait_event could go."""
    import contextlib
    import sys

    async def plain(ev: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ev.wait(), 10)

    if sys.version_info >= (3, 12):
        pytest.skip("wait_for was rewritten on asyncio.timeout in 3.12")
    assert not await _cancel_as_woken(plain)


async def test_wait_event_says_whether_the_event_was_set():
    ev = asyncio.Event()
    assert await wait_event(ev, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, ev.set)
    assert await wait_event(ev, 5) is True
    assert await wait_event(ev, 0) is True  # already set


def test_no_loop_waits_for_an_event_with_wait_for():
    """Every time-limited wait for an Event in the project goes through wait_event."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent / "tui_orch"
    found = [f"{p.relative_to(root)}:{n}" for p in root.rglob("*.py")
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"^\s*[^#`\s].*wait_for\([^()]*\.wait\(\)", line)]
    assert found == []
