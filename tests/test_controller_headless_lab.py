"""`tui-orch controller`: the control loop on its own, the CLI's commands sent to it, on the
lab's real nodes. What a user checks: commands print what they print without it and act on
the fleet; its log has a line per event; SIGTERM hands restarts to the engines and exits 0;
a lost node's replicas move while no console or command runs."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller_support import cleanup, owned, prefix
from nodes_support import direct_client
from tui_orch.control.place import read_info

TUI_ORCH = str(Path(sys.executable).parent / "tui-orch")

SERVICE = """
services:
  {name}:
    image: tuiorch/busybox:${{TAG}}
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
    ports:
      - target: 8080
    stop_grace_period: 2s
    deploy:
      replicas: 2
      placement:
        max_replicas_per_node: 1
"""


class Headless:
    """A `tui-orch controller` process on the lab, its log read as it runs."""

    def __init__(self, lab, state: Path, *extra: str):
        self.state = state
        self.log_path = state.parent / f"{state.name}-controller.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([TUI_ORCH, "controller", "--state", str(state), "--inventory", str(lab.inventory),
                                      *extra], stdout=self.log, stderr=subprocess.STDOUT, text=True)
        self.wait_line("listening", 60)

    def text(self) -> str:
        return self.log_path.read_text()

    def wait_line(self, needle: str, timeout: float) -> str:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            text = self.text()
            if needle in text:
                return text
            if self.proc.poll() is not None:
                pytest.fail(f"the controller exited ({self.proc.returncode}):\n{text}")
            time.sleep(0.1)
        pytest.fail(f"{needle!r} not in the controller's log within {timeout} s:\n{self.text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def cli(lab, state: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 180) -> tuple[int, str, str]:
    done = subprocess.run([TUI_ORCH, *args, "--state", str(state), "--inventory", str(lab.inventory)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})
    return done.returncode, done.stdout, done.stderr


def running_on(lab, pre: str) -> dict[str, list[dict]]:
    return {node: [c for c in found if c["State"] == "running"] for node, found in owned(lab, pre).items()}


def restart_policies(lab, pre: str) -> list[str]:
    out = []
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for c in running_on(lab, pre)[lab_node.name]:
                out.append(client.api.inspect_container(c["Id"])["HostConfig"]["RestartPolicy"]["Name"])
        finally:
            client.close()
    return out


def test_commands_go_to_the_running_controller_and_sigterm_hands_over(lab, tmp_path):
    pre = prefix()
    state = tmp_path / "state"
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "web.yaml").write_text(SERVICE.format(name=pre))
    ctl = Headless(lab, state)
    try:
        info = read_info(state)
        assert info is not None and info.pid == ctl.proc.pid
        assert stat.S_IMODE(os.stat(state / "controller.sock").st_mode) == 0o600
        # a relative path, and ${TAG} from the client's environment, as without a controller
        code, out, err = cli(lab, state, "apply", "-f", "web.yaml", cwd=tmp_path / "app", env={"TAG": "1"})
        assert code == 0, out + err
        assert f"running: {pre}.1" in out and f"running: {pre}.2" in out, out
        assert sum(len(cs) for cs in running_on(lab, pre).values()) == 2
        log = ctl.wait_line(f"{pre}.2 (revision 1) started", 10)
        assert f"deploy     {pre}: revision 1" in log, log
        code, out, err = cli(lab, state, "scale", f"{pre}=3")
        assert code == 0 and f"running: {pre}.3" in out, out + err
        assert sorted(len(cs) for cs in running_on(lab, pre).values()) == [1, 1, 1]
        code, out, err = cli(lab, state, "node", "cordon", "nosuchnode")
        assert code == 1 and "there is no node nosuchnode" in err and "Traceback" not in err, err
        code, out, err = cli(lab, state, "apply", "-f", "missing.yaml", cwd=tmp_path)
        assert code == 1 and f"{tmp_path}/missing.yaml" in err, err
        code, out, err = cli(lab, state, "rollout", "status", pre)
        assert code == 0 and pre in out, out + err
        code, out, err = cli(lab, state, "controller", "status")
        assert code == 0 and f"pid {ctl.proc.pid}" in out, out + err
        # a second controller on the same state is refused, naming the first
        code, out, err = cli(lab, state, "controller")
        assert code == 1 and f"a controller already runs for {state}" in err and f"pid {ctl.proc.pid}" in err, err
        assert ctl.stop() == 0
        log = ctl.text()
        assert "SIGTERM: stopping" in log and "the engines restart 3 replica(s)" in log and log.rstrip().endswith("stopped"), log
        assert not (state / "controller.sock").exists() and read_info(state) is None
        policies = restart_policies(lab, pre)  # the engines restart them now
        assert len(policies) == 3 and "no" not in policies, policies
        # with no controller running, the command runs its own as before
        code, out, err = cli(lab, state, "scale", f"{pre}=1")
        assert code == 0, out + err
        assert sum(len(cs) for cs in running_on(lab, pre).values()) == 1
    finally:
        ctl.kill()
        cleanup(lab, pre)


def test_json_log_is_one_object_per_line(lab, tmp_path):
    pre = prefix()
    state = tmp_path / "state"
    (tmp_path / "web.yaml").write_text(SERVICE.format(name=pre).replace("${TAG}", "1"))
    ctl = Headless(lab, state, "--log-format", "json")
    try:
        code, out, err = cli(lab, state, "apply", "-f", str(tmp_path / "web.yaml"))
        assert code == 0, out + err
        ctl.wait_line(f"{pre}.2 (revision 1) started", 10)
        assert ctl.stop() == 0
        lines = [json.loads(line) for line in ctl.text().splitlines()]
        assert all({"time", "kind", "message", "level"} <= set(obj) for obj in lines), lines
        starts = [obj for obj in lines if obj["kind"] == "start"]
        assert {obj["replica"] for obj in starts} == {f"{pre}.1", f"{pre}.2"}, starts
        assert lines[-1]["message"] == "stopped"
    finally:
        ctl.kill()
        cleanup(lab, pre)


def test_a_lost_node_s_replicas_move_with_no_console_open(lab, tmp_path):
    """The console closed, the controller on its own: kill a node (its sshd: the node is
    cut off); its replica runs on another node within 15 s."""
    pre = prefix()
    state = tmp_path / "state"
    (tmp_path / "web.yaml").write_text(SERVICE.format(name=pre).replace("${TAG}", "1"))
    ctl = Headless(lab, state)
    try:
        code, out, err = cli(lab, state, "apply", "-f", str(tmp_path / "web.yaml"))
        assert code == 0, out + err
        where = {node: len(cs) for node, cs in running_on(lab, pre).items()}
        cut = next(node for node, n in where.items() if n)
        others = [node for node in where if node != cut]
        before = sum(where[n] for n in others)
        t0 = time.monotonic()
        lab.kill_sshd(cut)
        try:
            while time.monotonic() - t0 < 15:
                now = running_on(lab, pre)
                if sum(len(now[n]) for n in others) == before + 1:
                    break
                time.sleep(0.2)
            moved = time.monotonic() - t0
            assert sum(len(running_on(lab, pre)[n]) for n in others) == before + 1, (ctl.text(), running_on(lab, pre))
            print(f"node cut -> its replica running on another node after {moved:.1f} s (headless controller)")
        finally:
            lab.start_sshd(cut)
        assert f"lost       " in ctl.text(), ctl.text()  # the log says what happened
    finally:
        ctl.stop()
        ctl.kill()
        cleanup(lab, pre)


async def test_an_attached_console_sends_its_commands_and_shows_their_effect(lab, tmp_path):
    """What the console holds while a controller runs on its own (cli_console attaches it):
    each command goes to that controller; the console's view shows the result at once."""
    from tui_orch.control.attached import AttachedController
    from tui_orch.errors import PlanOutdated, TuiOrchError
    from tui_orch.inventory import load_inventory
    from tui_orch.manifest import load_manifest
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.store import open_store

    pre = prefix()
    state = tmp_path / "state"
    (tmp_path / "web.yaml").write_text(SERVICE.format(name=pre).replace("${TAG}", "1"))
    ctl = Headless(lab, state)
    store = open_store(state, readonly=True)
    attached = AttachedController(store, Fleet(load_inventory(lab.inventory)), str(state), read_info(state))
    try:
        assert attached.where == read_info(state).describe() and f"pid {ctl.proc.pid} since" in attached.where
        reader = attached.query()
        plan = await attached.apply(load_manifest(tmp_path / "web.yaml"), dry_run=True)
        assert plan.dry_run and f"{pre}.1 ->" in plan.plan and not reader.replicas(pre)
        built: list[str] = []
        done = await attached.apply(load_manifest(tmp_path / "web.yaml"), output=built.append)
        assert done.ok and sorted(done.started) == [f"{pre}.1", f"{pre}.2"], done
        assert len(reader.replicas(pre)) == 2  # shown without waiting for the next poll
        done = await attached.scale(pre, 3)
        assert done.started == [f"{pre}.3"] and len(reader.replicas(pre)) == 3
        assert sum(len(cs) for cs in running_on(lab, pre).values()) == 3
        # another operator scales between this console's plan and its deploy: refused, named
        plan = await attached.apply(load_manifest(tmp_path / "web.yaml"), dry_run=True)
        code, out, err = cli(lab, state, "scale", f"{pre}=2")
        assert code == 0, out + err
        with pytest.raises(PlanOutdated, match=f"{pre} was scaled"):
            await attached.apply(load_manifest(tmp_path / "web.yaml"), expect=plan.basis)
        assert len(reader.replicas(pre)) == 2
        node = lab.nodes[0].name
        assert "cordoned" in await attached.cordon(node)
        assert "uncordoned" in await attached.uncordon(node)
        with pytest.raises(TuiOrchError, match="no service nosuch"):
            await attached.scale("nosuch", 2)
        with pytest.raises(TuiOrchError, match="tui-orch volume move"):
            await attached.volume_move(f"{pre}.1", node)
        await attached.close()  # the console closes: the controller carries on
        assert ctl.proc.poll() is None
        assert ctl.stop() == 0
        with pytest.raises(TuiOrchError, match="does not answer"):
            await attached.scale(pre, 1)
        assert attached.where.startswith("none runs")  # the header follows (it named a dead pid)
        ctl = Headless(lab, state)  # another one starts: commands and the header go to it
        attached._looked = 0.0
        assert f"pid {ctl.proc.pid}" in attached.where
        assert (await attached.scale(pre, 1)).stopped
    finally:
        store.close()
        ctl.stop()
        ctl.kill()
        cleanup(lab, pre)


def ssh_home(lab, tmp_path: Path) -> Path:
    """A HOME whose ~/.ssh/config reaches node1's sshd (which shares this machine's files: the
    stand-in for the controller's machine), its host key known."""
    node = lab.nodes[0]
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        f"Host {node.address}\n  Port {node.port}\n  User {node.user}\n  IdentityFile {lab.client_key}\n"
        f"  UserKnownHostsFile {lab.known_hosts}\n")
    return home


def test_a_controller_on_another_machine_is_reached_through_ssh(lab, tmp_path):
    """--controller ssh://HOST/STATE: the command goes through an SSH connection to the
    controller's socket (here: node1's sshd, which shares this machine's files), host key
    checked; no TCP port of the controller's."""
    pre = prefix()
    state = tmp_path / "state"
    (tmp_path / "web.yaml").write_text(SERVICE.format(name=pre).replace("${TAG}", "1"))
    ctl = Headless(lab, state)
    node = lab.nodes[0]
    home = ssh_home(lab, tmp_path)
    env = {"HOME": str(home)}
    url = f"ssh://{node.address}{state}"
    try:
        code, out, err = cli(lab, state, "apply", "-f", str(tmp_path / "web.yaml"))
        assert code == 0, out + err
        code, out, err = cli(lab, tmp_path / "elsewhere", "--controller", url, "scale", f"{pre}=3", env=env)
        assert code == 0 and f"running: {pre}.3" in out, out + err
        assert sum(len(cs) for cs in running_on(lab, pre).values()) == 3
        code, out, err = cli(lab, tmp_path / "elsewhere", "--controller", url, "get", "services", "-o", "json", "--cached", env=env)
        assert code == 0 and json.loads(out)[0]["desired"] == 3, out + err
        # apply from here: the manifest and the files it names are read here and shipped (a
        # relative secret file, ${VARIABLES} of this machine's environment)
        app = tmp_path / "operator"
        app.mkdir()
        (app / "token.txt").write_text("shipped-7f3a")
        (app / "extra.yaml").write_text(
            f"secrets:\n  token: {{file: ./token.txt}}\nservices:\n  {pre}x:\n    image: tuiorch/busybox:${{TAG}}\n"
            f"    command: [sleep, '3600']\n    stop_grace_period: 1s\n    secrets: [token]\n")
        code, out, err = cli(lab, tmp_path / "elsewhere", "--controller", url, "apply", "-f", "extra.yaml",
                             cwd=app, env={**env, "TAG": "1"})
        assert code == 0 and f"running: {pre}x.1" in out, out + err
        (container,) = [c for cs in running_on(lab, pre + "x").values() for c in cs]
        where = next(n for n in lab.nodes if any(c["Id"] == container["Id"] for c in running_on(lab, pre + "x")[n.name]))
        client = direct_client(where)
        try:
            shown = client.containers.get(container["Id"]).exec_run(["cat", "/run/secrets/token"]).output
        finally:
            client.close()
        assert shown == b"shipped-7f3a", shown
        code, out, err = cli(lab, tmp_path / "elsewhere", "--controller", url, "node", "cordon", "nosuch", env=env)
        assert code == 1 and "there is no node nosuch" in err, err
        # a wrong folder, an unknown host key: one line each, nothing done
        code, out, err = cli(lab, tmp_path / "elsewhere", "--controller", f"ssh://{node.address}/nowhere",
                             "scale", f"{pre}=1", env=env)
        assert code == 1 and f"no controller answers at {node.address}:/nowhere/controller.sock" in err, err
        (home / ".ssh" / "config").write_text((home / ".ssh" / "config").read_text().replace(
            str(lab.known_hosts), str(tmp_path / "empty_known_hosts")))
        (tmp_path / "empty_known_hosts").write_text("")
        code, out, err = cli(lab, tmp_path / "elsewhere", "--controller", url, "scale", f"{pre}=1", env=env)
        assert code == 1 and "unknown host key" in err and len(err.strip().splitlines()) == 1, err
        assert sum(c["Labels"]["tui-orch.service"] == pre for cs in running_on(lab, pre).values() for c in cs) == 3
    finally:
        ctl.stop()
        ctl.kill()
        cleanup(lab, pre)
