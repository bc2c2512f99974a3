"""A folder of the operator's machine bound by a relative path, on the lab through the real
`tui-orch` command: the container reads the files of a subfolder (at two targets, read-only),
a changed file rolls the service out (revision 2) and the container sees the new text, and the
folder leaves the node with the service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from controller_support import cleanup, prefix
from test_controller_files_lab import SHM, in_containers, owner_of, tui

STACK = """\
services:
  {name}:
    volumes: ["./site:/srv:ro", "./site:/www:ro"]  # one copy, bound at two targets
    network_mode: host
    image: tuiorch/busybox:1
    stop_grace_period: 1s
    command: ["sleep", "3600"]
"""


def trees(state: Path) -> list[Path]:
    folder = SHM / owner_of(state)
    return sorted(folder.glob("*/tree-*")) if folder.exists() else []


def test_a_relative_folder_reaches_the_container_and_a_change_rolls_out(lab, tmp_path):
    pre, state = prefix(), tmp_path / "state"
    (tmp_path / "site/sub").mkdir(parents=True)
    (tmp_path / "site/sub/a.txt").write_text("a1\n")
    (tmp_path / "site/sub/b.txt").write_text("b1\n")
    file = tmp_path / "compose.yaml"
    file.write_text(STACK.format(name=f"{pre}web"))
    try:
        applied = tui(lab, state, "apply", "-f", str(file), planted="")
        assert applied.returncode == 0, applied.stderr
        seen = in_containers(lab, pre, "cat", "/srv/sub/a.txt", "/srv/sub/b.txt", "/www/sub/b.txt")
        assert list(seen.values()) == [(0, "a1\nb1\nb1\n")], seen
        written = in_containers(lab, pre, "sh", "-c", "echo x > /srv/sub/a.txt")
        assert all(code != 0 and "Read-only" in text for code, text in written.values()), written
        assert len(trees(state)) == 1
        # a changed file in the folder: revision 2, the container sees the new text, the old tree goes
        (tmp_path / "site/sub/b.txt").write_text("b2\n")
        rolled = tui(lab, state, "apply", "-f", str(file), planted="")
        assert rolled.returncode == 0, rolled.stderr
        seen = in_containers(lab, pre, "cat", "/srv/sub/a.txt", "/srv/sub/b.txt")
        assert list(seen.values()) == [(0, "a1\nb2\n")], seen
        revisions = json.loads(tui(lab, state, "get", "replicas", "-o", "json", planted="").stdout)
        assert {r["revision"] for r in revisions if r["service"] == f"{pre}web"} == {2}, revisions
        assert [(p / "sub/b.txt").read_text() for p in trees(state)] == ["b2\n"]
        removed = tui(lab, state, "rm", f"{pre}web", planted="")
        assert removed.returncode == 0, removed.stderr
        assert trees(state) == []
    finally:
        cleanup(lab, pre)
        shutil.rmtree(SHM / owner_of(state), ignore_errors=True)
