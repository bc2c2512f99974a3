"""The console end to end: the real ``tui-orch`` command in a tmux pane (120x40), driven with
send-keys and read with capture-pane, on the lab's inventory, as an operator would use it:
the nodes view shows node1..node3 Ready; the deploy dialog deploys examples/web.yaml (picked
from its file list) and the replicas view shows 3 replicas running, one per node; a copy
with a new image, typed into the path input with tab completion, rolls out batch by batch
(its plan says so, the services view shows the progress and never fewer than 3 running,
the events say "rollout complete"); ctrl+q quits with status 0 and no traceback.

The pane runs on a tmux server of its own (``tmux -L``), killed at the end; the containers
the console created are removed by its owner label (the id of this test's state folder),
so other tests' containers on the lab are not touched."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from controller_support import remove_networks
from nodes_support import direct_client
from tui_orch.controller.containers import LABEL_OWNER
from tui_orch.controller.core import owner_id
from tui_orch.store.base import folder_identity
from tui_orch.ui.deploy_dialog import manifest_files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TMUX = shutil.which("tmux")
COLUMNS, LINES = 120, 40
NODES = {"node1", "node2", "node3"}
KEY_GAP = 0.15  # seconds between two keys
EXITED = "tui-orch exited with status "  # what the pane prints when the console ends
QUIT_WITHIN = 15  # seconds from ctrl+q to the end of the process (hand-back to the engines: <= 10 s)
# replicas view: SERVICE REPLICA NODE STATE HEALTH ...
REPLICA_ROW = re.compile(r"^\s*web\s+(web\.\d+)\s+(\S+)\s+(\S+)\s+(\S+)", re.MULTILINE)
# services view: NAME IMAGE DESIRED/RUNNING/HEALTHY REV ROLLOUT ...
SERVICE_ROW = re.compile(r"^\s*web\s+(\S+)\s+(\d+)/(\d+)/(\d+)\s+(\d+)\s+(.*)$", re.MULTILINE)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


class Pane:
    """One tmux pane on a tmux server of its own, running the console under ``sh``, which
    prints the console's exit status when it ends (remain-on-exit keeps the pane's text)."""

    def __init__(self, workdir: Path) -> None:
        assert TMUX is not None
        self.tmux_bin = TMUX
        self.socket = f"tui-orch-e2e-{uuid.uuid4().hex[:8]}"
        self.name = "console"
        self.conf = workdir / "tmux.conf"
        self.conf.write_text("set -g remain-on-exit on\nset -g history-limit 5000\n", encoding="utf-8")
        self.last = ""

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.tmux_bin, "-L", self.socket, "-f", str(self.conf), *args],
                              capture_output=True, text=True, timeout=15, env=env)

    def start(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        extra = [a for key in ("TERM", "TUI_ORCH_CONFIG", "PYTHONFAULTHANDLER") for a in ("-e", f"{key}={env[key]}")]
        command = f"{shlex.join(argv)}; echo {EXITED}$?"
        done = self.tmux("new-session", "-d", "-s", self.name, "-x", str(COLUMNS), "-y", str(LINES),
                         "-c", str(cwd), *extra, command, env=env)
        assert done.returncode == 0, f"tmux new-session failed: {done.stderr.strip()}"

    def screen(self) -> str:
        done = self.tmux("capture-pane", "-p", "-t", self.name)
        self.last = done.stdout if done.returncode == 0 else f"(capture-pane failed: {done.stderr.strip()})"
        return self.last

    def history(self) -> str:
        return self.tmux("capture-pane", "-p", "-S", "-", "-t", self.name).stdout

    def keys(self, *keys: str) -> None:
        """Press keys one at a time, at a brisk typist's pace: a burst of keys read at once
        right after a focus change can reach the widget before the focus does."""
        for key in keys:
            assert self.tmux("send-keys", "-t", self.name, key).returncode == 0
            time.sleep(KEY_GAP)

    def type(self, text: str) -> None:
        assert self.tmux("send-keys", "-t", self.name, "-l", text).returncode == 0
        time.sleep(KEY_GAP)

    def stacks(self) -> str:
        """What still runs in the console: SIGABRT makes Python's faulthandler print every
        thread's stack (PYTHONFAULTHANDLER=1); returns the pane's text afterwards."""
        shell = self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").stdout.strip()
        found = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()
        for pid in found if shell.isdigit() else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGABRT)
        deadline = time.monotonic() + 5
        while self.exit_status() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.history()

    def exit_status(self) -> int | None:
        """The console's exit status once it ended (``sh`` prints it), else None."""
        found = re.search(rf"^{EXITED}(\d+)$", self.history(), re.MULTILINE)
        return int(found[1]) if found else None

    def wait(self, check: str | Callable[[str], Any], what: str, timeout: float = 30) -> str:
        """Poll the screen until ``check`` (text on screen, or a predicate of the screen) holds;
        fail with the last screen when it does not within ``timeout`` seconds."""
        ok = (lambda s: check in s) if isinstance(check, str) else check
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if ok(shown):
                return shown
            if self.exit_status() is not None:
                # it may have ended since ``ok`` looked (when ``ok`` waits for the end, it now holds)
                if ok(shown := self.screen()):
                    return shown
                pytest.fail(f"waiting for {what}: tui-orch exited (status {self.exit_status()}); "
                            f"the pane:\n{self.history()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not on screen within {timeout:g} s; the last screen:\n{self.last}",
                            pytrace=False)
            time.sleep(0.2)

    def kill(self) -> None:
        """End the tmux server (and what still runs in it) and remove its socket."""
        path = self.tmux("display-message", "-p", "#{socket_path}").stdout.strip()
        self.tmux("kill-server")
        if path:
            Path(path).unlink(missing_ok=True)


def nodes_ready(screen: str) -> bool:
    return all(re.search(rf"^\s*{n}\s+Ready\s", screen, re.MULTILINE) for n in NODES)


def replicas(screen: str) -> dict[str, tuple[str, str, str]]:
    """replicas view: web replica -> (node, state, health)"""
    return {m[1]: (m[2], m[3], m[4]) for m in REPLICA_ROW.finditer(screen)}


def all_serving(screen: str) -> bool:
    rows = replicas(screen)
    return len(rows) == 3 and all(state == "running" and health == "healthy" for _, state, health in rows.values())


def web_service(screen: str) -> tuple[str, int, int, int, int, str] | None:
    """services view: (image, desired, running, healthy, revision, rollout) of web"""
    m = SERVICE_ROW.search(screen)
    if m is None:
        return None
    rollout = re.split(r"\s{2,}", m[6].strip())[0]  # then RESTARTS
    return m[1], int(m[2]), int(m[3]), int(m[4]), int(m[5]), rollout


def remove_owned(lab, owner: str) -> None:
    """Remove the containers and networks of one state folder (its owner label) on every lab node; a node
    whose engine cannot be reached is warned about (a failing cleanup hides no failure)."""
    for lab_node in lab.nodes:
        try:
            client = direct_client(lab_node)
        except docker.errors.DockerException as exc:
            warnings.warn(f"cleanup: {lab_node.name}'s engine is unreachable: {exc}", stacklevel=1)
            continue
        try:
            for c in client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(c["Id"], force=True)
            remove_networks(client, owner)  # and its project networks (each takes an address pool)
        except docker.errors.DockerException as exc:
            warnings.warn(f"cleanup on {lab_node.name}: {exc}", stacklevel=1)
        finally:
            client.close()


def console_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUI_ORCH_", "TMUX"))}
    env.update(TERM="xterm-256color", TUI_ORCH_CONFIG=str(config), PYTHONFAULTHANDLER="1")
    return env


@pytest.fixture
def pane(tmp_path: Path):
    if TMUX is None:
        message = "tmux is not installed (tests/lab/install-packages.sh installs it)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    p = Pane(tmp_path)
    try:
        yield p
    finally:
        p.kill()


def pick_from_list(pane: Pane, name: str) -> None:
    """In the open deploy dialog (the path input has the focus, nothing is highlighted in the
    file list): tab to the list, move down to ``name``, whose plan shows as it is highlighted,
    then enter (to Deploy)."""
    files = [p.name for p in manifest_files(EXAMPLES)]  # the list, in its order
    pane.wait(lambda s: all(f in s for f in files), "the examples in the deploy dialog's file list")
    pane.keys("Tab", *["Down"] * (files.index(name) + 1))
    pane.wait(f"Plan for {name}", f"the plan of {name} (highlighted in the file list)")
    pane.keys("Enter")


def confirm(pane: Pane, name: str) -> None:
    """Deploy asks once more, naming the file (Cancel has the focus): y deploys it."""
    pane.wait(f"Deploy {name}?", f"the confirmation naming {name}")
    pane.keys("y")
    pane.wait(lambda s: "Deploy a manifest" not in s and f"Deploy {name}?" not in s,
              "the deploy dialog and its confirmation closing on y")


def test_the_console_deploys_and_rolls_out_on_the_lab(lab, pane: Pane, tmp_path: Path) -> None:
    state, config = tmp_path / "state", tmp_path / "config"
    config.mkdir()
    v2 = tmp_path / "web-v2.yaml"
    text = (EXAMPLES / "web.yaml").read_text(encoding="utf-8")
    assert "image: tuiorch/busybox:1" in text
    v2.write_text(text.replace("image: tuiorch/busybox:1", "image: tuiorch/busybox:2"), encoding="utf-8")
    tui_orch = Path(sys.executable).parent / "tui-orch"
    assert tui_orch.exists(), f"{tui_orch} is missing: install the project (make install)"
    owner = owner_id(SimpleNamespace(identity=lambda: folder_identity(state)))  # type: ignore[arg-type]  # only .identity() is read
    pane.start([str(tui_orch), "--inventory", str(lab.inventory), "--state", str(state)], ROOT,
               console_env(config))
    try:
        # the nodes view: the lab's three nodes, Ready
        pane.wait(nodes_ready, "the nodes view with node1, node2 and node3 Ready", timeout=60)

        # deploy examples/web.yaml: the deploy key, pick it in the list, see the plan, confirm
        pane.keys("a")
        pane.wait("Deploy a manifest", "the deploy dialog")
        pick_from_list(pane, "web.yaml")
        plan = pane.screen()
        for slot in (1, 2, 3):
            assert re.search(rf"web\.{slot} -> node\d", plan), f"web.{slot} is not in the plan:\n{plan}"
        pane.keys("Enter")  # the Deploy button
        confirm(pane, "web.yaml")

        # the replicas view: 3 replicas running and healthy, one on each node
        pane.keys("3")
        shown = pane.wait(all_serving, "3 web replicas running and healthy in the replicas view", timeout=90)
        assert {node for node, _, _ in replicas(shown).values()} == NODES, shown

        # a rolling update: deploy a copy with image :2, its path typed (tab completes it)
        pane.keys("a")
        pane.wait("Deploy a manifest", "the deploy dialog")
        files = [p.name for p in manifest_files(EXAMPLES)]
        pane.wait(lambda s: all(f in s for f in files), "the deploy dialog's file list")
        pane.wait("path to a Compose file", "the path input, empty and focused as the dialog opens")
        pane.type(str(v2)[:-6])  # ".../web-v2" : the rest comes from tab completion
        pane.wait(str(v2), "the completion of the typed path")
        pane.keys("Tab", "Enter")
        plan = pane.wait(lambda s: "Plan for web-v2.yaml" in s and "planning" not in s, "the plan of web-v2.yaml")
        assert re.search(r"web: rolling update of 3 replica\(s\) to revision 2", plan), plan
        assert "0 to start, 0 to stop, 3 kept" in plan, plan
        pane.keys("Enter")  # the Deploy button
        confirm(pane, "web-v2.yaml")

        # the services view: progress batch by batch, never fewer than 3 serving (start-first)
        pane.keys("2")
        seen: list[tuple[str, int, int, int, int, str]] = []

        def done(screen: str) -> bool:
            row = web_service(screen)
            if row is not None:
                seen.append(row)
            return row is not None and row[4] == 2 and row[5].startswith("r2 complete")

        pane.wait(done, "web's rollout to revision 2 complete in the services view", timeout=150)
        progress = [row for row in seen if row[4] == 2 and "batch" in row[5]]
        assert progress, f"no rollout progress seen in the services view: {seen}"
        assert all(re.fullmatch(r"running \S+ batch [0-3]/3 [0-3]/3", row[5]) for row in progress), progress
        fewest = min(row[2] for row in progress)
        assert fewest >= 3, f"start-first, yet the services view showed {fewest} running: {progress}"
        pane.wait(lambda s: (web_service(s) or ())[:4] == ("tuiorch/busybox:2", 3, 3, 3),
                  "web at busybox:2 with 3/3/3 desired/running/healthy")

        # the events view says so
        pane.keys("4")
        pane.wait("web: rollout complete: 3 replica(s) at revision 2", "the rollout complete event")
        pane.keys("3")
        pane.wait(all_serving, "3 web replicas running and healthy after the rollout", timeout=30)

        # quit: the process ends with status 0, no traceback
        pane.keys("C-q")
        t0 = time.monotonic()
        while pane.exit_status() is None:
            if time.monotonic() - t0 > QUIT_WITHIN:
                pytest.fail(f"tui-orch still runs {QUIT_WITHIN} s after ctrl+q; its threads, as SIGABRT "
                            f"shows them:\n{pane.stacks()}", pytrace=False)
            time.sleep(0.1)
        printed = pane.history()
        assert "Traceback" not in printed, printed
        assert pane.exit_status() == 0, printed
    finally:
        pane.kill()
        remove_owned(lab, owner)
