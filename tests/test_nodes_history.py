"""A node's history for the sparklines: the last HISTORY_SECONDS samples, oldest first."""

from __future__ import annotations

from tui_orch.nodes.base import History
from tui_orch.nodes.sim.container import fast_metrics


def test_history_keeps_the_last_samples_oldest_first() -> None:
    h = History(size=5)
    for t in range(8):
        h.add(fast_metrics(time=1.7e9 + t, cpu_percent=10.0 * t, mem_used=t, mem_total=100))
    assert [s.time - 1.7e9 for s in h.samples] == [3, 4, 5, 6, 7]  # the time kept to the second and beyond
    assert [(s.cpu_percent, s.mem_percent) for s in h.samples] == [(30, 3), (40, 4), (50, 5), (60, 6), (70, 7)]
    assert h.series("cpu_percent") == [30, 40, 50, 60, 70]
