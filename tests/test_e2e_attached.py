"""Two consoles in tmux attached to one controller that runs on its own, on the lab: each
says which controller acts; a scale typed in one shows in the other within a poll (1 s);
closing both leaves the controller running."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from controller_support import cleanup, prefix
from test_controller_headless_lab import SERVICE, Headless, cli
from test_e2e_console import Pane, console_env, pane  # noqa: F401 - pane: the fixture

POLL = 1.0  # s: an attached console rereads the state this often


def desired(screen: str, name: str) -> int | None:
    found = re.search(rf"^\s*{name}\s+\S+\s+(\d+)/(\d+)/(\d+)", screen, re.MULTILINE)
    return int(found[1]) if found else None


def test_two_attached_consoles_follow_one_controller(lab, pane: Pane, tmp_path: Path) -> None:
    pre = prefix()
    state = tmp_path / "state"
    (tmp_path / "web.yaml").write_text(SERVICE.format(name=pre).replace("${TAG}", "1"))
    ctl = Headless(lab, state)
    (tmp_path / "b").mkdir()
    other = Pane(tmp_path / "b")
    try:
        code, out, err = cli(lab, state, "apply", "-f", str(tmp_path / "web.yaml"))
        assert code == 0, out + err
        (tmp_path / "config").mkdir()
        env = console_env(tmp_path / "config")
        argv = [str(Path(sys.executable).parent / "tui-orch"), "--state", str(state), "--inventory", str(lab.inventory)]
        for p in (pane, other):
            p.start(argv, tmp_path, env)
        for p in (pane, other):
            p.wait(f"pid {ctl.proc.pid}", "the header naming the controller", 30)
            p.keys("2")
            p.wait(lambda s: desired(s, pre) == 2, "the service with 2 replicas", 30)
        pane.keys("S")
        pane.wait("How many should it run?", "the scale dialog")
        pane.keys("BSpace")
        pane.type("3")
        pane.keys("Enter")
        pane.wait(lambda s: desired(s, pre) == 3, "the scale in the console that made it", 60)
        t0 = time.monotonic()
        other.wait(lambda s: desired(s, pre) == 3, "the scale in the other console", 5)
        seen = time.monotonic() - t0
        print(f"a scale made in one console shown in the other {seen:.2f} s after the first showed it")
        assert seen <= POLL + 0.5, seen
        for p in (pane, other):
            p.keys("C-q")
        for p in (pane, other):
            deadline = time.monotonic() + 15
            while p.exit_status() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            printed = p.history()
            assert p.exit_status() == 0 and "Traceback" not in printed, printed
        assert ctl.proc.poll() is None  # the controller carries on
        assert "handover" not in ctl.text()
    finally:
        other.kill()
        ctl.stop()
        ctl.kill()
        cleanup(lab, pre)
