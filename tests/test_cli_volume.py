"""``tui-orch volume ls | move | rm`` on the lab, as a user runs them: a busybox "database"
writes a file into its named volume; ``volume move`` takes it to another node (the file
arrives, checksums equal, the replica runs there, the old volume is gone); a move to an
unknown or unreachable node fails in one line and changes nothing; ``rm`` refuses a volume
in use."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import docker.errors
import pytest

from controller_support import cleanup, prefix
from nodes_support import IMAGE, TEST_LABEL, direct_client, remove_volumes
from tui_orch.cli import main

pytestmark = pytest.mark.lab

DB = """
    name: {pre}
    services:
      {pre}:
        image: tuiorch/busybox:1
        network_mode: host
        command: ["sh", "-c", "test -f /data/hello || echo \\"written on $$TUI_ORCH_NODE\\" > /data/hello; sleep 3600"]
        stop_grace_period: 1s
        volumes: ["data:/data"]
    volumes:
      data: {{}}
"""


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def read_file(lab, node: str, volume: str) -> str | None:
    """/hello in the volume on that node (None: no such volume there), read behind tui-orch's back."""
    client = direct_client(next(n for n in lab.nodes if n.name == node))
    try:
        client.api.inspect_volume(volume)
        return client.containers.run(IMAGE, ["cat", "/v/hello"], volumes={volume: {"bind": "/v", "mode": "ro"}},
                                     network_mode="none", remove=True, labels={TEST_LABEL: "volume"}).decode()
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


def inventory_with_a_dead_node(lab, tmp_path: Path) -> str:
    """The lab's inventory plus node9, where nothing listens (unreachable, no fault injected)."""
    text = Path(lab.inventory).read_text().rstrip("\n") + (
        "\n  - name: node9\n    address: 127.0.0.9\n    port: 2222\n    user: root\n")
    path = tmp_path / "nodes.yaml"
    path.write_text(text)
    return str(path)


def replica(capsys, common: list[str]) -> dict:
    status, out, _ = cli(capsys, "get", "replicas", "-o", "json", *common)
    assert status == 0
    [row] = json.loads(out)
    return row


def test_volume_move_takes_the_data_along(lab, tmp_path, capsys) -> None:
    pre = prefix()
    volume = f"{pre}_data"
    file = tmp_path / "db.yaml"
    file.write_text(textwrap.dedent(DB.format(pre=pre)))
    common = ["--state", str(tmp_path / "state"), "--inventory", inventory_with_a_dead_node(lab, tmp_path)]
    try:
        status, out, err = cli(capsys, "apply", "-f", str(file), *common)
        assert status == 0, err
        old = replica(capsys, common)["node"]
        written = f"written on {old}\n"
        assert read_file(lab, old, volume) == written  # the replica wrote it into its mounted volume
        status, out, _ = cli(capsys, "volume", "ls", "-o", "json", *common)
        assert {(r["name"], r["node"], tuple(r["replicas"]), r["in_use"]) for r in json.loads(out)
                if r["name"] == volume} == {(volume, old, (f"{pre}.1",), True)}
        status, _, err = cli(capsys, "volume", "rm", volume, *common)
        errors = [line for line in err.splitlines() if line.startswith("tui-orch: ")]  # (node9 unlisted: a note)
        assert (status, errors) == (1, [f"tui-orch: volume {volume} on {old} is used by replica {pre}.1; "
                                        f"remove the service or move the replica first"])

        for bad, why in (("nowhere", "there is no node nowhere in the inventory"),
                         ("node9", "node node9 (the destination) is Unreachable")):
            status, _, err = cli(capsys, "volume", "move", pre, bad, *common)
            errors = [line for line in err.splitlines() if line.startswith("tui-orch: ")]  # (node9 unlisted: a note)
            assert status == 1 and len(errors) == 1 and why in errors[0], err
            assert replica(capsys, common)["node"] == old and read_file(lab, old, volume) == written

        target = next(n.name for n in lab.nodes if n.name != old)
        status, out, err = cli(capsys, "volume", "move", pre, target, *common)
        assert status == 0, err
        assert f"{pre}.1 moved from {old} to {target} with volume {volume}" in out and "checksums equal" in out
        row = replica(capsys, common)
        assert (row["node"], row["state"]) == (target, "running")
        assert read_file(lab, target, volume) == written  # the data, not a fresh start ("written on node2")
        assert read_file(lab, old, volume) is None  # the old copy is gone
        status, out, _ = cli(capsys, "volume", "ls", *common)
        assert [line.split()[:2] for line in out.splitlines() if line.startswith(volume + " ")] == [[volume, target]]
    finally:
        cli(capsys, "rm", pre, *common)
        cleanup(lab, pre)
        remove_volumes(lab, volume)
