"""Shell into a replica: the argv for remote, local and simulated nodes (every remote word
quoted; through jump hosts a private ssh_config with every hop's settings), run for real over
ssh into a lab container (also through a jump host of the test's own), and run_shell's
one-sentence results."""

from __future__ import annotations

import dataclasses
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from textual.app import App

from nodes_support import IMAGE, containers, direct_client, specs  # noqa: F401 (fixture)
from test_nodes_sshsetup import key_line, sshd
from tui_orch.errors import TuiOrchError
from tui_orch.model import NodeSpec
from tui_orch.nodes.shell import shell_argv
from tui_orch.ui.shell import run_shell

REMOTE = NodeSpec(name="web1", address="10.0.0.7", port=2200, user="deploy", identity_file="/keys/id ed25519",
                  known_hosts="/etc/tui orch/known_hosts", docker_socket="/run/user/1000/docker.sock")
JUMPED = dataclasses.replace(REMOTE, proxy_jump="ops@bastion.example:2022,10.0.0.9")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with an empty ~/.ssh: the route is the inventory's alone, whatever this machine's config."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(h))
    return h


def test_remote_argv_is_ssh_with_host_key_checking_and_a_quoted_remote_command() -> None:
    argv = shell_argv(REMOTE, "0123abcd")
    assert argv == [
        "ssh", "-t", "-p", "2200", "-i", "/keys/id ed25519",
        "-o", 'UserKnownHostsFile="/etc/tui orch/known_hosts"', "-o", "StrictHostKeyChecking=yes",
        "--", "deploy@10.0.0.7",
        "docker", "-H", "unix:///run/user/1000/docker.sock", "exec", "-it", "0123abcd", "sh",
    ]


def hosts_of(path: str) -> dict[str, dict[str, str]]:
    """Host alias -> option -> value, as ``ssh -G`` (OpenSSH's own reading of the file) says."""
    out = {}
    for alias in ("tui-orch-jump-1", "tui-orch-jump-2", "tui-orch-node"):
        shown = subprocess.run(["ssh", "-G", "-F", path, alias], capture_output=True, text=True, check=True).stdout
        out[alias] = dict(line.split(" ", 1) for line in shown.splitlines() if " " in line)
    return out


def test_through_jump_hosts_every_hop_gets_the_inventorys_key_and_known_hosts_checked() -> None:
    """ssh -J takes no per-hop options: the jump hosts were reached without the inventory's
    identity_file and known_hosts. Now a private ssh_config holds every hop's settings."""
    argv = shell_argv(JUMPED, "0123abcd")
    assert argv[:2] == ["ssh", "-F"] and "-J" not in argv
    assert argv[3:] == ["-t", "--", "tui-orch-node", "docker", "-H", "unix:///run/user/1000/docker.sock",
                        "exec", "-it", "0123abcd", "sh"]
    path = argv[2]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    hosts = hosts_of(path)
    expected = {"tui-orch-jump-1": ("bastion.example", "2022", "ops", None),
                "tui-orch-jump-2": ("10.0.0.9", "22", "root", "tui-orch-jump-1"),
                "tui-orch-node": ("10.0.0.7", "2200", "deploy", "tui-orch-jump-2")}
    for alias, (host, port, user, jump) in expected.items():
        got = hosts[alias]
        assert (got["hostname"], got["port"], got["user"], got.get("proxyjump")) == (host, port, user, jump), alias
        assert got["identityfile"] == "/keys/id ed25519"
        assert got["userknownhostsfile"] == "/etc/tui orch/known_hosts" and got["globalknownhostsfile"] == "none"
        assert got["stricthostkeychecking"] == "true" and got["updatehostkeys"] == "false"  # never learnt
    assert shell_argv(JUMPED, "0123abcd")[2] == path  # the same route, the same file


def test_a_value_an_ssh_config_cannot_hold_is_refused_in_a_sentence() -> None:
    spec = dataclasses.replace(JUMPED, identity_file='/keys/a"b')
    with pytest.raises(TuiOrchError, match=r"web1: identity file '/keys/a\"b' of jump host bastion.example "
                                           r"cannot be written to an ssh_config"):
        shell_argv(spec, "c1")


def test_remote_words_are_quoted_so_the_remote_shell_runs_exactly_them() -> None:
    argv = shell_argv(REMOTE, "id; rm -rf ~", shell="/bin/bash -l")
    remote_line = " ".join(argv[argv.index("deploy@10.0.0.7") + 1:])
    # What the remote shell does with the line ssh sends: split it back into the same words.
    assert shlex.split(remote_line) == ["docker", "-H", "unix:///run/user/1000/docker.sock", "exec", "-it",
                                        "id; rm -rf ~", "/bin/bash -l"]


def test_minimal_remote_spec_leaves_the_rest_to_ssh_config() -> None:
    argv = shell_argv(NodeSpec(name="n", address="alias-from-ssh-config"), "c1")
    assert argv == ["ssh", "-t", "-o", "StrictHostKeyChecking=yes", "--", "alias-from-ssh-config",
                    "docker", "exec", "-it", "c1", "sh"]


def test_a_command_runs_without_a_terminal() -> None:
    argv = shell_argv(NodeSpec(name="n", address="h"), "c1", command=("echo", "a b"))
    assert argv[:2] == ["ssh", "-T"] and argv[-4:] == ["exec", "c1", "echo", "'a b'"]


def test_local_node_runs_docker_exec_directly() -> None:
    assert shell_argv(NodeSpec(name="me", local=True), "c1") == ["docker", "exec", "-it", "c1", "sh"]
    spec = NodeSpec(name="me", local=True, docker_socket="/tmp/d.sock")
    assert shell_argv(spec, "c1", shell="bash") == ["docker", "-H", "unix:///tmp/d.sock", "exec", "-it", "c1", "bash"]


def test_simulated_node_has_no_shell() -> None:
    with pytest.raises(TuiOrchError, match="sim-1 is a simulated node: its replicas have no shell"):
        shell_argv(NodeSpec(name="sim-1", simulated=True), "c1")


@pytest.fixture
def lab_container(lab, containers):
    client = direct_client(lab.node(1))
    try:
        c = client.containers.run(IMAGE, ["sleep", "600"], detach=True, name=containers.name(),
                                  labels=dict(containers.labels()), network_mode="none")
        yield c.id
    finally:
        client.close()


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def test_the_argv_reaches_a_lab_container_over_ssh_with_the_inventorys_known_hosts(lab, lab_container) -> None:
    spec = specs(lab)["node1"]
    argv = shell_argv(spec, lab_container, command=("sh", "-c", 'echo "hi from $(hostname)"; echo \'$HOME; x\''))
    assert "StrictHostKeyChecking=yes" in argv and f"UserKnownHostsFile={lab.known_hosts}" in argv
    done = _run(argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"hi from {lab_container[:12]}", "$HOME; x"]


def test_an_untrusted_host_key_is_refused_by_the_shell_too(lab, lab_container, tmp_path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    spec = dataclasses.replace(specs(lab)["node1"], known_hosts=str(empty))
    done = _run(shell_argv(spec, lab_container, command=("echo", "hi")))
    assert done.returncode == 255 and "hi" not in done.stdout
    assert "Host key verification failed" in done.stderr
    assert empty.read_text() == ""  # nothing was learnt on the way


def test_the_shell_reaches_a_lab_container_through_a_jump_host_with_the_inventorys_keys(
        lab, lab_container, tmp_path: Path) -> None:
    """A jump host of the test's own (an sshd on 127.0.0.36) in front of node1: its host key and
    the login key are the inventory's; an untrusted jump host is refused and nothing is learnt."""
    known = tmp_path / "known_hosts"
    with sshd(tmp_path / "jump", "127.0.0.36", lab.authorized_keys) as jump:
        known.write_text(key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub)
                         + key_line("[127.0.0.36]:2222", jump.host_key_pub))
        spec = dataclasses.replace(specs(lab)["node1"], known_hosts=str(known), proxy_jump="root@127.0.0.36:2222")
        done = _run(shell_argv(spec, lab_container, command=("sh", "-c", "echo hi from $(hostname)")))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"hi from {lab_container[:12]}\n"
        known.write_text(key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub))  # the jump host's key unknown
        done = _run(shell_argv(spec, lab_container, command=("echo", "hi")))
        assert done.returncode == 255 and "hi" not in done.stdout
        assert "Host key verification failed" in done.stderr
        assert known.read_text() == key_line("[127.0.0.2]:2222", lab.node(1).host_key_pub)


def test_a_missing_container_fails_with_dockers_message(lab) -> None:
    done = _run(shell_argv(specs(lab)["node1"], "no-such-container", command=("true",)))
    assert done.returncode != 0 and "No such container" in done.stderr


class Host(App[None]):
    pass


async def test_run_shell_in_a_headless_app_says_it_cannot_suspend() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)):
        message = run_shell(app, [sys.executable, "-c", "pass"])
    assert message == "this console cannot hand its terminal to a shell (it is not running in a real terminal)"


class _Suspendable:
    """An app whose suspend works (as in a real terminal), to see run_shell's results."""

    def __init__(self) -> None:
        self.suspended = 0

    def suspend(self):
        import contextlib

        @contextlib.contextmanager
        def cm():
            self.suspended += 1
            yield

        return cm()


def test_run_shell_results() -> None:
    app = _Suspendable()
    assert run_shell(app, [sys.executable, "-c", "pass"]) is None
    assert app.suspended == 1
    assert run_shell(app, [sys.executable, "-c", "raise SystemExit(3)"]) == "the shell ended with exit code 3"
    assert run_shell(app, ["/nonexistent/ssh"]) == "cannot open a shell: /nonexistent/ssh is not installed on this machine"
    failing_ssh = ["ssh", "-o", "StrictHostKeyChecking=yes", "-p", "1", "--", "root@127.0.0.9", "true"]
    message = run_shell(app, failing_ssh)
    assert message is not None and message.startswith("ssh to root@127.0.0.9 failed (exit code 255)")
