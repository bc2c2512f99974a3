"""The console's garbage-collector schedule: Python's own full passes held back while the
console runs, one made between keys when due, Python's thresholds back when it stops."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tui_orch.ui.collector import NO_AUTOMATIC_FULL_PASS, Collector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_started_collector_holds_back_full_passes_and_stop_gives_them_back(thresholds) -> None:
    collector = Collector()
    collector.start()
    assert gc.get_threshold() == (thresholds[0], thresholds[1], NO_AUTOMATIC_FULL_PASS)
    collector.stop()
    assert gc.get_threshold() == thresholds


def test_full_pass_waits_until_due_and_the_keys_are_quiet(thresholds) -> None:
    clock = Clock()
    collector = Collector(every=20, quiet=1, clock=clock)
    collector.start()
    clock.now += 10
    assert not collector.due()
    assert not collector.maybe_collect(last_key=0)
    clock.now += 10
    assert collector.due()
    assert not collector.maybe_collect(last_key=clock.now - 0.5)  # a key just now: later
    assert collector.maybe_collect(last_key=clock.now - 2)
    assert collector.passes == 1 and not collector.due()
    collector.stop()


def test_full_pass_made_anyway_when_the_keys_never_stop(thresholds) -> None:
    clock = Clock()
    collector = Collector(every=20, quiet=1, clock=clock)
    collector.start()
    clock.now += 80
    assert collector.maybe_collect(last_key=clock.now)
    collector.stop()


def test_stopped_collector_never_collects(thresholds) -> None:
    clock = Clock()
    collector = Collector(every=20, quiet=1, clock=clock)
    clock.now += 100
    assert not collector.due() and not collector.maybe_collect(last_key=0)
