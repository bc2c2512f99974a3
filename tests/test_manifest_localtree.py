"""Folders of the operator's machine bound by a relative path: the walk, its digest and its
limits (localtree.py), and validate reporting what apply would refuse, with file:line:col."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_orch.errors import ManifestError
from tui_orch.manifest import load_manifest
from tui_orch.manifest.localtree import MAX_DEPTH, MAX_ENTRIES, FileRefused, is_tree, walk


def site(tmp_path: Path) -> Path:
    (tmp_path / "site/sub").mkdir(parents=True)
    (tmp_path / "site/index.html").write_text("hello\n")
    (tmp_path / "site/sub/run.sh").write_text("echo hi\n")
    os.chmod(tmp_path / "site/sub/run.sh", 0o755)
    return tmp_path / "site"


def test_a_folder_is_walked_in_order_with_the_modes_delivered(tmp_path):
    tree = walk(str(site(tmp_path)))
    assert [(e.path, e.folder, oct(e.mode), e.data) for e in tree.entries] == [
        ("index.html", False, "0o444", b"hello\n"),
        ("sub", True, "0o755", b""),
        ("sub/run.sh", False, "0o555", b"echo hi\n"),
    ]
    assert is_tree(tree.digest) and tree.size == 14


def test_the_digest_follows_content_paths_and_execute_bits_only(tmp_path):
    root = site(tmp_path)
    first = walk(str(root)).digest
    os.utime(root / "index.html", (1, 1))
    os.chmod(root / "index.html", 0o600)  # not what the container sees (it gets 0444)
    assert walk(str(root)).digest == first
    (root / "index.html").write_text("hello!\n")
    changed = walk(str(root)).digest
    assert changed != first
    os.chmod(root / "index.html", 0o700)
    assert walk(str(root)).digest != changed
    (root / "index.html").rename(root / "other.html")
    assert walk(str(root)).digest not in (first, changed)


def test_a_fifo_inside_is_refused_naming_it(tmp_path):
    root = site(tmp_path)
    os.mkfifo(root / "sub/pipe")
    with pytest.raises(FileRefused, match=r"^holds sub/pipe, a named pipe \(FIFO\); only files and folders"):
        walk(str(root))


def test_links_inside_are_followed_and_links_out_refused(tmp_path):
    root = site(tmp_path)
    (root / "alias.html").symlink_to("index.html")
    (root / "subdir").symlink_to("sub")
    paths = {e.path: e.data for e in walk(str(root)).entries}
    assert paths["alias.html"] == b"hello\n" and paths["subdir/run.sh"] == b"echo hi\n"
    (root / "subdir").unlink()
    (tmp_path / "secret.txt").write_text("x")
    (root / "sub/out").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(FileRefused, match=r"^holds sub/out, a link out of the folder \(to .*secret.txt\)"):
        walk(str(root))


def test_a_link_to_a_folder_above_is_a_loop(tmp_path):
    root = site(tmp_path)
    (root / "sub/up").symlink_to("..")
    with pytest.raises(FileRefused, match=r"^holds sub/up, a link to a folder above it \(a loop\)"):
        walk(str(root))


def test_more_than_10000_entries_is_refused_with_what_to_do(tmp_path):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(MAX_ENTRIES + 1):
        (root / f"f{i}").touch()
    with pytest.raises(FileRefused, match=r"^holds more than 10,000 files and folders; use a named volume, or bake it"):
        walk(str(root), read=False)
    (root / "f0").unlink()
    assert len(walk(str(root), read=False).entries) == MAX_ENTRIES


def test_too_many_bytes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("tui_orch.manifest.localtree.MAX_BYTES", 1000)
    root = site(tmp_path)
    (root / "big.bin").write_bytes(b"x" * 1000)
    with pytest.raises(FileRefused, match=r"^holds more than 0 MiB; use a named volume"):
        walk(str(root))


def test_deep_nesting_is_refused_without_recursion(tmp_path):
    root = tmp_path / "deep"
    path = root
    for _ in range(MAX_DEPTH + 2):
        path = path / "d"
    path.mkdir(parents=True)
    with pytest.raises(FileRefused, match=rf"^is more than {MAX_DEPTH} folders deep \(at d/d/"):
        walk(str(root))


STACK = """\
services:
  web:
    image: nginx
    volumes:
      - ./site:/usr/share/nginx/html:ro
      - {type: bind, source: ./conf, target: /etc/x}
"""


def test_validate_reports_what_apply_would_refuse_with_line_and_column(tmp_path):
    (tmp_path / "compose.yaml").write_text(STACK)
    site(tmp_path)
    os.mkfifo(tmp_path / "site/pipe")
    with pytest.raises(ManifestError) as exc:
        load_manifest(tmp_path / "compose.yaml")
    assert [str(p) for p in exc.value.problems] == [
        f"{tmp_path}/compose.yaml:5:9: services.web.volumes[0]: {tmp_path}/site holds pipe, a named pipe (FIFO); "
        "only files and folders are copied to the nodes",
        f"{tmp_path}/compose.yaml:6:30: services.web.volumes[1]: {tmp_path}/conf not found; create it "
        "(tui-orch copies it to the nodes)",
    ]
    (tmp_path / "site/pipe").unlink()
    (tmp_path / "conf").mkdir()
    mounts = load_manifest(tmp_path / "compose.yaml").services[0].mounts
    assert [(m.source, m.local) for m in mounts] == [(f"{tmp_path}/site", True), (f"{tmp_path}/conf", True)]


def test_a_writable_relative_bind_is_said_once_to_be_read_only(tmp_path):
    site(tmp_path)
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: nginx\n    volumes: ['./site:/srv', './site:/www:ro']\n")
    warnings = [str(w) for w in load_manifest(tmp_path / "compose.yaml").warnings]
    assert warnings == [
        f"{tmp_path}/compose.yaml:4:15: warning: services.web.volumes[0]: {tmp_path}/site is copied to each node and bound "
        "read-only: the container cannot write back to this machine; add :ro to say so, or use a named volume for "
        "data it writes"]


def test_validate_refuses_a_special_or_too_large_file_as_apply_does(tmp_path, monkeypatch):
    monkeypatch.setattr("tui_orch.manifest.localtree.MAX_FILE_BYTES", 4)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "big.conf").write_text("12345")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: nginx\n    volumes: ['./pipe:/a:ro', './big.conf:/b:ro']\n")
    with pytest.raises(ManifestError) as exc:
        load_manifest(tmp_path / "compose.yaml")
    assert [p.message for p in exc.value.problems] == [
        f"{tmp_path}/pipe is a named pipe (FIFO); give the path of a file or a folder",
        f"{tmp_path}/big.conf is larger than 0 MiB; use a named volume, or bake it into the image"]
