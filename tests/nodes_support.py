"""Helpers for the tests of tui_orch.nodes against the lab: specs, nodes, labelled
containers that are always removed, direct engine clients for what a test does behind the
console's back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncssh
import docker
import docker.errors
import pytest

from tui_orch.inventory import load_inventory
from tui_orch.model import NodeSpec, NodeState
from tui_orch.nodes.base import LABEL_SERVICE, ContainerRequest, DockerEvent, Node
from tui_orch.nodes.remote import RemoteNode

IMAGE = "tuiorch/busybox:1"
TEST_LABEL = "tui-orch.test-run"  # every container a test creates carries it; cleanup uses it


def specs(lab) -> dict[str, NodeSpec]:
    return {spec.name: spec for spec in load_inventory(lab.inventory).nodes}


def fingerprint_of(pub_file) -> str:
    """SHA256:... as ssh-keygen -l prints it."""
    out = subprocess.run(["ssh-keygen", "-lf", str(pub_file)], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def direct_client(lab_node) -> docker.DockerClient:
    """The engine's own socket, behind the console's back (for setup and checks)."""
    return docker.DockerClient(base_url=lab_node.docker_host, timeout=30)


def each_client(lab) -> Iterator[tuple[Any, docker.DockerClient]]:  # type: ignore[no-untyped-def]
    """Each lab node with a direct client of its engine (closed once the next is asked for)."""
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            yield lab_node, client
        finally:
            client.close()


async def lab_connect(lab, node, known_hosts: str | None = None) -> asyncssh.SSHClientConnection:
    """An asyncssh connection to a lab node with host-key checking on, seeing only the lab's
    settings (not ~/.ssh/config, not an agent)."""
    return await asyncio.wait_for(
        asyncssh.connect(node.address, port=node.port, username=node.user,
                         known_hosts=known_hosts or str(lab.known_hosts),
                         client_keys=[str(lab.client_key)], agent_path=None, config=None),
        timeout=20,
    )


@contextlib.asynccontextmanager
async def engine_through_ssh(lab, node, timeout: float = 30) -> AsyncIterator[docker.DockerClient]:
    """A docker-py client for node's engine through its sshd, as the console reaches it:
    asyncssh + forward_local_path + a client on the local socket (in a 0700 folder)."""
    folder = tempfile.mkdtemp(prefix="tuiorch-test-")  # 0700, and short enough for a socket
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    local = os.path.join(folder, "docker.sock")
    try:
        conn = await lab_connect(lab, node)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    client = None
    try:
        listener = await conn.forward_local_path(local, str(node.socket))
        try:
            client = await asyncio.to_thread(docker.DockerClient, base_url="unix://" + local, timeout=timeout)
            yield client
        finally:
            if client is not None:
                await asyncio.to_thread(client.close)
            listener.close()
    finally:
        conn.close()
        await conn.wait_closed()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def started(node: Node, *want: NodeState, timeout: float = 30) -> AsyncIterator[Node]:
    """Start a node, wait for one of the wanted states (Ready by default), close it after."""
    try:
        await node.start()
        await node.wait_state(*(want or (NodeState.READY,)), timeout=timeout)
        yield node
    finally:
        await node.close()


class Containers:
    """Names and labels for one test's containers, and their removal on every node."""

    def __init__(self, lab):
        self.lab = lab
        self.run = uuid.uuid4().hex[:8]
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f"tuiorch-test-{self.run}-{self.count}"

    def labels(self, service: str = "svc", **more: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted({LABEL_SERVICE: service, TEST_LABEL: self.run, **more}.items()))

    def request(self, command: list[str] | None = None, **fields) -> ContainerRequest:
        fields.setdefault("name", self.name())
        fields.setdefault("image", IMAGE)
        fields.setdefault("labels", self.labels())
        fields.setdefault("network_mode", "host")
        return ContainerRequest(command=tuple(command) if command else None, **fields)

    def cleanup(self) -> None:
        """Remove this test's containers on every lab node (a few tries: an engine may be
        busy); what cannot be removed is reported, not hidden."""
        problems = []
        for lab_node in self.lab.nodes:
            for attempt in range(3):
                try:
                    client = direct_client(lab_node)
                    try:
                        found = client.api.containers(all=True, filters={"label": f"{TEST_LABEL}={self.run}"})
                        found += client.api.containers(all=True, filters={"name": f"tuiorch-test-{self.run}-"})
                        for c in found:
                            with contextlib.suppress(docker.errors.NotFound):
                                client.api.remove_container(c["Id"], force=True)
                    finally:
                        client.close()
                    break
                except Exception as exc:  # noqa: BLE001 - reported below
                    if attempt == 2:
                        problems.append(f"{lab_node.name}: {exc}")
                    time.sleep(1)
        if problems:
            warnings.warn("test containers left behind: " + "; ".join(problems), stacklevel=1)


@pytest.fixture
def containers(lab) -> Iterator[Containers]:
    made = Containers(lab)
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
async def node1(lab) -> AsyncIterator[RemoteNode]:
    async with started(RemoteNode(specs(lab)["node1"])) as node:
        yield node  # type: ignore[misc]


async def next_event(node: Node, container_id: str, action: str, timeout: float = 10) -> DockerEvent:
    """The next event of that container with that action (others are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await node.events.get()
            if event.container_id == container_id and event.action == action:
                return event


async def wait_for(predicate, timeout: float = 10, interval: float = 0.05) -> float:
    """Poll until predicate() is true; returns the seconds it took."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not true within {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - t0


# --------------------------------------------------------------------------- host processes


def _hex_addr(ip: str, port: int) -> str:
    packed = bytes(int(p) for p in ip.split("."))[::-1]
    return f"{packed.hex().upper()}:{port:04X}"


def sshd_pids_of(conn) -> list[int]:
    """The sshd processes on the host side of one SSH connection (lab: same machine)."""
    client_ip, client_port = conn.get_extra_info("sockname")[:2]
    server_ip, server_port = conn.get_extra_info("peername")[:2]
    want_local, want_remote = _hex_addr(server_ip, server_port), _hex_addr(client_ip, client_port)
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want_local and fields[2] == want_remote:
                inodes.add(f"socket:[{fields[9]}]")
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                pids.append(int(pid))
        except OSError:
            continue
    return pids


def descendants(pids: list[int]) -> list[int]:
    tree: dict[int, list[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(pid))
    out, todo = [], list(pids)
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def remove_volumes(lab, *names: str) -> None:
    """Remove the named volumes from every lab node (those a test's replicas made)."""
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for name in names:
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    client.api.remove_volume(name, force=True)
        finally:
            client.close()


# --------------------------------------------------------------------------------------
# The lab's network (tests/lab/labparts/netns.py): every node in a network namespace of its own,
# a client namespace beside them. A test reaches a replica as a client would: from there.

_INSIDE: dict[str, object] = {}


def inside(lab, where="client"):
    """A pool of threads living in the client's namespace (or a node's: name, number or NodeLab),
    kept for the session: ``inside(lab).call(fn, ...)`` runs fn there."""
    name = "client" if where == "client" else lab.node(where).name
    if name not in _INSIDE:
        manager = lab.inside(where)  # kept: its pool closes when the manager is collected
        _INSIDE[name] = (manager, manager.__enter__())
    return _INSIDE[name][1]


def lab_address(lab, node: str) -> str:
    """The node's address on the lab network (where clients and other nodes reach it)."""
    return lab.node(node).lab_address


def _get(url: str, timeout: float) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, str(exc)
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def http_get(lab, url: str, where="client", timeout: float = 2) -> tuple[int, str]:
    """GET url from the client namespace (or a node's): (status, body), status 0 when nothing answered."""
    return inside(lab, where).call(_get, url, timeout)
