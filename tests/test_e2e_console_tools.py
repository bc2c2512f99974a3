"""The console's tools end to end, as a k9s user reaches for them: the real ``tui-orch`` in a
tmux pane (120x40) on the lab's inventory. A service of two replicas (busybox httpd on port 80
of each container, and a line a second on its output) is deployed from the deploy dialog;
then, each read off the screen as an operator would:

- sort: ``>`` steps the replicas view's sort to the NODE column (▲ in its title, rows in node
  order), ``~`` reverses it (▼, the other order);
- describe: ``d`` on a replica shows its resolved settings and why it was placed on its node;
- service logs: ``l`` on the service streams both replicas' lines, each prefixed by its replica;
- port-forward: ``f`` on a replica forwards a local port through its node's SSH connection,
  ``:pf`` lists it, a request through 127.0.0.1 gets that replica's own answer, and quitting
  closes the port.

The pane, the tmux server and the containers are this test's own (see test_e2e_console.py)."""

from __future__ import annotations

import re
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from forward_support import listening
from test_e2e_console import QUIT_WITHIN, ROOT, Pane, confirm, console_env, nodes_ready, pane, remove_owned  # noqa: F401
from tui_orch.controller.core import owner_id
from tui_orch.store.base import folder_identity

APP = """\
name: e2e-tools
services:
  echo:
    image: tuiorch/busybox:1
    command: ["sh", "-c", "echo answer-of-$$TUI_ORCH_NODE > /www/who.txt && httpd -p 80 -h /www && while true; do echo tick-from-$$TUI_ORCH_NODE; sleep 1; done"]
    ports: ["80"]
    deploy:
      replicas: 2
      resources:
        reservations: {cpus: "0.1", memory: 32m}
      placement:
        preferences:
          - spread: node.labels.zone
"""
# replicas view: SERVICE REPLICA NODE STATE ...
ROW = re.compile(r"^\s*•?\s*echo\s+(echo\.\d)\s+(node\d)\s+(\w+)", re.MULTILINE)


def rows(screen: str) -> list[tuple[str, str, str]]:
    return [(m[1], m[2], m[3]) for m in ROW.finditer(screen)]


def running(screen: str) -> bool:
    found = rows(screen)
    return len(found) == 2 and all(state == "running" for _, _, state in found)


def header(screen: str) -> str:
    return next((line for line in screen.splitlines() if "REPLICA" in line and "SERVICE" in line), "")


def test_describe_sort_service_logs_and_port_forward_on_the_lab(lab, pane: Pane, tmp_path: Path) -> None:  # noqa: F811
    state, config = tmp_path / "state", tmp_path / "config"
    config.mkdir()
    app_file = tmp_path / "echo-app.yaml"
    app_file.write_text(APP, encoding="utf-8")
    tui_orch = Path(sys.executable).parent / "tui-orch"
    owner = owner_id(SimpleNamespace(identity=lambda: folder_identity(state)))  # type: ignore[arg-type]
    pane.start([str(tui_orch), "--inventory", str(lab.inventory), "--state", str(state)], ROOT, console_env(config))
    port = 0
    try:
        pane.wait(nodes_ready, "the nodes view with node1, node2 and node3 Ready", timeout=60)

        # deploy the file: its path typed into the deploy dialog (tab completes it)
        pane.keys("a")
        pane.wait("path to a Compose file", "the deploy dialog's path input")
        pane.type(str(app_file)[:-6])
        pane.wait(str(app_file), "the completion of the typed path")
        pane.keys("Tab", "Enter")
        pane.wait(lambda s: "Plan for echo-app.yaml" in s and "planning" not in s, "the plan of echo-app.yaml")
        pane.keys("Enter")
        confirm(pane, "echo-app.yaml")
        pane.keys("3")
        shown = pane.wait(running, "2 echo replicas running in the replicas view", timeout=90)
        nodes = {node for _, node, _ in rows(shown)}
        assert len(nodes) == 2, f"spread over zones, yet: {rows(shown)}"

        # sort: > steps to SERVICE, REPLICA, NODE; ~ reverses
        pane.keys(">", ">", ">")
        shown = pane.wait(lambda s: "NODE ▲" in header(s) or "NODE▲" in header(s), "NODE ▲ in the replicas view's header")
        order = [node for _, node, _ in rows(shown)]
        assert order == sorted(order), shown
        assert "sorted by NODE" in shown, shown
        pane.keys("~")
        shown = pane.wait(lambda s: "▼" in header(s), "NODE ▼ after ~")
        assert [node for _, node, _ in rows(shown)] == sorted(order, reverse=True), shown

        # describe the replica under the cursor (it kept the cursor through the sorts): its
        # settings and why it is on its node
        pane.keys("d")
        described = pane.wait(re.compile(r"Describe replica echo\.\d[\s\S]*Placement on node\d").search,
                              "the describe screen of a replica with its placement")
        which = re.search(r"Describe replica (echo\.\d)", described)[1]  # type: ignore[index]
        node = dict((r, nd) for r, nd, _ in rows(shown))[which]
        assert f"replica: {which}" in described and "service: echo" in described, described
        assert f"Placement on {node}" in described and f"node: {node}" in described, described
        pane.keys("Escape")
        pane.wait(lambda s: "REPLICA" in header(s), "the replicas view again after esc")

        # logs of the whole service: both replicas' lines, each with its prefix
        pane.keys("2")
        pane.wait(re.compile(r"^\s*echo\s", re.MULTILINE).search, "echo in the services view")
        pane.keys("l")
        logs = pane.wait(lambda s: all(re.search(rf"echo\.{n}\s*\|.*tick-from-node\d", s) for n in (1, 2)),
                         "lines of echo.1 and echo.2, each prefixed", timeout=30)
        for n in (1, 2):
            line = next(line for line in logs.splitlines() if re.search(rf"echo\.{n}\s*\|", line))
            where = dict((r, nd) for r, nd, _ in rows(shown))[f"echo.{n}"]
            assert f"tick-from-{where}" in line, (n, where, line)
        pane.keys("Escape")

        # port-forward echo.1: f, accept the dialog's ports, :pf lists it, a request goes through
        pane.keys("3")
        pane.wait(running, "the replicas view")
        pane.keys("/")
        pane.type("echo.1")
        pane.keys("Enter")
        pane.wait(lambda s: [r for r, _, _ in rows(s)] == ["echo.1"], "echo.1 alone under the filter")
        pane.keys("f")
        pane.wait("Port-forward echo.1", "the port-forward dialog")
        pane.keys("Enter")
        pane.wait(re.compile(r"127\.0\.0\.1:\d+ -> echo\.1:80").search, "the forward opened")
        pane.keys(":")
        pane.type("pf")
        pane.keys("Enter")
        listed = pane.wait(re.compile(r"echo\.1\s+node\d\s+80\s+127\.0\.0\.1:(\d+)").search, "the forward in :pf")
        port = int(re.search(r"echo\.1\s+node\d\s+80\s+127\.0\.0\.1:(\d+)", listed)[1])  # type: ignore[index]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/who.txt", timeout=30) as answer:
            body = answer.read().decode()
        echo1_node = dict((r, nd) for r, nd, _ in rows(shown))["echo.1"]
        assert body == f"answer-of-{echo1_node}\n", body

        # quit: status 0, no traceback, the local port closed
        pane.keys("C-q")
        deadline = time.monotonic() + QUIT_WITHIN
        while pane.exit_status() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"tui-orch still runs {QUIT_WITHIN} s after ctrl+q:\n{pane.stacks()}", pytrace=False)
            time.sleep(0.1)
        printed = pane.history()
        assert "Traceback" not in printed, printed
        assert pane.exit_status() == 0, printed
        assert not listening(port), f"127.0.0.1:{port} still listens after the console quit"
    finally:
        pane.kill()
        remove_owned(lab, owner)
