"""SSH as an operator has it set up: ~/.ssh/config (UserKnownHostsFile, IdentityFile, Match),
@revoked and @cert-authority lines, jump hosts. Every command (``nodes``, the console's
RemoteNode, ``node prepare``, ``trust``) takes the one connection path, so each accepts or
refuses a host the same way. Each test has a HOME of its own (never the real ~/.ssh), and the
jump hosts are sshd processes of the test's own on 127.0.0.20-23, stopped by pid."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodes_support import fingerprint_of, started
from tui_orch.inventory import load_inventory
from tui_orch.errors import Unreachable
from tui_orch.model import NodeSpec, NodeState
from tui_orch.nodes import ssh
from tui_orch.nodes.hostkeys import fetch_fingerprint, trust_node
from tui_orch.nodes.remote import RemoteNode

TREE = str(Path(__file__).resolve().parent.parent)


@dataclasses.dataclass
class Home:
    path: Path
    env: dict[str, str]

    @property
    def ssh(self) -> Path:
        return self.path / ".ssh"

    def config(self, text: str) -> None:
        (self.ssh / "config").write_text(text)

    def run(self, *argv: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui_orch", *argv], env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A HOME with an empty ~/.ssh, for this process (the console path) and the CLI runs; no agent."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env.update(HOME=str(h), PYTHONPATH=TREE + os.pathsep + env.get("PYTHONPATH", ""),
               TUI_ORCH_STATE=str(tmp_path / "state"))
    return Home(h, env)


def write_inventory(path: Path, lab, *, known_hosts: str | None = None, address: str = "127.0.0.2",
                    port: int | None = 2222, identity_file: str | None = "lab", proxy_jump: str | None = None,
                    name: str = "node1") -> str:
    lines = [f"known_hosts: {known_hosts}"] if known_hosts else []
    lines += ["nodes:", f"  - name: {name}", f"    address: {address}", "    user: root",
              f"    docker_socket: {lab.node(1).socket}"]
    if port:
        lines.append(f"    port: {port}")
    if identity_file:
        lines.append(f"    identity_file: {lab.client_key if identity_file == 'lab' else identity_file}")
    if proxy_jump:
        lines.append(f"    proxy_jump: {proxy_jump}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def key_line(host: str, pub: Path) -> str:
    kind, blob = pub.read_text().split()[:2]
    return f"{host} {kind} {blob}\n"


# --------------------------------------------------------------------------- sshd of the test's own


@dataclasses.dataclass
class Sshd:
    address: str
    port: int
    host_key_pub: Path
    pid: int


@contextlib.contextmanager
def sshd(folder: Path, address: str, authorized_keys: Path, ca: Path | None = None) -> Iterator[Sshd]:
    """An sshd on address:2222 with a host key of its own (a host certificate signed by ``ca``
    when given); stopped by its pid at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    lines = [f"ListenAddress {address}:2222", "AddressFamily inet", f"HostKey {key}", f"PidFile {folder}/sshd.pid",
             f"AuthorizedKeysFile {authorized_keys}", "AuthenticationMethods publickey", "PasswordAuthentication no",
             "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
             "UseDNS no", "AllowTcpForwarding yes", "AllowStreamLocalForwarding yes",
             "SetEnv PYENV_REHASH_TIMEOUT=1 SHLVL=2"]
    if ca is not None:
        subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-I", "test-host", "-h", "-n", address,
                        str(key) + ".pub"], check=True)
        lines.append(f"HostCertificate {key}-cert.pub")
    (folder / "sshd_config").write_text("\n".join(lines) + "\n")
    os.makedirs("/run/sshd", exist_ok=True)
    subprocess.run([shutil.which("sshd") or "/usr/sbin/sshd", "-f", str(folder / "sshd_config"),
                    "-E", str(folder / "sshd.log")], check=True, start_new_session=True)
    pid_file = folder / "sshd.pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, (folder / "sshd.log").read_text()
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    try:
        yield Sshd(address, 2222, Path(str(key) + ".pub"), pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _state(out: str, node: str = "node1") -> str:
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == [node]]
    return rows[0][1] if rows else ""


# --------------------------------------------------------------------------- UserKnownHostsFile


async def test_user_known_hosts_file_of_ssh_config_counts_for_every_command(lab, home: Home, tmp_path: Path):
    inventory = write_inventory(tmp_path / "nodes.yaml", lab)  # no known_hosts: ~/.ssh/config decides
    own = home.path / "lab_known_hosts"
    shutil.copy(lab.known_hosts, own)
    home.config(f"Host 127.0.0.2\n    UserKnownHostsFile {own}\n")
    nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr
    prepared = home.run("node", "prepare", "node1", "-i", inventory)
    assert prepared.returncode == 0 and "ready: nothing to do" in prepared.stdout, prepared.stdout + prepared.stderr
    trusted = home.run("trust", "node1", "-i", inventory)
    assert trusted.returncode == 0 and f"already trusted in {own}" in trusted.stdout
    spec = load_inventory(inventory).get("node1")
    async with started(RemoteNode(spec)):  # the console's path
        pass
    # and refused by all alike: the file ~/.ssh/config names is empty, ~/.ssh/known_hosts holds the key
    shutil.copy(lab.known_hosts, home.ssh / "known_hosts")
    own.write_text("")
    nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 1 and _state(nodes.stdout) == "HostKeyUnknown", nodes.stdout
    prepared = home.run("node", "prepare", "node1", "-i", inventory)
    assert prepared.returncode == 1 and "unknown host key" in prepared.stderr
    async with started(RemoteNode(spec), NodeState.HOST_KEY_UNKNOWN) as node:
        assert "tui-orch trust node1" in node.status.reason
    assert home.run("trust", "node1", "--yes", "-i", inventory).returncode == 0
    assert own.read_text() == key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub)


# --------------------------------------------------------------------------- missing identity files


def test_a_missing_identity_file_warns_and_the_other_keys_log_in(lab, home: Home, tmp_path: Path):
    missing = str(tmp_path / "no_such_key")
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(lab.known_hosts), identity_file=missing)
    home.config(f"Host 127.0.0.2\n    IdentityFile {lab.client_key}\n")
    nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr
    assert f"warning: node1: identity file {missing} does not exist" in nodes.stderr
    prepared = home.run("node", "prepare", "node1", "-i", inventory)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert f"warning: node1: identity file {missing} does not exist" in prepared.stderr
    # the other way round: ~/.ssh/config names a missing key, the inventory a good one
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(lab.known_hosts))
    home.config(f"Host 127.0.0.2\n    IdentityFile {missing}\n")
    nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr


# --------------------------------------------------------------------------- @revoked, @cert-authority


def test_a_revoked_key_is_refused_and_never_offered(lab, home: Home, tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text("@revoked " + key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub))
    before = known.read_text()
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(known))
    nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 1 and _state(nodes.stdout) == "HostKeyChanged"
    assert "REVOKED HOST KEY" in nodes.stdout
    trusted = home.run("trust", "node1", "--yes", "-i", inventory)
    assert trusted.returncode == 1
    assert "REVOKED HOST KEY" in trusted.stderr and fingerprint_of(lab.node(1).host_key_pub) in trusted.stderr
    prepared = home.run("node", "prepare", "node1", "-i", inventory)
    assert prepared.returncode == 1 and "REVOKED HOST KEY" in prepared.stderr
    assert known.read_text() == before


def cert_authority(tmp_path: Path, address: str) -> tuple[Path, Path]:
    """A CA key, and a known_hosts file whose one line trusts it for address:2222."""
    ca = tmp_path / "ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"@cert-authority [{address}]:2222 " + " ".join(Path(str(ca) + ".pub").read_text().split()[:2])
                     + "\n")
    return ca, known


def test_a_host_vouched_for_by_a_cert_authority_needs_no_pinned_key(lab, home: Home, tmp_path: Path):
    ca, known = cert_authority(tmp_path, "127.0.0.22")
    before = known.read_text()
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(known), address="127.0.0.22")
    with sshd(tmp_path / "certhost", "127.0.0.22", lab.authorized_keys, ca=ca):
        nodes = home.run("nodes", "-i", inventory)
        assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr
        trusted = home.run("trust", "node1", "--yes", "-i", inventory)
    assert trusted.returncode == 0, trusted.stderr
    assert "signed by a @cert-authority key" in trusted.stdout and "presents host key" not in trusted.stdout
    assert known.read_text() == before


def test_a_host_without_a_certificate_next_to_a_cert_authority_line_is_unknown(lab, home: Home, tmp_path: Path):
    _, known = cert_authority(tmp_path, "127.0.0.25")
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(known), address="127.0.0.25")
    with sshd(tmp_path / "plain", "127.0.0.25", lab.authorized_keys) as plain:  # no host certificate
        nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 1 and _state(nodes.stdout) == "HostKeyUnknown", nodes.stdout  # as ssh says
    assert fingerprint_of(plain.host_key_pub) in nodes.stdout


# --------------------------------------------------------------------------- jump hosts


def test_jump_hosts_use_the_inventory_keys_and_trust_names_the_jump_host(lab, home: Home, tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text(key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub))  # the node's, not the jump host's
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(known), proxy_jump="root@127.0.0.20:2222")
    with sshd(tmp_path / "jump", "127.0.0.20", lab.authorized_keys) as jump:
        nodes = home.run("nodes", "-i", inventory)
        assert nodes.returncode == 1 and _state(nodes.stdout) == "HostKeyUnknown", nodes.stdout + nodes.stderr
        assert "jump host 127.0.0.20" in nodes.stdout and fingerprint_of(jump.host_key_pub) in nodes.stdout
        prepared = home.run("node", "prepare", "node1", "-i", inventory)
        assert prepared.returncode == 1 and "jump host 127.0.0.20" in prepared.stderr
        trusted = home.run("trust", "node1", "--yes", "-i", inventory)
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr
        assert f"node1's jump host 127.0.0.20 (root@127.0.0.20:2222) presents host key " \
               f"{fingerprint_of(jump.host_key_pub)}" in trusted.stdout
        assert known.read_text().splitlines()[1] == key_line("[127.0.0.20]:2222", jump.host_key_pub).strip()
        nodes = home.run("nodes", "-i", inventory)
        assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr
        prepared = home.run("node", "prepare", "node1", "-i", inventory)
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr


def test_a_login_refused_by_the_jump_host_is_blamed_on_the_jump_host(lab, home: Home, tmp_path: Path):
    nobody = tmp_path / "no_authorized_keys"
    nobody.write_text("")
    with sshd(tmp_path / "jump", "127.0.0.21", nobody) as jump:
        known = tmp_path / "known_hosts"
        known.write_text(key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub)
                         + key_line("[127.0.0.21]:2222", jump.host_key_pub))
        inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(known),
                                    proxy_jump="root@127.0.0.21:2222")
        nodes = home.run("nodes", "-i", inventory)
        trusted = home.run("trust", "node1", "--yes", "-i", inventory)
    assert nodes.returncode == 1 and _state(nodes.stdout) == "AuthFailed", nodes.stdout
    assert "127.0.0.21:2222 (jump host 127.0.0.21) refused the key" in nodes.stdout
    assert trusted.returncode == 1 and "jump host 127.0.0.21" in trusted.stderr


# --------------------------------------------------------------------------- Match blocks


def test_a_port_set_in_a_match_block_is_shown_and_written_by_trust(lab, home: Home, tmp_path: Path):
    known = tmp_path / "known_hosts"
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(known), address="labnode", port=None)
    home.config("Host labnode\n    HostName 127.0.0.2\nMatch host 127.0.0.2\n    Port 2222\n")
    offline = home.run("nodes", "--offline", "-i", inventory)
    assert "ssh 127.0.0.2:2222" in offline.stdout, offline.stdout + offline.stderr
    trusted = home.run("trust", "node1", "--yes", "-i", inventory)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "node1 (127.0.0.2:2222): trusted host key" in trusted.stdout
    assert known.read_text() == key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub)
    nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr


def test_match_localnetwork_is_evaluated(lab, home: Home, tmp_path: Path):
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(lab.known_hosts), port=None)
    home.config("Match localnetwork 127.0.0.0/8\n    Port 2222\nMatch localnetwork 203.0.113.0/24\n    User nobody\n")
    offline = home.run("nodes", "--offline", "-i", inventory)
    assert "ssh 127.0.0.2:2222" in offline.stdout, offline.stdout + offline.stderr
    nodes = home.run("nodes", "-i", inventory)
    assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr


async def test_the_console_trusts_a_jump_host_by_name_and_then_reaches_the_node(lab, home: Home, tmp_path: Path):
    known = tmp_path / "known_hosts"
    known.write_text(key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub))
    inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(known),
                                proxy_jump="root@127.0.0.23:2222")
    spec = load_inventory(inventory).get("node1")
    with sshd(tmp_path / "jump", "127.0.0.23", lab.authorized_keys) as jump:
        expected = fingerprint_of(jump.host_key_pub)
        async with started(RemoteNode(spec), NodeState.HOST_KEY_UNKNOWN) as node:
            assert node.status.reason == (f"unknown host key (127.0.0.23:2222, jump host 127.0.0.23), "
                                          f"fingerprint {expected}; if it is right, trust it with: tui-orch trust node1")
            fingerprint, kind = await fetch_fingerprint(spec)  # what the console's trust dialog shows
            assert fingerprint == expected
            assert kind == "jump host 127.0.0.23's (root@127.0.0.23:2222) ssh-ed25519"
            message = await trust_node(spec, fingerprint)
            assert message == (f"node1: jump host 127.0.0.23 (127.0.0.23:2222): trusted host key {expected}, "
                               f"recorded in {known}\n"
                               f"node1 (127.0.0.2:2222): the host key is already trusted in {known}")
            await node.reconnect()
            await node.wait_state(NodeState.READY, timeout=20)


def test_a_missing_identity_file_lets_the_agent_log_in(lab, home: Home, tmp_path: Path):
    agent_sock = tmp_path / "agent.sock"
    out = subprocess.run(["ssh-agent", "-a", str(agent_sock)], capture_output=True, text=True, check=True).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = {**home.env, "SSH_AUTH_SOCK": str(agent_sock)}
        subprocess.run(["ssh-add", "-q", str(lab.client_key)], env=env, check=True, capture_output=True)
        home.env = env
        missing = str(tmp_path / "no_such_key")
        inventory = write_inventory(tmp_path / "nodes.yaml", lab, known_hosts=str(lab.known_hosts),
                                    identity_file=missing)
        nodes = home.run("nodes", "-i", inventory)
        assert nodes.returncode == 0 and _state(nodes.stdout) == "Ready", nodes.stdout + nodes.stderr
        assert f"identity file {missing} does not exist" in nodes.stderr
    finally:
        os.kill(pid, signal.SIGTERM)


async def test_an_unreachable_jump_host_is_named(home: Home, tmp_path: Path):
    spec = NodeSpec(name="n1", address="127.0.0.2", port=2222, proxy_jump="127.0.0.24:2222",
                    known_hosts=str(tmp_path / "known_hosts"))
    with pytest.raises(Unreachable) as caught:
        await ssh.connect(spec)
    assert str(caught.value) == ("n1: ssh 127.0.0.24:2222 (jump host 127.0.0.24): connection refused; "
                                 "is sshd running on that port?")
