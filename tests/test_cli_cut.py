"""Commands run while a node is cut off (its sshd killed: its engine and containers keep
running), with no console open: the replica there is placed elsewhere, and once the node is
back the next command that takes the state removes the copy left there (its replacement
runs), instead of leaving it running with no record (an orphan, a duplicate of the replica)."""

from __future__ import annotations

import json
from pathlib import Path

from controller_support import cleanup, owned, prefix
from test_controller_nodeloss import SERVICE  # 2 replicas of `sleep`, one per node
from test_controller_unowned import tui


def replicas(lab, state: Path) -> list[dict]:
    result = tui(lab, state, "get", "replicas", "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def running(lab, pre: str) -> dict[str, str]:
    """container id -> node, of the running containers of ``pre`` on the lab's nodes."""
    return {c["Id"]: node for node, found in owned(lab, pre).items() for c in found if c["State"] == "running"}


def test_a_copy_left_on_a_cut_node_is_removed_by_the_next_command_once_it_is_back(lab, tmp_path):
    pre, state, file = prefix(), tmp_path / "state", tmp_path / "web.yaml"
    file.write_text(SERVICE.format(name=pre))
    try:
        assert tui(lab, state, "apply", "-f", str(file)).returncode == 0
        before = replicas(lab, state)
        victim = before[0]
        cut = victim["node"]
        lab.kill_sshd(cut)
        try:
            moved = tui(lab, state, "apply", "-f", str(file))  # the same file, the node away
            assert moved.returncode == 0, moved.stderr
            assert f"node {cut} could not be listed" in moved.stderr
            assert f"running: {victim['key']}" in moved.stdout, moved.stdout
            during = {r["key"]: r for r in replicas(lab, state)}
            assert during[victim["key"]]["node"] != cut, during
            assert victim["container_id"] in {i[:12] for i in running(lab, pre)}  # still runs there, unseen
        finally:
            lab.start_sshd(cut)

        after = tui(lab, state, "apply", "-f", str(file))  # the node back: the copy is found
        assert after.returncode == 0, after.stderr
        found = running(lab, pre)
        records = replicas(lab, state)
        assert sorted(i[:12] for i in found) == sorted(r["container_id"] for r in records), (found, records)
        assert len(found) == 2 and len(set(found.values())) == 2, found  # one per node, as the file says
        assert all(r["state"] == "running" for r in records), records
        assert not [r for r in records if r["state"] == "unowned"], records
    finally:
        lab.start_sshd(cut) if "cut" in locals() else None
        cleanup(lab, pre)
