"""The lab's network: each node in a network namespace of its own, joined by an isolated bridge.

    netns tuiorch-hub      bridge tlbr0 (no address, no uplink: nothing leaves the namespaces)
      |- v1 <-> eth0 of netns tuiorch-node1   10.77.0.2/24   (node1's containerd, dockerd, sshd)
      |- v2 <-> eth0 of netns tuiorch-node2   10.77.0.3/24
      |- ...
      '- vc <-> eth0 of netns tuiorch-client  10.77.0.254/24 (where tests run their clients)

Each node's engine runs inside its namespace with its own bridge (docker0) and iptables, so
published ports, networks and DNS behave as on separate hosts. The machine's own interfaces,
routes and firewall are never touched: every link is made inside a lab namespace (the veth is
created in the hub and its other end moved into the node's namespace at once).

The controller reaches a node's sshd on 127.0.0.(N+1):2222 in the machine's namespace (see
labparts/sshgate.py), and its engine socket is a file: both as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

from labparts.layout import CLIENT_ADDRESS, CLIENT_NETNS as CLIENT, LabError, NodeLab, SYSTEM_PATH

HUB = "tuiorch-hub"
BRIDGE = "tlbr0"
PREFIX = 24
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000


def node_netns(node: NodeLab) -> str:
    return node.netns


def netns_path(name: str) -> Path:
    return NETNS_DIR / name


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    ip = shutil.which("ip", path=SYSTEM_PATH) or "ip"
    done = subprocess.run([ip, *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise LabError(f"`ip {' '.join(args)}` failed: {done.stderr.strip() or done.stdout.strip()} "
                       "(the lab needs iproute2 and root)")
    return done


def _exists(name: str) -> bool:
    return netns_path(name).exists()


def _link_exists(ns: str, link: str) -> bool:
    return _ip("-n", ns, "link", "show", link, check=False).returncode == 0


def _ensure_hub() -> None:
    if not _exists(HUB):
        _ip("netns", "add", HUB)
    _ip("-n", HUB, "link", "set", "lo", "up")
    if not _link_exists(HUB, BRIDGE):
        _ip("-n", HUB, "link", "add", BRIDGE, "type", "bridge")
    _ip("-n", HUB, "link", "set", BRIDGE, "up")


def _ensure_member(ns: str, port: str, address: str) -> None:
    """Namespace ns with eth0 at address, its peer `port` on the hub's bridge."""
    if not _exists(ns):
        _ip("netns", "add", ns)
    _ip("-n", ns, "link", "set", "lo", "up")
    if not _link_exists(ns, "eth0"):
        with contextlib.suppress(LabError):  # a stale hub end of a namespace deleted by hand
            _ip("-n", HUB, "link", "del", port)
        _ip("-n", HUB, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
    _ip("-n", HUB, "link", "set", port, "master", BRIDGE, "up")
    if address not in _ip("-n", ns, "-4", "addr", "show", "dev", "eth0").stdout:
        _ip("-n", ns, "addr", "add", f"{address}/{PREFIX}", "dev", "eth0")
    _ip("-n", ns, "link", "set", "eth0", "up")


def ensure_network(nodes: "list[NodeLab]") -> None:
    """The hub, the client namespace and these nodes' namespaces (what exists is kept)."""
    _ensure_hub()
    _ensure_member(CLIENT, "vc", CLIENT_ADDRESS)
    for node in nodes:
        _ensure_member(node_netns(node), f"v{node.index}", node.lab_address)


def set_link(node: NodeLab, up: bool) -> None:
    """The node's cable: down as in a power loss (nothing answers, not even a reset), or up."""
    if _exists(node_netns(node)):
        _ip("-n", node_netns(node), "link", "set", "eth0", "up" if up else "down")


def remove_network(nodes: "list[NodeLab]") -> None:
    """Delete the lab's namespaces (their links go with them); only the lab's own names."""
    for name in [node_netns(n) for n in nodes] + [CLIENT, HUB]:
        if _exists(name):
            _ip("netns", "del", name, check=False)


def network_problems(nodes: "list[NodeLab]") -> "list[str]":
    missing = [n for n in [HUB, CLIENT] + [node_netns(n) for n in nodes] if not _exists(n)]
    return [f"network namespace {name} is missing" for name in missing]


def in_netns_argv(name: str, argv: "list[str]") -> "list[str]":
    """argv run inside namespace `name` (only the network namespace changes; nsenter execs, so
    the pid is the program's own)."""
    nsenter = shutil.which("nsenter", path=SYSTEM_PATH) or "nsenter"
    return [nsenter, f"--net={netns_path(name)}", "--", *argv]


# --------------------------------------------------------------------------------------
# Running Python code inside a namespace: setns() moves only the calling thread, and a socket
# keeps the namespace it was made in; so a pool of threads that entered the namespace once.

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def enter(name: str) -> None:
    """Move the calling thread into namespace `name`."""
    fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LabError(f"could not enter network namespace {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


class Inside:
    """Calls run in threads that live inside one namespace: ``client.call(fn, *args)``."""

    def __init__(self, name: str, threads: int = 16):
        if not _exists(name):
            raise LabError(f"network namespace {name} is missing: start the lab (tests/lab/lab.py start)")
        self.name = name
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"netns-{name}",
                                        initializer=enter, initargs=(name,))
        self._lock = threading.Lock()

    def call(self, fn: "Callable[..., Any]", *args: Any, **kwargs: Any) -> Any:
        return self._pool.submit(fn, *args, **kwargs).result()

    def submit(self, fn: "Callable[..., Any]", *args: Any, **kwargs: Any):
        return self._pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def inside(name: str, threads: int = 16) -> Iterator[Inside]:
    pool = Inside(name, threads)
    try:
        yield pool
    finally:
        pool.close()
