"""Host keys: unknown and changed keys are refused with the presented fingerprint, and
`trust` records a key only when the operator says yes, never over a different one."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import stat
import sys

import pytest

from nodes_support import fingerprint_of, specs, started
from tui_orch.errors import HostKeyChanged, HostKeyUnknown
from tui_orch.model import NodeState
from tui_orch.cli_nodes import cmd_trust
from tui_orch.nodes import ssh
from tui_orch.nodes.hostkeys import trust, trust_node
from tui_orch.nodes.remote import RemoteNode


def _spec(lab, known_hosts, name: str = "node1"):
    return dataclasses.replace(specs(lab)[name], known_hosts=str(known_hosts))


async def test_unknown_host_key_names_the_fingerprint_and_the_trust_command(lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    expected = fingerprint_of(lab.node(1).host_key_pub)
    with pytest.raises(HostKeyUnknown) as caught:
        conn = await ssh.connect(_spec(lab, empty))
        conn.close()
    assert caught.value.fingerprint == expected
    assert str(caught.value) == (f"node1: unknown host key (127.0.0.2:2222), fingerprint {expected}; "
                                 f"if it is right, trust it with: tui-orch trust node1")
    async with started(RemoteNode(_spec(lab, empty)), NodeState.HOST_KEY_UNKNOWN) as node:
        assert expected in node.status.reason
        assert "tui-orch trust node1" in node.status.reason


async def test_a_missing_known_hosts_file_trusts_nothing(lab, tmp_path):
    with pytest.raises(HostKeyUnknown):
        conn = await ssh.connect(_spec(lab, tmp_path / "absent"))
        conn.close()
    assert not (tmp_path / "absent").exists()


async def test_a_changed_key_is_refused_loudly_and_never_replaced(lab, tmp_path):
    wrong = tmp_path / "known_hosts"
    kind, key = lab.node(2).host_key_pub.read_text().split()[:2]
    wrong.write_text(f"[127.0.0.2]:2222 {kind} {key}\n")
    before = wrong.read_text()
    presented = fingerprint_of(lab.node(1).host_key_pub)
    spec = _spec(lab, wrong)
    with pytest.raises(HostKeyChanged) as caught:
        conn = await ssh.connect(spec)
        conn.close()
    assert caught.value.fingerprint == presented
    assert "HOST KEY CHANGED" in str(caught.value)
    async with started(RemoteNode(spec), NodeState.HOST_KEY_CHANGED) as node:
        assert presented in node.status.reason
    with pytest.raises(HostKeyChanged):
        await trust_node(spec)
    assert wrong.read_text() == before


async def test_trust_with_yes_records_the_key_and_then_connect_works(lab, tmp_path):
    known = tmp_path / "ssh" / "known_hosts"
    spec = _spec(lab, known)
    async with started(RemoteNode(spec), NodeState.HOST_KEY_UNKNOWN) as node:
        message = await trust_node(spec)
        expected = fingerprint_of(lab.node(1).host_key_pub)
        assert message == f"node1 (127.0.0.2:2222): trusted host key {expected}, recorded in {known}"
        assert stat.S_IMODE(os.stat(known).st_mode) == 0o600
        kind, key = lab.node(1).host_key_pub.read_text().split()[:2]
        assert known.read_text() == f"[127.0.0.2]:2222 {kind} {key}\n"
        await node.reconnect()  # the operator's action after trusting
        await node.wait_state(NodeState.READY, timeout=20)
    assert "already trusted" in await trust_node(spec)
    assert known.read_text().count("\n") == 1


async def test_trust_asks_and_records_nothing_on_no(lab, tmp_path):
    known = tmp_path / "known_hosts"
    asked: list[str] = []

    def no(offer) -> bool:
        asked.append(offer.fingerprint)
        return False

    result = await trust(_spec(lab, known), confirm=no)
    assert asked == [fingerprint_of(lab.node(1).host_key_pub)]
    assert "not trusted" in result.message and not result.trusted
    assert not known.exists()


async def test_trust_appends_next_to_other_hosts(lab, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text((lab.known_hosts.read_text().splitlines()[1]))  # node2's line, no newline
    assert "trusted host key" in (await trust(_spec(lab, known), confirm=lambda offer: True)).message
    lines = known.read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("[127.0.0.2]:2222 ")
    conn = await ssh.connect(_spec(lab, known, "node2"))
    conn.close()


def _inventory(lab, tmp_path, known) -> str:
    text = lab.inventory.read_text().replace(str(lab.known_hosts), str(known))
    path = tmp_path / "nodes.yaml"
    path.write_text(text)
    return str(path)


def test_cmd_trust_prints_the_fingerprint_and_records_with_yes(lab, tmp_path, capsys):
    known = tmp_path / "known_hosts"
    args = argparse.Namespace(node="node3", yes=True, inventory=_inventory(lab, tmp_path, known))
    assert cmd_trust(args) == 0
    out = capsys.readouterr().out
    assert fingerprint_of(lab.node(3).host_key_pub) in out
    assert known.read_text().startswith("[127.0.0.4]:2222 ssh-ed25519 ")


def test_cmd_trust_without_a_terminal_asks_for_yes_and_writes_nothing(lab, tmp_path, capsys, monkeypatch):
    known = tmp_path / "known_hosts"
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal: no question is asked
    args = argparse.Namespace(node="node3", yes=False, inventory=_inventory(lab, tmp_path, known))
    assert cmd_trust(args) == 1
    captured = capsys.readouterr()
    assert fingerprint_of(lab.node(3).host_key_pub) in captured.out
    assert "--yes" in captured.err
    assert not known.exists()
