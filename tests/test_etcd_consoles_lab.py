"""Two operators' consoles and a CLI on one fleet kept in etcd, on the lab: the real `tui-orch`
in two tmux panes, a headless controller leading the etcd state. What users check: each
console's header names the controller; a change made with the CLI shows in both consoles
within about a second (the consoles follow etcd's watch); a deploy confirmed in a console
after someone else changed the service is refused with who changed what, offers a new plan,
and loses nothing."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest

from controller_support import cleanup, prefix
from test_e2e_console import ROOT, Pane, console_env, nodes_ready
from test_etcd_controllers_lab import SERVICE, TTL, Controller, cli
from test_controller_headless_lab import TUI_ORCH, ssh_home


@pytest.fixture
def etcd_state(lab, tmp_path, monkeypatch, request):
    from labparts import etcd as lab_etcd

    lab_etcd.launch(lab.dir)
    lab_etcd.wait_healthy(lab.dir)
    import shutil
    import tempfile

    short = tempfile.mkdtemp(prefix="xdg", dir="/tmp")  # a socket path sshd can open (< 108 bytes)
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    monkeypatch.setenv("XDG_STATE_HOME", short)  # the consoles get it too (console_env)
    hosts = ",".join(e.split("://", 1)[1] for e in lab.etcd_endpoints)
    return f"etcd://{hosts}/tui-orch-test/{uuid.uuid4().hex[:8]}?ttl={TTL}"


@pytest.fixture
def panes(tmp_path):
    made = [Pane(tmp_path), Pane(tmp_path)]
    try:
        yield made
    finally:
        for p in made:
            p.kill()


def desired(screen: str, name: str) -> int | None:
    """services view: the DESIRED count of ``name`` (NAME IMAGE DESIRED/RUNNING/HEALTHY ...)."""
    m = re.search(rf"^\s*{name}\s+\S+\s+(\d+)/\d+/\d+", screen, re.MULTILINE)
    return int(m[1]) if m else None


def test_two_consoles_follow_the_cli_and_a_stale_deploy_is_refused(lab, etcd_state, panes, tmp_path):
    pre = prefix()
    config = tmp_path / "config"
    config.mkdir()
    v1, v2, v3 = (tmp_path / f"{pre}-v{n}.yaml" for n in (1, 2, 3))
    for n, path in enumerate((v1, v2, v3), start=1):
        path.write_text(SERVICE.format(name=pre, tag=n).replace("replicas: 3", "replicas: 2"))
    ctl = Controller(lab, etcd_state, tmp_path / "controller.log")
    ctl.wait_line("listening", 60)
    try:
        code, out, err = cli(lab, etcd_state, "apply", "-f", str(v1))
        assert code == 0, out + err
        for pane in panes:
            pane.start([TUI_ORCH, "--inventory", str(lab.inventory), "--state", etcd_state], ROOT, console_env(config))
        for pane in panes:
            shown = pane.wait(nodes_ready, "the nodes view with the lab's nodes Ready", timeout=60)
            assert f"pid {ctl.proc.pid}" in shown, shown  # the header names the controller
            pane.keys("2")
            pane.wait(lambda s: desired(s, pre) == 2, f"{pre} with 2 desired in the services view")

        # a change made with the CLI shows in both consoles (a cordon: the command returns at once)
        for pane in panes:
            pane.keys("1")
            pane.wait(nodes_ready, "the nodes view")
        code, out, err = cli(lab, etcd_state, "node", "cordon", "node2")
        assert code == 0, out + err
        t0 = time.monotonic()
        seen = []
        for pane in panes:
            pane.wait(lambda s: re.search(r"^\s*node2\s.*cordoned", s, re.MULTILINE), "node2 cordoned", timeout=5)
            seen.append(time.monotonic() - t0)
        print("cordon shown in the two consoles after (s): " + " ".join(f"{t:.2f}" for t in seen))
        assert max(seen) <= 1.0, seen  # a read-only console looks for watched changes 10 times a second
        code, out, err = cli(lab, etcd_state, "node", "uncordon", "node2")
        assert code == 0, out + err
        for pane in panes:
            pane.keys("2")

        # the first console plans v2; meanwhile the CLI applies v3; deploying v2 is refused
        first = panes[0]
        first.keys("a")
        first.wait("path to a Compose file", "the deploy dialog's path input")
        first.type(str(v2))
        first.keys("Enter")
        first.wait(lambda s: f"Plan for {v2.name}" in s and "planning" not in s, f"the plan of {v2.name}")
        code, out, err = cli(lab, etcd_state, "apply", "-f", str(v3))
        assert code == 0, out + err
        first.keys("Enter")  # Deploy
        first.wait(f"Deploy {v2.name}?", "the confirmation")
        first.keys("y")
        refused = first.wait("Someone changed it first", "the refusal of a deploy planned on an old state")
        assert pre in refused and "revision" in refused, refused
        first.keys("Escape")
        time.sleep(1.5)
        code, out, err = cli(lab, etcd_state, "get", "services")
        assert code == 0 and re.search(rf"^{pre}\s+2\s", out, re.MULTILINE), out + err  # v1, then v3: revision 2
        events = cli(lab, etcd_state, "events")[1]
        assert f"{pre}-v3.yaml" in events and f"{pre}-v2.yaml" not in events, events  # v3 kept, v2 never applied
        for pane in panes:
            pane.keys("C-q")
        for pane in panes:
            pane.wait(lambda s: pane.exit_status() is not None, "the console's exit", timeout=20)
            assert pane.exit_status() == 0 and "Traceback" not in pane.history(), pane.history()
        assert ctl.proc.poll() is None  # closing the consoles leaves the controller running
    finally:
        ctl.stop()
        cleanup(lab, pre)


def test_a_console_on_another_machine_acts_through_ssh(lab, etcd_state, panes, tmp_path):
    """`tui-orch --state etcd://... --controller ssh://HOST/FOLDER`: the console reads the
    state from etcd itself and sends its commands through one SSH connection (node1's sshd,
    which shares this machine's files) to the controller's socket; host keys are checked."""
    import os

    from tui_orch.store import state_target

    pre = prefix()
    config = tmp_path / "config"
    config.mkdir()
    manifest = tmp_path / f"{pre}.yaml"
    manifest.write_text(SERVICE.format(name=pre, tag=1).replace("replicas: 3", "replicas: 1"))
    ctl = Controller(lab, etcd_state, tmp_path / "controller.log")
    ctl.wait_line("listening", 60)
    node = lab.nodes[0]
    home = ssh_home(lab, tmp_path)
    url = f"ssh://{node.address}{os.fspath(state_target(etcd_state))}"
    try:
        code, out, err = cli(lab, etcd_state, "apply", "-f", str(manifest))
        assert code == 0, out + err
        pane = panes[0]
        env = {**console_env(config), "HOME": str(home)}
        pane.start([TUI_ORCH, "--inventory", str(lab.inventory), "--state", etcd_state, "--controller", url],
                   ROOT, env)
        shown = pane.wait(nodes_ready, "the nodes view with the lab's nodes Ready", timeout=60)
        assert f"pid {ctl.proc.pid}" in shown and "ssh://" in shown, shown  # the header names it and the way
        pane.keys("2")
        pane.wait(lambda s: desired(s, pre) == 1, f"{pre} in the services view")
        pane.keys("S")  # scale the service under the cursor (the only one)
        pane.wait(f"Scale {pre}", "the scale dialog")
        pane.type("2")
        pane.keys("Enter")
        pane.wait(lambda s: desired(s, pre) == 2, f"{pre} scaled to 2 by the controller, shown here", timeout=30)
        ctl.wait_line(f"{pre}.2 (revision 1) started", 30)  # the controller over there did it
        # deploy from here: the file is read here and shipped (its secret file too)
        (tmp_path / "token.txt").write_text("from-the-remote-console")
        extra = tmp_path / f"{pre}-extra.yaml"
        extra.write_text(f"secrets:\n  token: {{file: ./token.txt}}\nservices:\n  {pre}x:\n"
                         f"    image: tuiorch/busybox:1\n    command: [sleep, '3600']\n    stop_grace_period: 1s\n"
                         f"    secrets: [token]\n")
        pane.keys("a")
        pane.wait("path to a Compose file", "the deploy dialog's path input")
        pane.type(str(extra))
        pane.keys("Enter")
        pane.wait(lambda s: f"Plan for {extra.name}" in s and "planning" not in s, f"the plan of {extra.name}")
        pane.keys("Enter")  # Deploy
        pane.wait(f"Deploy {extra.name}?", "the confirmation")
        pane.keys("y")
        pane.wait(lambda s: desired(s, pre + "x") == 1, f"{pre}x deployed through the controller", timeout=60)
        ctl.wait_line(f"{pre}x.1 (revision 1) started", 30)
        pane.keys("C-q")
        pane.wait(lambda s: pane.exit_status() is not None, "the console's exit", timeout=20)
        assert pane.exit_status() == 0 and "Traceback" not in pane.history(), pane.history()
        assert ctl.proc.poll() is None
        # a state folder cannot be read from here: one message
        done = cli(lab, str(tmp_path / "folder"), "--controller", url)
        assert done[0] == 1 and "must be in etcd" in done[2] and "Traceback" not in done[2], done
    finally:
        ctl.stop()
        cleanup(lab, pre)
