"""Secrets and configs on the lab, through the real `tui-orch` command: a secret planted in an
environment variable reaches the containers (read-only, at /run/secrets/NAME) and appears
nowhere else (state folder, every CLI output incl. -o json, events, the containers' inspect);
a config file and a relative bind mount's file changed on disk roll the service out; the files leave the nodes with the
service."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

from controller_support import cleanup, owned, prefix
from nodes_support import direct_client

SHM = Path("/dev/shm/tui-orch")  # the lab's nodes share this machine's tmpfs
STACK = """\
secrets:
  pw: {{environment: TUI_ORCH_TEST_PW}}
configs:
  app: {{file: ./app.conf}}
services:
  {name}:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    network_mode: host
    secrets: [pw]
    configs: [{{source: app, target: /etc/app.conf}}]
    volumes: ["./page.txt:/etc/page.txt:ro"]
    deploy:
      replicas: 2
      placement: {{max_replicas_per_node: 1}}
"""


def tui(lab, state: Path, *args: str, planted: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "tui-orch"
    env = {**os.environ, "TUI_ORCH_TEST_PW": planted}
    return subprocess.run([str(exe), *args, "--state", str(state), "--inventory", str(lab.inventory)],
                          capture_output=True, text=True, timeout=120, env=env)


def in_containers(lab, pre: str, *cmd: str) -> dict[str, tuple[int, str]]:
    """container id -> (exit code, output) of ``cmd`` in each running container of ``pre``."""
    out = {}
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for c in owned(lab, pre)[lab_node.name]:
                if c["State"] == "running":
                    code, text = client.containers.get(c["Id"]).exec_run(list(cmd))
                    out[c["Id"]] = (code, text.decode())
        finally:
            client.close()
    return out


def inspected(lab, pre: str) -> str:
    parts = []
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            parts += [json.dumps(client.api.inspect_container(c["Id"])) for c in owned(lab, pre)[lab_node.name]]
        finally:
            client.close()
    return "\n".join(parts)


def owner_of(state: Path) -> str:
    return hashlib.sha256(f"{socket.gethostname()}:{os.path.realpath(state)}".encode()).hexdigest()[:12]


def shm_holding(state: Path, value: bytes) -> list[Path]:
    """The files of the state folder's owner in the nodes' tmpfs that hold ``value``."""
    folder = SHM / owner_of(state)
    return [p for p in folder.rglob("*") if p.is_file() and value in p.read_bytes()] if folder.exists() else []


def test_a_secret_reaches_the_containers_and_appears_nowhere_else(lab, tmp_path):
    pre, state = prefix(), tmp_path / "state"
    planted = "pw-" + uuid.uuid4().hex + "-PLANTED"
    (tmp_path / "app.conf").write_text("level=1\n")
    (tmp_path / "page.txt").write_text("page 1\n")
    file = tmp_path / "compose.yaml"
    file.write_text(STACK.format(name=f"{pre}db"))
    outputs = []
    try:
        outputs.append(tui(lab, state, "validate", str(file), "-o", "json", planted=planted))
        outputs.append(tui(lab, state, "apply", "-f", str(file), "--dry-run", planted=planted))
        applied = tui(lab, state, "apply", "-f", str(file), planted=planted)
        assert applied.returncode == 0, applied.stderr
        outputs.append(applied)
        seen = in_containers(lab, pre, "cat", "/run/secrets/pw", "/etc/app.conf", "/etc/page.txt")
        assert list(seen.values()) == [(0, planted + "level=1\npage 1\n")] * 2, seen
        written = in_containers(lab, pre, "sh", "-c", "echo x > /run/secrets/pw")
        assert all(code != 0 and "Read-only" in text for code, text in written.values()), written
        assert len(shm_holding(state, planted.encode())) == 2  # one copy per node, in the tmpfs
        for args in (("get", "services", "-o", "json"), ("get", "replicas", "-o", "json"), ("get", "replicas"),
                     ("events", "-o", "json"), ("events",)):
            outputs.append(tui(lab, state, *args, planted=planted))
        # a changed config file: a new revision, rolled out; the containers see the new text
        (tmp_path / "app.conf").write_text("level=2\n")
        (tmp_path / "page.txt").write_text("page 2\n")
        rolled = tui(lab, state, "apply", "-f", str(file), planted=planted)
        assert rolled.returncode == 0, rolled.stderr
        outputs.append(rolled)
        seen = in_containers(lab, pre, "cat", "/etc/app.conf", "/etc/page.txt")
        assert list(seen.values()) == [(0, "level=2\npage 2\n")] * 2, seen
        revisions = json.loads(tui(lab, state, "get", "replicas", "-o", "json", planted=planted).stdout)
        assert {r["revision"] for r in revisions if r["service"] == f"{pre}db"} == {2}, revisions
        assert planted not in inspected(lab, pre)  # not in env, labels, command, mounts
        for result in outputs:
            assert planted not in result.stdout + result.stderr, result.args
        for path in state.rglob("*"):
            if path.is_file():
                assert planted.encode() not in path.read_bytes(), path
        # the service removed: its files leave the nodes
        removed = tui(lab, state, "rm", f"{pre}db", planted=planted)
        assert removed.returncode == 0, removed.stderr
        assert shm_holding(state, planted.encode()) == []
        assert shm_holding(state, b"level=2\n") == [] and shm_holding(state, b"page 2\n") == []
    finally:
        cleanup(lab, pre)
        for leftover in shm_holding(state, b""):
            leftover.unlink()
        for folder in sorted(SHM.glob(f"{owner_of(state)}/*")) + [SHM / owner_of(state)]:
            if folder.is_dir():
                folder.rmdir()  # the empty folders of this test's state folder
