"""Each node's OpenSSH server: is it answering, start it."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from labparts.layout import LabError, NodeLab, SYSTEM_PATH
from labparts.netns import netns_path, node_netns
from labparts.processes import _alive, _descendants, _log_tail, _owned_pid, _signal, _spawn, _wait_gone


def sshd_accepts(node: NodeLab, timeout: float = 2) -> bool:
    try:
        with socket.create_connection((node.address, node.port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


# --------------------------------------------------------------------------------------
# The busybox image, built here (no registry) as a `docker save` archive


def _sshd_pid(node: NodeLab) -> "int | None":
    return _owned_pid(node.sshd_pid_file, str(node.sshd_config))


def _launch_sshd(node: NodeLab) -> bool:
    """The node's sshd: a gate on node.address:node.port (this machine's namespace) that serves
    each connection with `sshd -i` inside the node's network namespace (labparts/sshgate.py)."""
    if _sshd_pid(node):
        return False
    with contextlib.suppress(FileNotFoundError):
        node.sshd_pid_file.unlink()
    sshd = shutil.which("sshd", path=SYSTEM_PATH) or "/usr/sbin/sshd"
    log = node.dir / "sshd.log"
    gate = [sys.executable, str(Path(__file__).with_name("sshgate.py")), node.address, str(node.port),
            str(netns_path(node_netns(node))), str(node.sshd_pid_file), "--",
            sshd, "-i", "-f", str(node.sshd_config), "-E", str(log)]
    pid = _spawn(gate, log)
    deadline = time.monotonic() + 10  # it writes its pid file once it listens
    while not _sshd_pid(node):
        if not _alive(pid) or time.monotonic() > deadline:
            raise LabError(f"{node.name}: sshd did not start listening on {node.address}:{node.port}: "
                           f"{_log_tail(log)}")
        time.sleep(0.02)
    return True


def kill_sshd(node: NodeLab) -> None:
    """'Network cut': kill this node's sshd and every SSH connection it serves (SIGKILL);
    the engine keeps running."""
    pid = _sshd_pid(node)
    if not pid:
        return
    victims = [pid] + _descendants(pid)
    for p in victims:
        _signal(p, signal.SIGKILL)
    _wait_gone(victims, 10)
    with contextlib.suppress(FileNotFoundError):
        node.sshd_pid_file.unlink()


def start_sshd(node: NodeLab, timeout: float = 30) -> None:
    """Start this node's sshd again (no-op when it runs); returns once it accepts."""
    _launch_sshd(node)
    deadline = time.monotonic() + timeout
    while not sshd_accepts(node, timeout=1):
        if time.monotonic() > deadline:
            raise LabError(f"{node.name}: sshd does not accept on {node.address}:{node.port}: "
                           f"{_log_tail(node.dir / 'sshd.log')}")
        time.sleep(0.05)
