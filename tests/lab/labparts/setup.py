"""What start writes before any process runs: keys, node configs, inventory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from labparts.image import find_busybox
from labparts.layout import INSTALL_HINT, Lab, LabError, NodeLab, SYSTEM_PATH
from labparts.processes import _clean_env, _write


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


# The subnets each engine gives its bridge networks: 256 networks of 256 addresses (Docker's
# defaults allow ~30, which tests that make networks used up). Each engine runs in a network
# namespace of its own (labparts/netns.py), so the nodes may use the same range, as separate
# hosts do; it is clear of the lab bridge (LAB_SUBNET) and of the host's own networks.
ADDRESS_POOLS = [{"base": "10.201.0.0/16", "size": 24}]


def daemon_config(node: NodeLab) -> "dict[str, object]":
    """The node engine's daemon.json (not /etc/docker/daemon.json): an engine ID of its own
    (else every engine shares /etc/docker/key.json and reports the same ID) and room for
    many networks. Read by dockerd when it starts (engine.py --config-file): a running lab
    takes it at its next start."""
    return {"deprecated-key-path": str(node.dir / "key.json"), "default-address-pools": ADDRESS_POOLS}


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
    _write(node.dir / "daemon.json", json.dumps(daemon_config(node)) + "\n")
    _write(node.sshd_config, "\n".join([
        "# written by tests/lab/lab.py",
        f"ListenAddress {node.address}:{node.port}",
        "AddressFamily inet",
        f"HostKey {node.host_key}",
        "PidFile none",  # sshd -i behind the gate (labparts/sshgate.py): the gate has the pid file
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
    lines.append("edge_image: tuiorch/haproxy:2.6  # the lab image of Debian's HAProxy (no registry in the lab)")
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
            f"    advertise: {node.lab_address}",
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
