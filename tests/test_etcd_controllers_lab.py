"""A team's fleet in etcd (`--state etcd://...`), on the lab's three-member etcd and real
nodes: two headless controllers, one leads and one stands by. What a user checks: the
standby takes over within the lease TTL + 1 s when the leader is SIGKILLed mid-rollout, and
the rollout finishes with exactly the wanted containers (no duplicate, no orphan); a leader
paused past its lease does nothing to the containers once resumed (the engines' events
say so); commands, state export/import and a read-only view work on the etcd state."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from controller_support import cleanup, owned, prefix
from test_controller_headless_lab import TUI_ORCH
from tui_orch.nodes.base import LABEL_REVISION, LABEL_SLOT

TTL = 2

SERVICE = """
services:
  {name}:
    image: tuiorch/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; echo {tag} > /www/v; httpd -f -p 8080 -h /www & wait"]
    ports:
      - target: 8080
    stop_grace_period: 1s
    deploy:
      replicas: 3
      update_config:
        parallelism: 1
        delay: 0s
        monitor: 1s
"""


@pytest.fixture
def etcd_state(lab, tmp_path, monkeypatch):
    from labparts import etcd as lab_etcd

    lab_etcd.launch(lab.dir)
    lab_etcd.wait_healthy(lab.dir)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))  # this machine's folder for the state
    hosts = ",".join(e.split("://", 1)[1] for e in lab.etcd_endpoints)
    return f"etcd://{hosts}/tui-orch-test/{uuid.uuid4().hex[:8]}?ttl={TTL}"


class Controller:
    def __init__(self, lab, state: str, log: Path):
        self.log_path = log
        self.log = open(log, "w")
        self.proc = subprocess.Popen([TUI_ORCH, "controller", "--state", state, "--inventory", str(lab.inventory)],
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def text(self) -> str:
        return self.log_path.read_text()

    def wait_line(self, needle: str, timeout: float) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if needle in self.text():
                return time.monotonic()
            if self.proc.poll() is not None:
                pytest.fail(f"the controller exited ({self.proc.returncode}):\n{self.text()}")
            time.sleep(0.05)
        pytest.fail(f"{needle!r} not in the controller's log within {timeout} s:\n{self.text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def cli(lab, state: str, *args: str, timeout: float = 180) -> tuple[int, str, str]:
    done = subprocess.run([TUI_ORCH, *args, "--state", state, "--inventory", str(lab.inventory)],
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def test_the_standby_takes_over_a_killed_leader_mid_rollout_ten_times(lab, etcd_state, tmp_path):
    pre = prefix()
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SERVICE.format(name=pre, tag=0))
    a = Controller(lab, etcd_state, tmp_path / "a.log")
    a.wait_line("listening", 60)
    b = Controller(lab, etcd_state, tmp_path / "b.log")
    b.wait_line("standby", 30)
    leader, standby = a, b
    try:
        code, out, err = cli(lab, etcd_state, "apply", "-f", str(manifest))
        assert code == 0, out + err
        assert len([c for cs in owned(lab, pre).values() for c in cs]) == 3
        took, extra = [], []
        for round_ in range(1, 11):
            revision = round_ + 1
            manifest.write_text(SERVICE.format(name=pre, tag=round_))
            applying = subprocess.Popen([TUI_ORCH, "apply", "-f", str(manifest), "--state", etcd_state,
                                         "--inventory", str(lab.inventory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            leader.wait_line(f"{pre}: revision {revision} from", 30)  # the apply is in the state
            # then somewhere in the rollout's three batches (each about 1.5 s)
            time.sleep(0.2 + (round_ % 4) * 0.9)
            t_kill = time.monotonic()
            leader.proc.kill()
            leader.proc.wait(10)
            t_led = standby.wait_line("leading ", TTL + 30)
            took.append(t_led - t_kill)
            applying.wait(60)  # its controller went away: it ends
            restarted = Controller(lab, etcd_state, tmp_path / f"r{round_}.log")
            leader.stop()
            leader, standby = standby, restarted
            standby.wait_line("standby", 30)
            leader.wait_line(f"rollout complete: 3 replica(s) at revision {revision}", 60)
            wanted = [(str(slot), str(revision), "running") for slot in (1, 2, 3)]
            deadline = time.monotonic() + 20
            while True:
                found = [c for cs in owned(lab, pre).values() for c in cs]  # running or not
                seen = sorted((c["Labels"].get(LABEL_SLOT), c["Labels"].get(LABEL_REVISION), c["State"]) for c in found)
                if seen == wanted or time.monotonic() > deadline:
                    break
                extra.append(round_)
                time.sleep(0.5)
            assert seen == wanted, (round_, seen, leader.text())
        print("takeover after SIGKILL (s): " + " ".join(f"{t:.1f}" for t in took) + f"; extra seen in rounds {sorted(set(extra))}")
        assert max(took) <= TTL + 1, took  # the lease's TTL + 1 s
    finally:
        leader.stop()
        standby.stop()
        cleanup(lab, pre)


def engine_actions(lab, pre: str, since: float, until: float) -> list[tuple[str, str, str]]:
    """(node, action, container name) of every engine event of our containers in the window."""
    from nodes_support import direct_client
    from tui_orch.nodes.base import LABEL_SERVICE

    out = []
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for ev in client.api.events(since=since, until=until, decode=True, filters={"type": "container"}):
                attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                if attrs.get(LABEL_SERVICE, "").startswith(pre) and not ev.get("Action", "").startswith("exec_"):
                    out.append((lab_node.name, ev.get("Action", ""), attrs.get("name", "")))
        finally:
            client.close()
    return out


def test_a_leader_paused_past_its_lease_does_nothing_once_resumed(lab, etcd_state, tmp_path):
    pre = prefix()
    manifest = tmp_path / "web.yaml"
    slow = SERVICE.replace("delay: 0s", "delay: 3s")
    manifest.write_text(slow.format(name=pre, tag=0))
    a = Controller(lab, etcd_state, tmp_path / "a.log")
    a.wait_line("listening", 60)
    b = Controller(lab, etcd_state, tmp_path / "b.log")
    b.wait_line("standby", 30)
    try:
        code, out, err = cli(lab, etcd_state, "apply", "-f", str(manifest))
        assert code == 0, out + err
        manifest.write_text(slow.format(name=pre, tag=1))
        applying = subprocess.Popen([TUI_ORCH, "apply", "-f", str(manifest), "--state", etcd_state,
                                     "--inventory", str(lab.inventory)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        a.wait_line(f"{pre}: batch 1 of 3: 1/3 updated", 30)  # the next batch waits 3 s: it is due while paused
        a.proc.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        b.wait_line("leading ", TTL + 5)
        b.wait_line(f"{pre}: rollout complete: 3 replica(s) at revision 2", 60)
        assert time.monotonic() - paused > TTL + 1
        time.sleep(1)  # the new leader's last actions are over
        resumed = time.time()
        a.proc.send_signal(signal.SIGCONT)
        a.wait_line("lost the lead", 15)
        a.wait_line("standing by again", 15)
        time.sleep(TTL + 1)
        acted = engine_actions(lab, pre, resumed, time.time())
        assert acted == [], (acted, a.text())  # nothing the old leader meant to do reached an engine
        found = sorted((c["Labels"].get(LABEL_SLOT), c["Labels"].get(LABEL_REVISION), c["State"])
                       for cs in owned(lab, pre).values() for c in cs)
        assert found == [(str(slot), "2", "running") for slot in (1, 2, 3)], found
        applying.wait(30)
    finally:
        for c in (a, b):
            if c.proc.poll() is None:
                c.proc.send_signal(signal.SIGCONT)
            c.stop()
        cleanup(lab, pre)


def test_quorum_lost_the_controllers_stop_acting_and_resume_when_it_returns(lab, etcd_state, tmp_path):
    from labparts import etcd as lab_etcd

    pre = prefix()
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SERVICE.format(name=pre, tag=0).replace("replicas: 3", "replicas: 2"))
    a = Controller(lab, etcd_state, tmp_path / "a.log")
    a.wait_line("listening", 60)
    b = Controller(lab, etcd_state, tmp_path / "b.log")
    b.wait_line("standby", 30)
    members = lab_etcd.members(lab.dir)
    try:
        code, out, err = cli(lab, etcd_state, "apply", "-f", str(manifest))
        assert code == 0, out + err
        lab_etcd.kill_member(members[0])  # one member of three: everything works
        code, out, err = cli(lab, etcd_state, "scale", f"{pre}=3")
        assert code == 0 and f"running: {pre}.3" in out, out + err
        lab_etcd.kill_member(members[1])  # two: no quorum
        lost_at = time.monotonic()
        a.wait_line("lost the lead", TTL + 10)
        a.wait_line("waiting for etcd", 30)
        print(f"quorum lost -> the leader stopped acting after {time.monotonic() - lost_at:.1f} s")
        code, out, err = cli(lab, etcd_state, "scale", f"{pre}=1", timeout=60)
        assert code == 1 and "etcd" in err and "Traceback" not in err, out + err
        code, out, err = cli(lab, etcd_state, "get", "replicas", timeout=60)  # the last state, read-only
        assert f"{pre}.3" in out, out + err
        assert sum(len(cs) for cs in owned(lab, pre).values()) == 3  # nothing was done meanwhile
        lab_etcd.launch(lab.dir)
        lab_etcd.wait_healthy(lab.dir)
        back = time.monotonic()
        deadline = back + 30
        while time.monotonic() < deadline and "listening" not in a.text().split("lost the lead")[-1] + b.text():
            time.sleep(0.1)
        print(f"quorum back -> a controller leads and listens after {time.monotonic() - back:.1f} s")
        code, out, err = cli(lab, etcd_state, "scale", f"{pre}=1")
        assert code == 0, out + err
        assert sum(len(cs) for cs in owned(lab, pre).values()) == 1
    finally:
        lab_etcd.launch(lab.dir)
        lab_etcd.wait_healthy(lab.dir)
        a.stop()
        b.stop()
        cleanup(lab, pre)
