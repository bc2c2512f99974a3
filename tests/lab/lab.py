#!/usr/bin/env python3
"""The tui-orch test lab: N real worker "nodes" on this machine.

Node N = its own containerd + Docker Engine (socket LABDIR/nodeN/docker.sock) and its own
OpenSSH server on 127.0.0.(N+1):2222 with its own ed25519 host key. The console reaches a
node only as it reaches a real server: SSH with a key and host-key checking on, then the
Docker API through a socket forwarded over that connection.

    python3 tests/lab/lab.py start [--nodes 3]   # idempotent; prints a summary
    python3 tests/lab/lab.py status              # exit 0 when every node is healthy
    python3 tests/lab/lab.py env                 # eval "$(python3 tests/lab/lab.py env)"
    python3 tests/lab/lab.py stop

The lab dir is /tmp/tui-orch-lab unless TUI_ORCH_LAB_DIR (or --lab-dir) says otherwise.
It needs root and the Debian packages docker.io openssh-server busybox-static
(tests/lab/install-packages.sh). The engines run with --bridge=none --iptables=false
--ip-masq=false --ip-forward=false: the lab sends traffic only to loopback, so containers
use host networking and bind 127.0.0.1.

From Python (the pytest fixture ``lab`` in tests/conftest.py uses this)::

    lab = start_lab(n=3)          # -> Lab(nodes=[NodeLab, ...], client_key, known_hosts, ...)
    kill_sshd(lab.nodes[2])       # "network cut": the engine keeps running
    start_sshd(lab.nodes[2])
    kill_node(lab.nodes[2])       # "node crash": sshd, engine and every container, SIGKILL
    start_node(lab.nodes[2])
    stop_lab(lab)

This file uses only the Python standard library: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

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
    "id", "hostname", "nproc", "free", "dd", "yes", "timeout", "uname", "nc",
)
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FIXED_MTIME = 1_700_000_000  # image layers are reproducible: same image ID on every engine
ENGINE_STOP_TIMEOUT = 30.0  # dockerd stops its containers first (10 s each, in parallel)


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
        kill_sshd(self.node(which))

    def start_sshd(self, which: "str | int | NodeLab") -> None:
        start_sshd(self.node(which))

    def kill_node(self, which: "str | int | NodeLab") -> None:
        kill_node(self.node(which))

    def start_node(self, which: "str | int | NodeLab") -> None:
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


def _read_pid(path: Path) -> "int | None":
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie counts as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _owned_pid(pid_file: Path, marker: str) -> "int | None":
    """The pid in pid_file when that process runs and is ours (marker in its command line)."""
    pid = _read_pid(pid_file)
    if pid and _alive(pid) and marker in _cmdline(pid):
        return pid
    return None


def _children() -> "dict[int, list[int]]":
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[-1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> "list[int]":
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: "list[int]", timeout: float) -> "list[int]":
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    return left


def _terminate(pids: "list[int]", timeout: float) -> None:
    """SIGTERM, wait up to timeout, then SIGKILL what is left and wait for it."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    left = _wait_gone(pids, timeout)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    left = _wait_gone(left, 10)
    if left:
        raise LabError(f"processes {left} did not exit even after SIGKILL")


def _clean_env() -> "dict[str, str]":
    # no NOTIFY_SOCKET, DOCKER_HOST, proxies or XDG_RUNTIME_DIR leak into the daemons
    return {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8"}


# The engines' registry client goes through a proxy on a closed loopback port: a pull of an
# image that is not there fails at once instead of reaching out to a public registry.
NO_REGISTRY_PROXY = "http://127.0.0.1:9"


def _engine_env() -> "dict[str, str]":
    env = _clean_env()
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[key] = NO_REGISTRY_PROXY
    return env


def _spawn(argv: "list[str]", log: Path, env: "dict[str, str] | None" = None) -> int:
    """Start a daemon detached (new session, reparented to init); returns its pid."""
    script = 'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    try:
        out = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(log), *argv],
            env=env or _clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            start_new_session=True, timeout=30, check=True,
        )
        return int(out.stdout.strip())
    except (subprocess.SubprocessError, ValueError) as exc:
        raise LabError(f"could not start {argv[0]}: {exc}")


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------------------
# The Docker API over a unix socket, with the standard library


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


def sshd_accepts(node: NodeLab, timeout: float = 2) -> bool:
    try:
        with socket.create_connection((node.address, node.port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-2.0-")
    except OSError:
        return False


# --------------------------------------------------------------------------------------
# The busybox image, built here (no registry) as a `docker save` archive


def _elf_is_static(path: Path) -> bool:
    """True when the ELF file has no PT_INTERP program header (no dynamic loader)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            return False
        is64, little = head[4] == 2, head[5] == 1
        end = "<" if little else ">"
        if is64:
            phoff, = struct.unpack(end + "Q", head[32:40])
            phentsize, phnum = struct.unpack(end + "HH", head[54:58])
        else:
            phoff, = struct.unpack(end + "I", head[28:32])
            phentsize, phnum = struct.unpack(end + "HH", head[42:46])
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, = struct.unpack(end + "I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def find_busybox() -> Path:
    for candidate in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox")):
        if candidate and os.path.isfile(candidate) and _elf_is_static(Path(candidate)):
            return Path(candidate)
    raise LabError(f"no statically linked busybox found: {INSTALL_HINT}")


def _tar(entries: "list[tuple[str, str, bytes | str, int]]") -> bytes:
    """A reproducible tar: (name, kind 'dir'|'file'|'link', data|target, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid = FIXED_MTIME, mode, 0, 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
                tar.addfile(info)
            else:
                payload = data if isinstance(data, bytes) else data.encode()
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _docker_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)


def build_image_archive(busybox: Path) -> "tuple[bytes, dict[str, str]]":
    """A `docker save`-format archive holding tuiorch/busybox:1 and :2 (a shared base
    layer with busybox, plus one small layer each with /VERSION and /www). Returns the
    archive and {tag: image id}; the ids are the same on every engine and every run."""
    binary = busybox.read_bytes()
    base = _tar(
        [("bin/", "dir", b"", 0o755), ("bin/busybox", "file", binary, 0o755)]
        + [(f"bin/{a}", "link", "busybox", 0o777) for a in APPLETS]
        + [("etc/", "dir", b"", 0o755),
           ("etc/passwd", "file", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644),
           ("etc/group", "file", "root:x:0:\nnogroup:x:65534:\n", 0o644),
           ("root/", "dir", b"", 0o700), ("tmp/", "dir", b"", 0o1777), ("www/", "dir", b"", 0o755)]
    )
    layers = {"base": base}
    for v in IMAGE_VERSIONS:
        html = f"<!doctype html>\n<title>tuiorch/busybox:{v}</title>\n<p>tuiorch/busybox version {v}</p>\n"
        layers[v] = _tar([
            ("VERSION", "file", f"{v}\n", 0o644),
            ("www/", "dir", b"", 0o755),
            ("www/index.html", "file", html, 0o644),
            ("www/VERSION", "file", f"{v}\n", 0o644),
        ])
    digest = {k: hashlib.sha256(t).hexdigest() for k, t in layers.items()}
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(FIXED_MTIME))
    files: list[tuple[str, bytes]] = [(f"{digest[k]}/layer.tar", t) for k, t in layers.items()]
    manifest, ids = [], {}
    for v in IMAGE_VERSIONS:
        config = {
            "architecture": _docker_arch(),
            "os": "linux",
            "created": created,
            "config": {
                "Env": ["PATH=/bin"],
                "Cmd": ["sh"],
                "WorkingDir": "/",
                "Labels": {"org.tui-orch.lab": "true", "org.tui-orch.lab.version": v},
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest['base']}", f"sha256:{digest[v]}"]},
            "history": [
                {"created": created, "created_by": f"tui-orch lab: static busybox ({len(binary)} bytes)"},
                {"created": created, "created_by": f"tui-orch lab: /VERSION {v}, /www"},
            ],
        }
        raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image_id = hashlib.sha256(raw).hexdigest()
        ids[f"{IMAGE_REPO}:{v}"] = "sha256:" + image_id
        files.append((f"{image_id}.json", raw))
        manifest.append({
            "Config": f"{image_id}.json",
            "RepoTags": [f"{IMAGE_REPO}:{v}"],
            "Layers": [f"{digest['base']}/layer.tar", f"{digest[v]}/layer.tar"],
        })
    files.append(("manifest.json", json.dumps(manifest, sort_keys=True).encode()))
    entries: list = []
    for name, data in files:
        if "/" in name:
            entries.append((name.split("/")[0] + "/", "dir", b"", 0o755))
        entries.append((name, "file", data, 0o644))
    return _tar(entries), ids


def _image_id(node: NodeLab, tag: str) -> "str | None":
    status, body = docker_api(node.socket, "GET", f"/images/{tag}/json")
    return json.loads(body).get("Id") if status == 200 else None


def ensure_images(node: NodeLab, archive: bytes, ids: "dict[str, str]") -> bool:
    """Load the lab images into node's engine unless already there; True when loaded."""
    if all(_image_id(node, tag) == image_id for tag, image_id in ids.items()):
        return False
    status, body = docker_api(node.socket, "POST", "/images/load?quiet=1", body=archive,
                              content_type="application/x-tar", timeout=120)
    errors = []
    for line in body.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("error"):
                errors.append(msg["error"])
    if status != 200 or errors:
        raise LabError(f"{node.name}: loading the lab images failed ({status}): {'; '.join(errors) or body[:200]!r}")
    missing = [tag for tag, image_id in ids.items() if _image_id(node, tag) != image_id]
    if missing:
        raise LabError(f"{node.name}: images {', '.join(missing)} are missing after loading them")
    return True


# --------------------------------------------------------------------------------------
# Setup: checks, keys, config files


def check_host() -> "dict[str, str]":
    """The programs the lab needs, or LabError saying what to install."""
    if os.geteuid() != 0:
        raise LabError("the lab must run as root (it starts dockerd and sshd): run it with sudo, "
                       "e.g. `sudo python3 tests/lab/lab.py start`")
    found = {}
    for prog in ("dockerd", "containerd", "containerd-shim-runc-v2", "runc", "sshd", "ssh-keygen"):
        path = shutil.which(prog, path=SYSTEM_PATH)
        if not path:
            raise LabError(f"{prog} is missing: {INSTALL_HINT}")
        found[prog] = path
    find_busybox()
    return found


def _keygen(path: Path, comment: str) -> None:
    if path.exists() and Path(str(path) + ".pub").exists():
        return
    for p in (path, Path(str(path) + ".pub")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    done = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                          env=_clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise LabError(f"ssh-keygen could not make {path}: {done.stderr.strip()}")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _check_paths(lab: Lab) -> None:
    for node in lab.nodes:
        for sock in (node.socket, node.containerd_socket):
            if len(str(sock)) > 100:
                raise LabError(f"{sock} is too long for a unix socket: use a shorter TUI_ORCH_LAB_DIR")
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(lab.dir)
        if st.st_uid != os.geteuid() or not stat.S_ISDIR(st.st_mode):
            raise LabError(f"{lab.dir} is not a folder of yours (a symlink, or another user's): "
                           "remove it or set TUI_ORCH_LAB_DIR")


def _prepare_dirs(lab: Lab) -> None:
    lab.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    for node in lab.nodes:
        for d in (node.dir, node.data_root, node.exec_root, node.containerd_socket.parent):
            d.mkdir(mode=0o711, parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir


def _write_node_configs(lab: Lab, node: NodeLab) -> None:
    cd = node.containerd_socket.parent
    _write(cd / "config.toml", "\n".join([
        "# written by tests/lab/lab.py: this node's own containerd",
        "version = 2",
        f'root = "{cd / "root"}"',
        f'state = "{cd / "state"}"',
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        f'  address = "{node.containerd_socket}"',
        "[debug]",
        '  address = ""',
        "[metrics]",
        '  address = ""',
        '[plugins."io.containerd.internal.v1.opt"]',
        f'  path = "{cd / "opt"}"',
        "",
    ]))
    # not /etc/docker/daemon.json; an engine ID of its own (else every engine shares
    # /etc/docker/key.json and reports the same ID)
    _write(node.dir / "daemon.json", json.dumps({"deprecated-key-path": str(node.dir / "key.json")}) + "\n")
    _write(node.sshd_config, "\n".join([
        "# written by tests/lab/lab.py",
        f"ListenAddress {node.address}:{node.port}",
        "AddressFamily inet",
        f"HostKey {node.host_key}",
        f"PidFile {node.sshd_pid_file}",
        f"AuthorizedKeysFile {lab.authorized_keys}",
        "AuthenticationMethods publickey",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "AllowTcpForwarding yes",
        "AllowStreamLocalForwarding yes",
        "MaxSessions 64",
        "MaxStartups 64:30:256",
        # `docker ...` run over SSH on this node talks to this node's engine. The lab's user is
        # root, whose ~/.bashrc may run `pyenv init` (a rehash under a lock, 60 s wait when a
        # killed session left the lock behind): cap that wait, and SHLVL=2 makes bash skip ~/.bashrc
        # for ssh commands altogether. (sshd keeps only the first SetEnv line.)
        f"SetEnv DOCKER_HOST={node.docker_host} PYENV_REHASH_TIMEOUT=1 SHLVL=2",
        "Subsystem sftp internal-sftp",
        "",
    ]))


def _yaml_str(value: str) -> str:
    plain = value and all(c.isalnum() or c in "/._-" for c in value)
    return value if plain else json.dumps(value)


def inventory_text(lab: Lab, header: str = "") -> str:
    lines = [header] if header else []
    lines.append(f"known_hosts: {_yaml_str(str(lab.known_hosts))}")
    lines.append("nodes:")
    for node in lab.nodes:
        labels = ", ".join(f"{k}: {_yaml_str(v)}" for k, v in node.labels.items())
        lines += [
            f"  - name: {node.name}",
            f"    address: {node.address}",
            f"    port: {node.port}",
            f"    user: {node.user}",
            f"    identity_file: {_yaml_str(str(lab.client_key))}",
            f"    docker_socket: {_yaml_str(str(node.socket))}",
            f"    labels: {{{labels}}}",
        ]
    return "\n".join(lines) + "\n"


def _write_lab_files(lab: Lab) -> None:
    _write(lab.authorized_keys, lab.client_key_pub.read_text())
    known = []
    for node in lab.nodes:
        kind, key = node.host_key_pub.read_text().split()[:2]
        known.append(f"[{node.address}]:{node.port} {kind} {key}\n")
    _write(lab.known_hosts, "".join(known))
    _write(lab.inventory, inventory_text(lab, f"# tui-orch lab inventory ({len(lab.nodes)} nodes), "
                                              "written by tests/lab/lab.py start"))


# --------------------------------------------------------------------------------------
# Starting and stopping one node's parts


def _containerd_pid(node: NodeLab) -> "int | None":
    return _owned_pid(node.containerd_pid_file, str(node.containerd_socket.parent / "config.toml"))


def _dockerd_pid(node: NodeLab) -> "int | None":
    return _owned_pid(node.dockerd_pid_file, str(node.socket))


def _sshd_pid(node: NodeLab) -> "int | None":
    return _owned_pid(node.sshd_pid_file, str(node.sshd_config))


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
    pid = _spawn([shutil.which("containerd", path=SYSTEM_PATH) or "containerd",
                  "--config", str(cd / "config.toml")], node.dir / "containerd.log")
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
    return [
        shutil.which("dockerd", path=SYSTEM_PATH) or "dockerd",
        "--config-file", str(node.dir / "daemon.json"),
        "--host", node.docker_host,
        "--data-root", str(node.data_root),
        "--exec-root", str(node.exec_root),
        "--pidfile", str(node.dockerd_pid_file),
        "--containerd", str(node.containerd_socket),
        "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
        "--ip-forward=false", "--userland-proxy=false",
    ]


def _launch_dockerd(node: NodeLab) -> "int | None":
    """Start the engine unless it runs; returns the new pid, or None when it already ran."""
    if _dockerd_pid(node):
        return None
    with contextlib.suppress(FileNotFoundError):
        node.dockerd_pid_file.unlink()  # stale: dockerd refuses to start over it
    return _spawn(_dockerd_argv(node), node.dir / "dockerd.log", env=_engine_env())


def _launch_sshd(node: NodeLab) -> bool:
    if _sshd_pid(node):
        return False
    with contextlib.suppress(FileNotFoundError):
        node.sshd_pid_file.unlink()
    sshd = shutil.which("sshd", path=SYSTEM_PATH) or "/usr/sbin/sshd"
    log = node.dir / "sshd.log"
    done = subprocess.run([sshd, "-f", str(node.sshd_config), "-E", str(log)], env=_clean_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          start_new_session=True, timeout=30)
    if done.returncode != 0:
        raise LabError(f"{node.name}: sshd did not start: {(done.stderr.strip() or _log_tail(log))}")
    deadline = time.monotonic() + 10  # it writes its pid file once it listens
    while not _sshd_pid(node):
        if time.monotonic() > deadline:
            raise LabError(f"{node.name}: sshd did not start listening on {node.address}:{node.port}: "
                           f"{_log_tail(log)}")
        time.sleep(0.05)
    return True


def _wait_ready(nodes: "list[NodeLab]", spawned: "dict[str, int]", timeout: float) -> None:
    """Until every engine answers /_ping and every sshd accepts and shows its banner."""
    deadline = time.monotonic() + timeout
    waiting = {n.name: n for n in nodes}
    while waiting:
        for name, node in list(waiting.items()):
            pid = spawned.get(name)
            if pid and not _alive(pid):
                raise LabError(f"{name}: dockerd exited: {_log_tail(node.dir / 'dockerd.log')}")
            if engine_ping(node, timeout=1) and _sshd_pid(node) and sshd_accepts(node, timeout=1):
                del waiting[name]
        if not waiting:
            break
        if time.monotonic() > deadline:
            problems = []
            for node in waiting.values():
                if not engine_ping(node):
                    problems.append(f"{node.name}: the engine does not answer on {node.socket} "
                                    f"({_log_tail(node.dir / 'dockerd.log', 2)})")
                else:
                    problems.append(f"{node.name}: sshd does not accept on {node.address}:{node.port} "
                                    f"({_log_tail(node.dir / 'sshd.log', 2)})")
            raise LabError(f"not ready within {timeout:.0f} s: " + "; ".join(problems))
        time.sleep(0.1)


def _start_nodes(lab: Lab, nodes: "list[NodeLab]", timeout: float, sshd: bool = True) -> "dict[str, str]":
    """Start what is not running of these nodes; {name: 'started'|'already running'|...}."""
    state: dict[str, str] = {}
    for node in nodes:
        _write_node_configs(lab, node)
    restarted = {n.name: _start_containerd(n, timeout) for n in nodes}
    spawned = {}
    for node in nodes:
        pid = _launch_dockerd(node)
        if pid:
            spawned[node.name] = pid
        launched_sshd = _launch_sshd(node) if sshd else False
        parts = [p for p, on in (("containerd", restarted[node.name]), ("dockerd", bool(pid)),
                                 ("sshd", launched_sshd)) if on]
        state[node.name] = "already running" if not parts else (
            "started" if len(parts) == 3 else "started " + " and ".join(parts))
    _wait_ready(nodes, spawned, timeout)
    return state


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


@contextlib.contextmanager
def _locked(lab: Lab) -> Iterator[None]:
    lab.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(lab.dir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def start_lab(n: int = DEFAULT_NODES, labdir: "str | os.PathLike[str] | None" = None,
              timeout: float = 90, report: "dict | None" = None) -> Lab:
    """Start the lab (what already runs is left alone) and return it once every engine
    answers and every sshd accepts. Raises LabError with one clear sentence."""
    lab = layout(n, labdir)
    check_host()
    _check_paths(lab)
    with _locked(lab):
        _prepare_dirs(lab)
        _keygen(lab.client_key, "tui-orch lab client")
        for node in lab.nodes:
            _keygen(node.host_key, f"tui-orch lab {node.name}")
        _write_lab_files(lab)
        state = _start_nodes(lab, lab.nodes, timeout)
        archive, ids = build_image_archive(find_busybox())
        for node in lab.nodes:
            if ensure_images(node, archive, ids) and state[node.name] == "already running":
                state[node.name] = "already running, images loaded"
    if report is not None:
        report.update(state)
    return lab


def stop_lab(lab: "Lab | str | os.PathLike[str] | None" = None, timeout: float = ENGINE_STOP_TIMEOUT) -> Lab:
    """Stop every node in the lab dir (sshd, engine, containerd) by their pid files. The
    engines stop their containers first. Data, keys and configs stay."""
    lab = lab if isinstance(lab, Lab) else layout(None, lab)
    everything = layout(max(len(lab.nodes), _existing_nodes(lab.dir)), lab.dir)
    if not everything.dir.exists():
        return everything
    with _locked(everything):
        for node in everything.nodes:
            kill_sshd(node)
        engines = [p for p in (_dockerd_pid(n) for n in everything.nodes) if p]
        _terminate(engines, timeout)  # all engines shut down side by side
        for node in everything.nodes:
            _stop_node_parts(node, hard=False)
    return everything


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


def kill_node(node: NodeLab) -> None:
    """'Node crash': SIGKILL this node's sshd (and its connections), engine, containerd and
    every container on it, as a power loss would. start_node brings it back."""
    _stop_node_parts(node, hard=True)


def start_node(node: NodeLab, timeout: float = 90) -> None:
    """Start this node's containerd, engine and sshd (what runs is left alone)."""
    lab = layout(max(node.index, _existing_nodes(node.dir.parent)), node.dir.parent)
    _start_nodes(lab, [lab.node(node.name)], timeout)


def node_problems(node: NodeLab) -> "list[str]":
    problems = []
    if not _containerd_pid(node):
        problems.append(f"{node.name}: containerd is not running")
    if not _dockerd_pid(node):
        problems.append(f"{node.name}: dockerd is not running")
    elif not engine_ping(node):
        problems.append(f"{node.name}: the engine does not answer on {node.socket}")
    if not _sshd_pid(node):
        problems.append(f"{node.name}: sshd is not running")
    elif not sshd_accepts(node):
        problems.append(f"{node.name}: sshd does not accept on {node.address}:{node.port}")
    return problems


def problems(lab: "Lab | str | os.PathLike[str] | None" = None, n: "int | None" = None) -> "list[str]":
    """What keeps the lab from being healthy; empty when it is running and ready."""
    lab = _as_lab(lab, n)
    found = [f"{p} is missing" for p in (lab.client_key, lab.known_hosts, lab.inventory) if not p.exists()]
    for node in lab.nodes:
        trouble = node_problems(node)
        found += trouble
        if not trouble:
            for v in IMAGE_VERSIONS:
                with contextlib.suppress(OSError):
                    if not _image_id(node, f"{IMAGE_REPO}:{v}"):
                        found.append(f"{node.name}: image {IMAGE_REPO}:{v} is missing")
    return found


def is_healthy(lab: "Lab | str | os.PathLike[str] | None" = None, n: "int | None" = None) -> bool:
    return not problems(lab, n)


def memory_kib(node: NodeLab) -> "dict[str, int]":
    """Resident memory (Pss, KiB) of this node's own processes."""
    out = {}
    for name, pid in (("sshd", _sshd_pid(node)), ("dockerd", _dockerd_pid(node)),
                      ("containerd", _containerd_pid(node))):
        if not pid:
            continue
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            out[name] = next(int(l.split()[1]) for l in text.splitlines() if l.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return out


# --------------------------------------------------------------------------------------
# Command line


def _cmd_start(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    state: dict[str, str] = {}
    lab = start_lab(args.nodes, args.lab_dir, timeout=args.timeout, report=state)
    took = time.monotonic() - t0
    print(f"tui-orch lab: {len(lab.nodes)} nodes ready in {took:.1f} s (lab dir {lab.dir})")
    for node in lab.nodes:
        print(f"  {node.name}  ssh {node.user}@{node.address}:{node.port}  engine {node.docker_host}"
              f"  [{state.get(node.name, '?')}]")
    print(f"  inventory:   {lab.inventory}")
    print(f"  known_hosts: {lab.known_hosts}")
    print(f"  client key:  {lab.client_key}")
    n1 = lab.nodes[0]
    print(f"  try: ssh -i {lab.client_key} -o UserKnownHostsFile={lab.known_hosts} "
          f"-p {n1.port} {n1.user}@{n1.address} docker ps")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    lab = stop_lab(args.lab_dir)
    left = [n.name for n in lab.nodes if _sshd_pid(n) or _dockerd_pid(n) or _containerd_pid(n)]
    if left:
        print(f"tui-orch lab: still running: {', '.join(left)}", file=sys.stderr)
        return 1
    print(f"tui-orch lab: stopped {len(lab.nodes)} nodes in {time.monotonic() - t0:.1f} s (data kept in {lab.dir})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    lab = layout(args.nodes, args.lab_dir)
    bad = problems(lab)
    print(f"tui-orch lab in {lab.dir}: {'healthy' if not bad else 'NOT healthy'}")
    for node in lab.nodes:
        parts = []
        for what, pid in (("sshd", _sshd_pid(node)), ("dockerd", _dockerd_pid(node)),
                          ("containerd", _containerd_pid(node))):
            parts.append(f"{what} {pid or '-'}")
        extra = ""
        if engine_ping(node):
            with contextlib.suppress(OSError, LabError, ValueError):
                info = engine_info(node)
                extra = f"  containers {info.get('ContainersRunning', 0)}/{info.get('Containers', 0)} running"
        mem = sum(memory_kib(node).values())
        print(f"  {node.name}  {node.address}:{node.port}  " + ", ".join(parts)
              + extra + (f"  mem {mem / 1024:.0f} MiB" if mem else ""))
    for p in bad:
        print(f"  problem: {p}")
    return 0 if not bad else 1


def _cmd_env(args: argparse.Namespace) -> int:
    lab = layout(args.nodes, args.lab_dir)
    print(f"export TUI_ORCH_LAB_DIR={lab.dir}")
    print(f"export TUI_ORCH_INVENTORY={lab.inventory}")
    return 0


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.py", description="The tui-orch test lab of real nodes.")
    lab_dir_help = f"default: $TUI_ORCH_LAB_DIR or {DEFAULT_LAB_DIR}"
    parser.add_argument("--lab-dir", default=None, help=lab_dir_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lab-dir", default=argparse.SUPPRESS, help=lab_dir_help)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="start the lab (idempotent)", parents=[common])
    p.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    p.add_argument("--timeout", type=float, default=90, help="seconds to wait for the nodes")
    sub.add_parser("stop", help="stop every node of the lab (data is kept)", parents=[common])
    for name, text in (("status", "is every node healthy? (exit 0 when it is)"),
                       ("env", "shell exports for using the lab")):
        p = sub.add_parser(name, help=text, parents=[common])
        p.add_argument("--nodes", type=int, default=None)
    args = parser.parse_args(argv)
    handler = {"start": _cmd_start, "stop": _cmd_stop, "status": _cmd_status, "env": _cmd_env}[args.command]
    try:
        return handler(args)
    except BrokenPipeError:  # e.g. `lab.py start | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (LabError, OSError) as exc:
        print(f"tui-orch lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
