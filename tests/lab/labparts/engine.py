"""Each node's containerd + Docker Engine: its API over the socket, start, stop."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import re
import shutil
import signal
import socket
import time
from pathlib import Path

from labparts.layout import ENGINE_STOP_TIMEOUT, LabError, NodeLab, SYSTEM_PATH
from labparts.netns import in_netns_argv, node_netns
from labparts.processes import (
    _alive, _cmdline, _engine_env, _log_tail, _owned_pid, _read_pid, _signal, _spawn, _terminate, _wait_gone,
    _write,
)
from labparts.sshd import kill_sshd


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def docker_api(sock: Path, method: str, path: str, body: "bytes | None" = None,
               content_type: str = "application/json", timeout: float = 10) -> "tuple[int, bytes]":
    conn = _UnixHTTPConnection(sock, timeout)
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def engine_ping(node: NodeLab, timeout: float = 2) -> bool:
    try:
        status, body = docker_api(node.socket, "GET", "/_ping", timeout=timeout)
    except OSError:
        return False
    return status == 200 and body.strip() == b"OK"


def engine_info(node: NodeLab) -> dict:
    status, body = docker_api(node.socket, "GET", "/info")
    if status != 200:
        raise LabError(f"{node.name}: GET /info answered {status}: {body[:200]!r}")
    return json.loads(body)


def _containerd_pid(node: NodeLab) -> "int | None":
    return _owned_pid(node.containerd_pid_file, str(node.containerd_socket.parent / "config.toml"))


def _dockerd_pid(node: NodeLab) -> "int | None":
    return _owned_pid(node.dockerd_pid_file, str(node.socket))


def _socket_accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def _start_containerd(node: NodeLab, timeout: float) -> bool:
    if _containerd_pid(node):
        return False
    cd = node.containerd_socket.parent
    pid = _spawn(in_netns_argv(node_netns(node), [shutil.which("containerd", path=SYSTEM_PATH) or "containerd",
                                                  "--config", str(cd / "config.toml")]), node.dir / "containerd.log")
    _write(node.containerd_pid_file, f"{pid}\n")
    deadline = time.monotonic() + timeout
    while not _socket_accepts(node.containerd_socket):
        if not _alive(pid):
            raise LabError(f"{node.name}: containerd exited: {_log_tail(node.dir / 'containerd.log')}")
        if time.monotonic() > deadline:
            raise LabError(f"{node.name}: containerd did not answer within {timeout:.0f} s: "
                           f"{_log_tail(node.dir / 'containerd.log')}")
        time.sleep(0.05)
    return True


def _dockerd_argv(node: NodeLab) -> "list[str]":
    # inside the node's network namespace: its own docker0 bridge, iptables and published
    # ports, as on a separate host (containerd too: a host-network container is in its namespace)
    return in_netns_argv(node_netns(node), [
        shutil.which("dockerd", path=SYSTEM_PATH) or "dockerd",
        "--config-file", str(node.dir / "daemon.json"),
        "--host", node.docker_host,
        "--data-root", str(node.data_root),
        "--exec-root", str(node.exec_root),
        "--pidfile", str(node.dockerd_pid_file),
        "--containerd", str(node.containerd_socket),
        "--ip6tables=false", "--userland-proxy=false",
    ])


def _launch_dockerd(node: NodeLab) -> "int | None":
    """Start the engine unless it runs; returns the new pid, or None when it already ran."""
    if _dockerd_pid(node):
        return None
    with contextlib.suppress(FileNotFoundError):
        node.dockerd_pid_file.unlink()  # stale: dockerd refuses to start over it
    return _spawn(_dockerd_argv(node), node.dir / "dockerd.log", env=_engine_env())


def _shim_dirs(node: NodeLab) -> "list[Path]":
    root = node.containerd_socket.parent / "state" / "io.containerd.runtime.v2.task"
    return [d for d in root.glob("*/*") if d.is_dir()]


def _container_pids(node: NodeLab) -> "list[int]":
    """This engine's running containers (their init, from the runtime's init.pid files)
    and the shim that holds each (the init's parent), each checked against its id."""
    pids = []
    for bundle in _shim_dirs(node):
        cid = bundle.name
        init = _read_pid(bundle / "init.pid")
        if not init or not _alive(init):
            continue
        try:
            in_container = cid in Path(f"/proc/{init}/cgroup").read_text()
            shim = int(Path(f"/proc/{init}/stat").read_text().rsplit(")", 1)[-1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if in_container:
            pids.append(init)
            if shim > 1 and cid in _cmdline(shim):
                pids.append(shim)
    return pids


def _unmount_under(path: Path) -> None:
    """Lazily unmount what the node's engine left mounted under its folder (container
    root filesystems, network namespaces), as a reboot would. Only after it exited."""
    prefix = str(path).rstrip("/") + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point.startswith(prefix):
                points.append(point)
    if not points:
        return
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    for point in sorted(set(points), key=len, reverse=True):
        libc.umount2(point.encode(), 2)  # MNT_DETACH; a failure leaves it for dockerd


def _stop_node_parts(node: NodeLab, hard: bool, timeout: float = ENGINE_STOP_TIMEOUT) -> None:
    kill_sshd(node)
    for getter, wait in ((_dockerd_pid, timeout), (_containerd_pid, 15.0)):
        pid = getter(node)
        if not pid:
            continue
        if hard:
            _signal(pid, signal.SIGKILL)
            _wait_gone([pid], 10)
        else:
            _terminate([pid], wait)
    leftovers = _container_pids(node)  # none after a clean engine shutdown
    for pid in leftovers:
        _signal(pid, signal.SIGKILL)
    _wait_gone(leftovers, 10)
    with contextlib.suppress(FileNotFoundError):
        node.containerd_pid_file.unlink()
    if not (_dockerd_pid(node) or _containerd_pid(node)):
        _unmount_under(node.dir)


# --------------------------------------------------------------------------------------
# The public API
