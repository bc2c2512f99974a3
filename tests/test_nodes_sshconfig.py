"""~/.ssh/config as OpenSSH reads it (Host, Match, first value wins), with the inventory's
values first: the settings every command shows and connects with. A HOME of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_orch.errors import NodeError
from tui_orch.model import NodeSpec
from tui_orch.nodes.sshconfig import missing_identities, route, settings

SSH_CONFIG = """\
Host bastion
    HostName bastion.example.org
    User ops
Host app-* !app-9
    User deploy
    IdentityFile ~/.ssh/deploy
    ProxyJump bastion
    Port 2200
Host app-1
    HostName 10.0.1.11
    User ignored-because-first-wins
Match host 10.0.1.11
    UserKnownHostsFile ~/.ssh/app_known_hosts ~/.ssh/more_known_hosts
Host *
    User fallback
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text(SSH_CONFIG)
    return tmp_path


def test_ssh_config_aliases(home: Path) -> None:
    s = settings(NodeSpec(name="app-1", address="app-1"))
    assert s.host == "10.0.1.11"
    assert s.user == "deploy" and s.port == 2200 and s.proxy_jump == "bastion"
    assert s.identity_files == (f"{home}/.ssh/deploy",)
    assert s.known_hosts == (f"{home}/.ssh/app_known_hosts", f"{home}/.ssh/more_known_hosts")
    # negated pattern, then the catch-all
    s9 = settings(NodeSpec(name="app-9", address="app-9"))
    assert s9.user == "fallback" and s9.port == 22 and s9.proxy_jump is None
    assert s9.known_hosts == (f"{home}/.ssh/known_hosts",)
    # inventory values beat ~/.ssh/config; the inventory's identity file comes first
    s2 = settings(NodeSpec(name="x", address="app-2", user="root", port=22, proxy_jump="none",
                           identity_file="/keys/k", known_hosts="/kh"))
    assert s2.user == "root" and s2.port == 22 and s2.proxy_jump is None
    assert s2.identity_files == ("/keys/k", f"{home}/.ssh/deploy") and s2.known_hosts == ("/kh",)


def test_a_route_has_the_jump_hosts_first_with_the_inventory_keys(home: Path) -> None:
    hops = route(NodeSpec(name="app-1", address="app-1", identity_file="/keys/k", known_hosts="/kh"))
    assert [h.label for h in hops] == ["jump host bastion", "app-1"]
    jump = hops[0].settings
    assert (jump.host, jump.user, jump.port, jump.known_hosts) == ("bastion.example.org", "ops", 22, ("/kh",))
    assert jump.identity_files[0] == "/keys/k"
    hops = route(NodeSpec(name="n", address="10.0.0.5", proxy_jump="me@[fd00::1]:2022,other:23"))
    assert [(h.settings.user, h.settings.host, h.settings.port) for h in hops[:2]] == [
        ("me", "fd00::1", 2022), ("fallback", "other", 23)]
    with pytest.raises(NodeError, match="proxy_jump 'a:b' is not"):
        route(NodeSpec(name="n", address="10.0.0.5", proxy_jump="a:b"))


def test_missing_identity_files_are_warnings(home: Path) -> None:
    assert missing_identities(NodeSpec(name="app-1", address="app-1", identity_file="/no/key")) == [
        "app-1: identity file /no/key does not exist; trying the other keys and ssh-agent",  # once for both hops
        f"app-1: identity file {home}/.ssh/deploy does not exist; trying the other keys and ssh-agent"]
    (home / ".ssh" / "config").write_text("Host bastion\n  IdentityFile /no/jumpkey\n")
    assert missing_identities(NodeSpec(name="n", address="10.0.0.5", proxy_jump="bastion")) == [
        "n: identity file /no/jumpkey (for jump host bastion) does not exist; trying the other keys and ssh-agent"]


def test_match_localnetwork_and_a_bad_config_line(home: Path) -> None:
    (home / ".ssh" / "config").write_text("Match localnetwork 127.0.0.0/8\n  Port 2222\n"
                                          "Match localnetwork 203.0.113.0/24\n  User nobody\n")
    s = settings(NodeSpec(name="n", address="10.0.0.5", user="me"))
    assert s.port == 2222 and s.user == "me"
    (home / ".ssh" / "config").write_text("Port many\n")
    with pytest.raises(NodeError, match=r"n: cannot read ~/.ssh/config: .*config line 1"):
        settings(NodeSpec(name="n", address="10.0.0.5"))
