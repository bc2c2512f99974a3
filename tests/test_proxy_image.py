"""The lab's edge proxy image (tests/lab/labparts/proxyimage.py): Debian's haproxy and every
library it needs in a rootfs tar that runs on its own (tried in a chroot: no library of this
machine is reachable there), the same bytes each time, and one sentence when apt fails."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from labparts.layout import LabError
from labparts.proxyimage import IMPORT_CHANGES, extracted, proxy_image_tar
from proxy_support import free_port, get, start_replica
from tui_orch.traffic import haproxy
from tui_orch.traffic.model import Backend, Listener, ProxyConfig, Server


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory, haproxy_argv) -> tuple[Path, Path]:
    """(the tar, the folder it is unpacked in)."""
    folder = tmp_path_factory.mktemp("proxy-image")
    tar = proxy_image_tar(folder / "rootfs.tar")
    root = folder / "rootfs"
    with tarfile.open(tar) as archive:
        archive.extractall(root, filter="tar")
    # what Docker gives every container (haproxy's worker opens /dev/null); needs root, as the lab
    (root / "dev").mkdir()
    os.mknod(root / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return tar, root


def chroot(root: Path, *argv: str, user: str = "0:0") -> list[str]:
    """argv run inside root with the image's environment only."""
    command = [shutil.which("chroot") or "/usr/sbin/chroot", f"--userspec={user}", str(root), *argv]
    image_env = [c.split(" ", 1)[1] for c in IMPORT_CHANGES if c.startswith("ENV ")]  # PATH, as docker sets it
    return ["env", "-i", *image_env, *command]


def test_the_image_is_the_same_bytes_each_time(rootfs, tmp_path):
    tar, _ = rootfs
    again = proxy_image_tar(tmp_path / "again.tar")
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(tar.read_bytes()).digest()
    with tarfile.open(tar) as archive:
        names = set(archive.getnames())
        assert {m.mtime for m in archive.getmembers()} == {1_700_000_000}
    assert {"usr/local/sbin/haproxy", "usr/sbin/haproxy", "etc/passwd", "etc/group",
            "usr/local/etc/haproxy", "var/lib/haproxy"} <= names


def test_the_image_runs_haproxy_alone_as_root_and_as_the_haproxy_user(rootfs):
    _, root = rootfs
    version = subprocess.run(chroot(root, "/usr/sbin/haproxy", "-v"), capture_output=True, text=True, timeout=30)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("HAProxy version 2.6.")
    assert "haproxy:x:99:99:" in (root / "etc/passwd").read_text()
    config = ProxyConfig((Listener("web", 8080, "web"),), (Backend("web", (Server("a", "::1", 80, "drain"),)),),
                         admin_socket="/var/lib/haproxy/admin.sock")
    (root / "usr/local/etc/haproxy/haproxy.cfg").write_text(haproxy.render(config))
    check = subprocess.run(chroot(root, "haproxy", "-c", "-f", "/usr/local/etc/haproxy/haproxy.cfg", user="99:99"),
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
            s.sendall(b"show info\n")
            return s.recv(100).startswith(b"Name: HAProxy")
        except OSError:
            return False


def test_the_image_routes_a_request_to_a_replica(rootfs):
    _, root = rootfs
    replica, port = start_replica("r1"), free_port()
    config = ProxyConfig((Listener("web", port, "web", bind="127.0.0.1"),),
                         (Backend("web", (Server("r1", "127.0.0.1", replica.port),)),), admin_socket="/run/admin.sock")
    (root / "usr/local/etc/haproxy/haproxy.cfg").write_text(haproxy.render(config))
    process = subprocess.Popen(chroot(root, "haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"),
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not _answers(root / "run/admin.sock"):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "no answer on the admin socket within 10 s"
            time.sleep(0.02)
        assert [get(port) for _ in range(3)] == ["r1"] * 3
    finally:
        replica.kill()
        with contextlib.suppress(ProcessLookupError):  # haproxy may have exited: the failure says why
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def test_no_network_to_the_mirrors_is_one_sentence(tmp_path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\necho 'E: Failed to fetch http://deb.debian.org/debian' >&2\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    with pytest.raises(LabError) as failed:
        extracted(tmp_path / "cache")
    assert str(failed.value) == (
        f"apt-get download haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1 failed in {tmp_path / 'cache'} "
        "(E: Failed to fetch http://deb.debian.org/debian): the haproxy packages need network access to the Debian mirrors")
