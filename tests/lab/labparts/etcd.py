"""The lab's etcd: a three-member cluster from Debian's etcd-server, on loopback addresses of
its own (127.0.1.1-3, client port 2379, peer port 2380), data under LABDIR/etcd/, owned and
stopped by the lab like the nodes (found through pid files, checked against /proc). Tests may
kill and restart members (kill_member, start_members)."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from labparts.layout import LabError, SYSTEM_PATH
from labparts.processes import _alive, _log_tail, _owned_pid, _signal, _spawn, _terminate, _wait_gone

MEMBERS = 3
CLIENT_PORT = 2379
PEER_PORT = 2380
CLUSTER_TOKEN = "tui-orch-lab"
HINT = "install etcd-server (tests/lab/install-packages.sh)"


@dataclass(frozen=True)
class EtcdMember:
    name: str
    address: str
    dir: Path

    @property
    def client_url(self) -> str:
        return f"http://{self.address}:{CLIENT_PORT}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.address}:{PEER_PORT}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def pid_file(self) -> Path:
        return self.dir / "etcd.pid"

    @property
    def log(self) -> Path:
        return self.dir / "etcd.log"


def members(labdir: Path) -> "list[EtcdMember]":
    return [EtcdMember(f"etcd{i}", f"127.0.1.{i}", labdir / "etcd" / f"etcd{i}") for i in range(1, MEMBERS + 1)]


def endpoints(labdir: Path) -> "list[str]":
    return [m.client_url for m in members(labdir)]


def member_pid(member: EtcdMember) -> "int | None":
    return _owned_pid(member.pid_file, str(member.data_dir))


def healthy(member: EtcdMember, timeout: float = 1.0) -> bool:
    """The member answers and the cluster has a leader (etcd's /health)."""
    try:
        with urllib.request.urlopen(f"{member.client_url}/health", timeout=timeout) as r:
            return json.loads(r.read()).get("health") == "true"
    except (OSError, ValueError):
        return False


def launch(labdir: Path, which: "list[EtcdMember] | None" = None) -> "list[EtcdMember]":
    """Start the members that do not run (all, or ``which``); returns those started. Does
    not wait: ``wait_healthy`` does."""
    etcd = shutil.which("etcd", path=SYSTEM_PATH)
    if etcd is None:
        raise LabError(f"etcd is not installed; {HINT}")
    everyone = members(labdir)
    cluster = ",".join(f"{m.name}={m.peer_url}" for m in everyone)
    started = []
    for member in which or everyone:
        if member_pid(member):
            continue
        member.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not (member.data_dir / "member").is_dir()
        argv = [etcd, "--name", member.name, "--data-dir", str(member.data_dir),
                "--listen-client-urls", member.client_url, "--advertise-client-urls", member.client_url,
                "--listen-peer-urls", member.peer_url, "--initial-advertise-peer-urls", member.peer_url,
                "--initial-cluster", cluster, "--initial-cluster-token", CLUSTER_TOKEN,
                "--initial-cluster-state", "new" if fresh else "existing",
                "--heartbeat-interval", "50", "--election-timeout", "500", "--logger", "zap",
                "--log-outputs", "stderr", "--snapshot-count", "10000",
                # keep the newest 10,000 revisions: the tests' and benchmarks' writes do not grow the
                # database for the lab's lifetime (a watch behind that reads the state again)
                "--auto-compaction-mode", "revision", "--auto-compaction-retention", "10000"]
        pid = _spawn(argv, member.log)
        member.pid_file.write_text(f"{pid}\n")
        started.append(member)
    return started


def wait_healthy(labdir: Path, timeout: float = 30, which: "list[EtcdMember] | None" = None) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(which or members(labdir))
    while waiting:
        waiting = [m for m in waiting if not healthy(m)]
        if not waiting:
            return
        for m in waiting:
            pid = member_pid(m)
            if not pid:
                raise LabError(f"{m.name}: etcd exited: {_log_tail(m.log)}")
        if time.monotonic() > deadline:
            raise LabError("etcd not healthy within %.0f s: " % timeout +
                           "; ".join(f"{m.name} ({m.client_url}): {_log_tail(m.log, 2)}" for m in waiting))
        time.sleep(0.1)


def kill_member(member: EtcdMember) -> None:
    """SIGKILL one member (a crash); its data stays, ``launch`` brings it back."""
    pid = member_pid(member)
    if pid:
        _signal(pid, signal.SIGKILL)
        _wait_gone([pid], 10)


def stop(labdir: Path, timeout: float = 10) -> None:
    pids = [p for p in (member_pid(m) for m in members(labdir)) if p]
    if pids:
        _terminate(pids, timeout)


def problems(labdir: Path) -> "list[str]":
    if shutil.which("etcd", path=SYSTEM_PATH) is None:
        return [f"etcd is not installed; {HINT}"]
    out = []
    for m in members(labdir):
        if not member_pid(m):
            out.append(f"{m.name}: etcd is not running")
        elif not healthy(m):
            out.append(f"{m.name}: etcd does not answer healthy on {m.client_url}")
    return out


def reset(labdir: Path) -> None:
    """Stop the members and remove their data (a fresh cluster on the next launch)."""
    stop(labdir)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(labdir / "etcd")
