"""Where the lab lives: its folder, its nodes' addresses, sockets and files."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path


DEFAULT_LAB_DIR = "/tmp/tui-orch-lab"
SSH_PORT = 2222
SSH_USER = "root"
DEFAULT_NODES = 3
INSTALL_HINT = "install docker.io openssh-server busybox-static (tests/lab/install-packages.sh)"
IMAGE_REPO = "tuiorch/busybox"
IMAGE_VERSIONS = ("1", "2")
APPLETS = (
    "sh", "httpd", "sleep", "echo", "cat", "ls", "ps", "wget", "kill", "true", "false", "env",
    "date", "mkdir", "rm", "touch", "test", "[", "grep", "head", "tail", "wc", "printf", "seq",
    "id", "hostname", "nproc", "free", "dd", "yes", "timeout", "uname", "nc", "chmod",
)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FIXED_MTIME = 1_700_000_000  # image layers are reproducible: same image ID on every engine
ENGINE_STOP_TIMEOUT = 30.0
LAB_SUBNET = "10.77.0"  # the isolated lab bridge's /24 (labparts/netns.py)
CLIENT_NETNS = "tuiorch-client"
CLIENT_ADDRESS = f"{LAB_SUBNET}.254"  # dockerd stops its containers first (10 s each, in parallel)


class LabError(Exception):
    """The lab cannot do what was asked; the message is one sentence saying what to do."""


# --------------------------------------------------------------------------------------
# Layout: where everything lives (no side effects)


@dataclass
class NodeLab:
    name: str
    index: int
    address: str
    port: int
    user: str
    dir: Path
    socket: Path  # the engine's API socket, as the node's sshd sees it
    host_key: Path
    sshd_config: Path
    sshd_pid_file: Path
    dockerd_pid_file: Path
    containerd_pid_file: Path
    containerd_socket: Path
    labels: dict = field(default_factory=dict)

    @property
    def host_key_pub(self) -> Path:
        return Path(str(self.host_key) + ".pub")

    @property
    def netns(self) -> str:
        """The node's network namespace (labparts/netns.py): its engine, containers and sshd."""
        return f"tuiorch-{self.name}"

    @property
    def lab_address(self) -> str:
        """The node's address on the lab bridge: where other nodes and clients reach it."""
        return f"{LAB_SUBNET}.{self.index + 1}"

    @property
    def docker_host(self) -> str:
        return "unix://" + str(self.socket)

    @property
    def data_root(self) -> Path:
        return self.dir / "data"

    @property
    def exec_root(self) -> Path:
        return self.dir / "exec"


@dataclass
class Lab:
    dir: Path
    nodes: list  # list[NodeLab]
    client_key: Path
    known_hosts: Path
    authorized_keys: Path
    inventory: Path

    @property
    def client_key_pub(self) -> Path:
        return Path(str(self.client_key) + ".pub")

    def node(self, which: "str | int | NodeLab") -> NodeLab:
        """A node by name ('node2'), by number (2) or itself."""
        if isinstance(which, NodeLab):
            return which
        for node in self.nodes:
            if which in (node.name, node.index):
                return node
        raise LabError(f"the lab has no node {which!r} (nodes: {', '.join(n.name for n in self.nodes)})")

    # fault helpers, by node name, number or NodeLab
    def kill_sshd(self, which: "str | int | NodeLab") -> None:
        from labparts.sshd import kill_sshd  # imported here: labparts.sshd imports this module

        kill_sshd(self.node(which))

    def start_sshd(self, which: "str | int | NodeLab") -> None:
        from labparts.sshd import start_sshd  # imported here: labparts.sshd imports this module

        start_sshd(self.node(which))

    def kill_node(self, which: "str | int | NodeLab") -> None:
        from labparts.lifecycle import kill_node  # imported here: labparts.lifecycle imports this module

        kill_node(self.node(which))

    client_address: str = CLIENT_ADDRESS

    def inside(self, where: "str | int | NodeLab" = "client", threads: int = 16):
        """A context manager: a pool whose threads live in the client's network namespace (or a
        node's): ``with lab.inside() as client: client.call(urlopen, url)``."""
        from labparts.netns import inside  # imported here: labparts.netns imports this module

        return inside(CLIENT_NETNS if where == "client" else self.node(where).netns, threads)

    @property
    def etcd_endpoints(self) -> "list[str]":
        """The client URLs of the lab's three etcd members (labparts/etcd.py)."""
        from labparts.etcd import endpoints  # imported here: labparts.etcd imports this module

        return endpoints(self.dir)

    def etcd_members(self) -> list:
        from labparts.etcd import members

        return members(self.dir)

    def start_node(self, which: "str | int | NodeLab") -> None:
        from labparts.lifecycle import start_node  # imported here: labparts.lifecycle imports this module

        start_node(self.node(which))


def lab_dir(labdir: "str | os.PathLike[str] | None" = None) -> Path:
    value = labdir or os.environ.get("TUI_ORCH_LAB_DIR") or DEFAULT_LAB_DIR
    return Path(os.path.abspath(os.path.expanduser(str(value))))


def _labels(i: int) -> dict:
    zone = "abcdefghijklmnopqrstuvwxyz"[(i - 1) % 26]
    return {"zone": zone, "disk": "hdd" if i % 3 == 0 else "ssd"}


def node_layout(labdir: Path, i: int) -> NodeLab:
    d = labdir / f"node{i}"
    return NodeLab(
        name=f"node{i}",
        index=i,
        address=f"127.0.0.{i + 1}",
        port=SSH_PORT,
        user=SSH_USER,
        dir=d,
        socket=d / "docker.sock",
        host_key=d / "ssh_host_ed25519_key",
        sshd_config=d / "sshd_config",
        sshd_pid_file=d / "sshd.pid",
        dockerd_pid_file=d / "dockerd.pid",
        containerd_pid_file=d / "containerd.pid",
        containerd_socket=d / "containerd" / "containerd.sock",
        labels=_labels(i),
    )


def _existing_nodes(labdir: Path) -> int:
    n = 0
    while (labdir / f"node{n + 1}").is_dir():
        n += 1
    return n


def layout(n: "int | None" = None, labdir: "str | os.PathLike[str] | None" = None) -> Lab:
    """The lab's paths for n nodes (default: the nodes already in the lab dir, else 3)."""
    d = lab_dir(labdir)
    if n is None:
        n = _existing_nodes(d) or DEFAULT_NODES
    if not 1 <= n <= 250:
        raise LabError(f"--nodes must be between 1 and 250, not {n}")
    return Lab(
        dir=d,
        nodes=[node_layout(d, i) for i in range(1, n + 1)],
        client_key=d / "client_key",
        known_hosts=d / "known_hosts",
        authorized_keys=d / "authorized_keys",
        inventory=d / "inventory.yaml",
    )


def _as_lab(lab: "Lab | str | os.PathLike[str] | None", n: "int | None" = None) -> Lab:
    return lab if isinstance(lab, Lab) else layout(n, lab)


# --------------------------------------------------------------------------------------
# Processes: found only through their pid files, checked against their command line
