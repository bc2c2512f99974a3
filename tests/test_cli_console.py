"""`tui-orch` with no command opens the console (also `console`, `--readonly`, `--theme`);
`tui-orch demo` builds simulated nodes whose script deploys and rolls out."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tui_orch import cli, cli_console
from tui_orch.model import ReplicaState
from tui_orch.ui import demo
from ui_support import manifest, sim_controller


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[argparse.Namespace]:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(cli_console, "cmd_console", lambda args: seen.append(args) or 0)
    return seen


def test_no_command_opens_the_console(opened) -> None:
    assert cli.main([]) == 0
    assert cli.main(["--readonly", "--theme", "solarized-dark", "--state", "/tmp/x"]) == 0
    assert cli.main(["console", "--readonly"]) == 0
    first, second, third = opened
    assert first.verb == "console" and not first.readonly and first.theme is None
    assert second.readonly and second.theme == "solarized-dark" and second.state == "/tmp/x"
    assert third.readonly


def test_demo_options(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(cli_console, "cmd_demo", lambda args: seen.append(args) or 0)
    assert cli.main(["demo"]) == 0 and seen[-1].nodes == 12 and seen[-1].seed is None
    assert cli.main(["demo", "--nodes", "30", "--seed", "4"]) == 0 and (seen[-1].nodes, seen[-1].seed) == (30, 4)
    monkeypatch.undo()
    assert cli.main(["demo", "--nodes", "0"]) == 1
    assert "at least 1 node" in capsys.readouterr().err


def test_demo_inventory_is_simulated_over_zones() -> None:
    inv = demo.demo_inventory(12)
    assert len(inv.nodes) == 12 and all(n.simulated for n in inv.nodes)
    assert {dict(n.labels)["zone"] for n in inv.nodes} == set(demo.ZONES)
    assert {dict(n.labels)["disk"] for n in inv.nodes} == {"ssd", "hdd"}
    assert [m.file for m in demo.demo_manifests(None)] == ["demo.yaml"]


async def test_demo_script_deploys_then_rolls_out(tmp_path: Path) -> None:
    said: list[str] = []
    async with sim_controller(tmp_path / "state", count=4) as (ctl, sim):
        m = manifest()
        await demo.demo_script(ctl, [m], said.append, rollout_after=0.0, pause=0.0)
        assert {s.name for s in ctl.query().service_rows()} == {"api", "cache", "agent"}
        assert any("deploying test.yaml" in line for line in said)
        if hasattr(ctl, "rollout_restart"):
            assert any("rolling restart of api" in line for line in said)
            reps = ctl.query().replicas("api")
            assert reps and all(r.revision == 2 and r.state == ReplicaState.RUNNING for r in reps)


def test_a_second_console_on_the_same_state_is_refused(tmp_path: Path) -> None:
    """While one process owns the state folder, `tui-orch` (the real command) says who owns
    it in one line and exits 1, without touching the screen or the state."""
    import os
    import subprocess
    import sys

    from tui_orch.store import open_store

    state = tmp_path / "state"
    tui_orch = Path(sys.executable).parent / "tui-orch"
    with open_store(state):
        done = subprocess.run([str(tui_orch), "--state", str(state)], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, env={**os.environ, "TUI_ORCH_CONFIG": str(tmp_path / "cfg")})
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(os.getpid()) in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""


def test_the_demo_cleans_its_temporary_folder_when_its_terminal_closes(tmp_path: Path) -> None:
    """A terminal closing sends SIGHUP: the demo stops as if quit, and its state folder goes."""
    import os
    import pty
    import signal
    import subprocess
    import sys
    import time

    tui_orch = Path(sys.executable).parent / "tui-orch"
    master, slave = pty.openpty()
    env = {**os.environ, "TMPDIR": str(tmp_path), "TUI_ORCH_CONFIG": str(tmp_path / "cfg"), "TERM": "xterm"}
    child = subprocess.Popen([str(tui_orch), "demo", "--no-script", "--nodes", "3"], stdin=slave, stdout=slave,
                             stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("tui-orch-demo-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(tmp_path.glob("tui-orch-demo-*")), "the demo made no state folder"
        time.sleep(2.0)  # the console is up
        os.close(master)  # the terminal window goes...
        child.send_signal(signal.SIGHUP)  # ...and the kernel hangs up its session
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert list(tmp_path.glob("tui-orch-demo-*")) == []
