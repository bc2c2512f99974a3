"""Delivered files on a node's tmpfs (nodes/nodefiles.py, the local node's path): folders are
made 0700 one by one, and a folder someone else made beforehand (open to others, a link) is
refused before any byte is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_orch.nodes import nodefiles


def test_folders_are_private_and_a_prepared_folder_is_refused(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "shm" / "tui-orch"
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(nodefiles, "ROOT", str(root))
    path = f"{root}/owner/node1/abc-0-0-400"
    nodefiles.local_put(path, b"value", 0o400, 0, 0)
    assert Path(path).read_bytes() == b"value" and Path(path).stat().st_mode & 0o777 == 0o400
    for folder in (root, root / "owner", root / "owner" / "node1"):
        assert folder.stat().st_mode & 0o777 == 0o700
    # another user's folder, or one open to others, is never written into
    os.chmod(root / "owner", 0o755)
    with pytest.raises(PermissionError, match="is not a private folder"):
        nodefiles.local_put(f"{root}/owner/node1/def-0-0-444", b"other", 0o444, 0, 0)
    assert not (root / "owner" / "node1" / "def-0-0-444.part").exists()
    os.chmod(root / "owner", 0o700)
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (root / "owner" / "node2").symlink_to(target)
    with pytest.raises(PermissionError, match="is not a private folder"):
        nodefiles.local_put(f"{root}/owner/node2/abc-0-0-444", b"value", 0o444, 0, 0)
    assert list(target.iterdir()) == []


def test_a_folder_is_written_whole_with_its_modes_and_removed(tmp_path: Path, monkeypatch) -> None:
    from tui_orch.manifest.localtree import Entry

    root = tmp_path / "shm" / "tui-orch"
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(nodefiles, "ROOT", str(root))
    path = f"{root}/owner/node1/tree-abc"
    entries = [Entry("a.txt", False, 0o444, b"a"), Entry("sub", True, 0o755), Entry("sub/run", False, 0o555, b"#!")]
    nodefiles.local_put_tree(f"{root}/owner/node1/tree-other", entries[:1])
    os.makedirs(path + ".part/stale")  # a write cut short
    nodefiles.local_put_tree(path, entries)
    assert sorted(str(p.relative_to(path)) for p in Path(path).rglob("*")) == ["a.txt", "sub", "sub/run"]
    assert [Path(path, e.path).stat().st_mode & 0o777 for e in entries] == [0o444, 0o755, 0o555]
    assert Path(path, "sub/run").read_bytes() == b"#!" and not Path(path + ".part").exists()
    assert (root / "owner" / "node1").stat().st_mode & 0o777 == 0o700
    nodefiles.local_remove_tree(path)
    assert not Path(path).exists()
    os.chmod(root / "owner", 0o755)  # a folder open to others is never written into
    with pytest.raises(PermissionError, match="is not a private folder"):
        nodefiles.local_put_tree(path, entries)
    assert not Path(path).exists()
