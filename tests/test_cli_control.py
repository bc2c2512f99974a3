"""The controller's headless commands (tui_orch.cli_control) on the lab, through a parser
built with ``register`` (as cli.py wires them)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time

from controller_support import cleanup, prefix
from tui_orch.cli_control import parse_assignment, register
from tui_orch.errors import TuiOrchError
from tui_orch.store import open_store

import pytest


def run(argv: list[str]) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state")
    common.add_argument("--inventory", "-i")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="verb"), common)
    args = parser.parse_args(argv)
    return args.func(args)


def test_parse_assignment():
    assert parse_assignment("web=3") == ("web", 3)
    for bad in ("web", "web=x", "=3", "web=-1"):
        with pytest.raises(TuiOrchError):
            parse_assignment(bad)


def test_apply_get_scale_rm(lab, tmp_path, capsys):
    pre = prefix()
    state = str(tmp_path / "state")
    file = tmp_path / "svc.yaml"
    file.write_text(textwrap.dedent(f"""
        services:
          {pre}:
            image: tuiorch/busybox:1
            command: ["sleep", "3600"]
            stop_grace_period: 1s
            deploy:
              replicas: 2
    """))
    common = ["--state", state, "--inventory", str(lab.inventory)]
    try:
        assert run(["apply", "-f", str(file), "--dry-run", *common]) == 0
        out = capsys.readouterr().out
        assert "dry run" in out and "2 to start" in out
        assert run(["get", "services", *common]) == 0
        assert "no services" in capsys.readouterr().out

        assert run(["apply", "-f", str(file), *common]) == 0
        assert f"running: {pre}.1" in capsys.readouterr().out
        assert run(["get", "replicas", "-o", "json", *common]) == 0
        reps = json.loads(capsys.readouterr().out)
        assert sorted(r["key"] for r in reps) == [f"{pre}.1", f"{pre}.2"]
        assert all(r["state"] == "running" for r in reps)

        with open_store(state):  # another owner: the command is refused with StoreLocked
            code = subprocess.run(
                [sys.executable, "-c", "import sys; sys.path.insert(0, 'tests'); "
                 "from test_cli_control import run; from tui_orch.errors import StoreLocked\n"
                 f"try: run(['scale', '{pre}=1', '--state', '{state}', '--inventory', '{lab.inventory}'])\n"
                 "except StoreLocked as e: print(e); sys.exit(7)"],
                capture_output=True, text=True, timeout=60)
            assert code.returncode == 7, code.stderr
            assert f"in use by process {os.getpid()}" in code.stdout

        assert run(["scale", f"{pre}=1", *common]) == 0
        assert f"stopped: {pre}.2" in capsys.readouterr().out
        assert run(["get", "services", *common]) == 0
        out = capsys.readouterr().out
        assert pre in out and "DESIRED" in out
        assert run(["rm", pre, *common]) == 0
        assert run(["events", *common]) == 0
        out = capsys.readouterr().out
        assert "removed" in out and "deploy" in out
    finally:
        cleanup(lab, pre)


def test_events_follow_prints_new_events(tmp_path):
    from tui_orch.controller.events import EventBus, event

    state = str(tmp_path / "state")
    store = open_store(state)
    try:
        bus = EventBus(store)
        bus.publish(event("deploy", "first event", service="x"))
        child = subprocess.Popen(
            [sys.executable, "-u", "-c", "import sys; sys.path.insert(0, 'tests'); from test_cli_control import run; "
             f"run(['events', '--follow', '--state', '{state}'])"],
            stdout=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in child.stdout], daemon=True).start()  # type: ignore[union-attr]

        def line_with(text: str) -> str:
            """The child's next line that holds ``text`` (a loaded machine starts it slowly)."""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    line = lines.get(timeout=0.5)
                    if text in line:
                        return line
            return f"(no line with {text!r} within 60 s)"

        try:
            first = line_with("first event")  # it follows: what comes now is new
            bus.publish(event("restart", "second event", service="x", level="warning"))
            second = line_with("second event")
        finally:
            child.terminate()
            child.communicate(timeout=10)
        out = first + second
        assert "deploy    first event" in out and "warning restart   second event" in out
    finally:
        store.close()


async def test_scale_is_held_to_what_a_manifest_may_ask(tmp_path):
    """`scale web=99999999` made a controller plan 99,999,999 replicas until the kernel killed it
    (23 GB); the count was saved. One limit, in the controller, for the CLI, the console and
    forwarded commands alike: nothing is saved, one sentence says the range."""
    import pytest

    from tui_orch.errors import TuiOrchError
    from ui_support import manifest, sim_controller

    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest())).ok
        for count in (99_999_999, 10_001, -1):
            with pytest.raises(TuiOrchError, match=rf"api: {count} replicas is out of range; scale takes 0 to 10000"):
                await ctl.scale("api", count)
        assert ctl.query().spec("api").replicas == 3 and ctl._store.get_service("api").replicas is None
        assert not [e for e in ctl._store.events(service="api") if e.kind == "scale"]


def test_scale_takes_ascii_digits_only(capsys):
    from tui_orch.cli import main

    assert main(["scale", "web=\u00b2", "--state", "/nonexistent-state"]) == 1
    err = capsys.readouterr().err
    assert "scale wants SERVICE=N" in err and "Traceback" not in err
