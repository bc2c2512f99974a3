"""The lab for the benchmarks that run on it (monitoring, controller): the running one, or,
when a fault test has a node down, the same once it is back, or a lab started here (the
caller stops it again at the end)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "lab"))

import lab as lab_tool  # noqa: E402


def lab_stopped(lab: lab_tool.Lab) -> bool:
    """True when no process of the lab runs (as opposed to one node being down for a test)."""
    return all(sum("is not running" in p for p in lab_tool.node_problems(n)) == 3 for n in lab.nodes)


def ensure_lab() -> tuple[lab_tool.Lab, bool] | None:
    """The healthy lab and whether this call started it; None, after saying why, when it is
    partly down and stays so."""
    lab = lab_tool.layout(lab_tool.DEFAULT_NODES)
    if lab_tool.is_healthy(lab):
        return lab, False
    if not lab_stopped(lab):
        # partly up: someone's fault test has a node down; it comes back, wait for it
        deadline = time.monotonic() + 120
        while not lab_tool.is_healthy(lab) and time.monotonic() < deadline:
            time.sleep(1)
        if lab_tool.is_healthy(lab):
            return lab, False
        if not lab_stopped(lab):
            print(f"the lab is partly down and stays so: {'; '.join(lab_tool.problems(lab))}; "
                  f"run: python3 tests/lab/lab.py start")
            return None
    print("starting the lab (it is stopped again at the end) ...")
    return lab_tool.start_lab(lab_tool.DEFAULT_NODES), True
