"""The edge proxy for the lab: Debian's haproxy 2.6 binary, run here for tests or imported
into the lab's engines as tuiorch/haproxy:2.6 (users pull the official haproxy:2.6 image).

Nothing is installed on this machine: `apt-get download` fetches the packages into a cache
folder and `dpkg -x` unpacks them there. The image is a rootfs tar for `docker import`
(with IMPORT_CHANGES), reproducible like the busybox image: same bytes for the same
packages and libraries.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from labparts.image import _tar
from labparts.layout import DEFAULT_LAB_DIR, LabError

PROXY_IMAGE = "tuiorch/haproxy:2.6"
PACKAGES = ("haproxy", "liblua5.3-0", "libopentracing-c-wrapper0", "libopentracing1")
DEFAULT_CACHE = Path(DEFAULT_LAB_DIR) / "proxy-debs"
CONFIG_DIR = "usr/local/etc/haproxy"
# As the official image: haproxy in /usr/local/sbin, the user haproxy (uid and gid 99), its
# home /var/lib/haproxy. (`docker import` takes no STOPSIGNAL: the edge proxy container is
# created with stop signal SIGUSR1, a soft stop: established connections finish.)
IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "USER haproxy",
    "WORKDIR /var/lib/haproxy",
    'CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
)
_APT_TIMEOUT = 300.0


def _run(argv: "list[str]", cwd: Path, timeout: float = _APT_TIMEOUT) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _apt_options() -> "list[str]":
    opts = []
    if os.geteuid() == 0:  # apt drops to _apt, which may not write the cache folder
        opts += ["-o", "APT::Sandbox::User=root"]
    return opts


def _private_lists(cache: Path) -> "list[str]":
    """apt options that keep package lists in the cache folder, not the machine's (a fresh
    machine may have no lists at all, and this must change nothing on it)."""
    lists, apt_cache = cache / "apt-lists", cache / "apt-cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (apt_cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    return ["-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={apt_cache}"]


def _download(cache: Path) -> None:
    """The .deb files into cache, with the machine's package lists, else with fresh lists of
    its own; LabError when neither works (no network to the Debian mirrors)."""
    work = Path(tempfile.mkdtemp(prefix="download-", dir=cache))
    try:
        result = _run(["apt-get", *_apt_options(), "download", *PACKAGES], work)
        if result.returncode != 0:
            private = _private_lists(cache)
            update = _run(["apt-get", *_apt_options(), *private, "update"], work)
            result = update if update.returncode != 0 else _run(
                ["apt-get", *_apt_options(), *private, "download", *PACKAGES], work)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise LabError(f"apt-get download {' '.join(PACKAGES)} failed in {cache} ({last}): "
                           f"the haproxy packages need network access to the Debian mirrors")
        for deb in work.glob("*.deb"):
            os.replace(deb, cache / deb.name)
    except FileNotFoundError:
        raise LabError("apt-get is missing: the haproxy packages are fetched with Debian's apt-get") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _debs(cache: Path) -> "list[Path] | None":
    found = []
    for package in PACKAGES:
        matches = sorted(cache.glob(f"{package}_*.deb"))
        if not matches:
            return None
        found.append(matches[-1])
    return found


def extracted(cache: "Path | str | None" = None) -> Path:
    """The folder the packages are unpacked in (downloaded and unpacked once per cache)."""
    cache = Path(cache or DEFAULT_CACHE)
    root = cache / "root"
    if (root / "usr/sbin/haproxy").is_file():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    debs = _debs(cache)
    if debs is None:
        _download(cache)
        debs = _debs(cache)
    if debs is None:
        raise LabError(f"apt-get download left no haproxy packages in {cache}")
    work = Path(tempfile.mkdtemp(prefix="root-", dir=cache))
    for deb in debs:
        result = _run(["dpkg", "-x", str(deb), str(work)], cache, timeout=60)
        if result.returncode != 0:
            raise LabError(f"dpkg -x {deb} failed: {result.stderr.strip()}")
    try:
        os.rename(work, root)  # atomic: another session unpacking at the same time is harmless
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return root


def _library_dirs(root: Path) -> "list[str]":
    return sorted({str(p.parent) for p in root.glob("usr/lib/*/*.so*")})


def haproxy_command(cache: "Path | str | None" = None) -> "tuple[list[str], dict[str, str]]":
    """(argv, env) that run the unpacked haproxy on this machine: its own libraries from the
    packages, the rest from the machine (LD_LIBRARY_PATH)."""
    root = extracted(cache)
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(_library_dirs(root)))
    return [str(root / "usr/sbin/haproxy")], env


_LDD_LINE = re.compile(r"^\s*(?:(\S+) => )?(/\S+) \(0x[0-9a-f]+\)$")


def _needed(root: Path) -> "list[tuple[str, Path]]":
    """(path in the image, file on this machine) of every library haproxy loads and of the
    dynamic loader. A library from the packages keeps its path in them; one of the machine
    goes under usr/lib, and /lib is a link to it (merged /usr, as Debian 12)."""
    argv, env = haproxy_command(root.parent)
    result = subprocess.run(["ldd", argv[0]], env=env, capture_output=True, text=True, timeout=30)
    if result.returncode != 0 or "not found" in result.stdout:
        raise LabError(f"ldd {argv[0]} failed: {(result.stdout + result.stderr).strip()[:300]}")
    needed = []
    for line in result.stdout.splitlines():
        match = _LDD_LINE.match(line)
        if not match:
            continue  # linux-vdso: in the kernel, not a file
        path = Path(match.group(2))
        if path.is_relative_to(root):
            needed.append((str(path.relative_to(root)), path))
        elif path.parts[1] == "lib":  # /lib/x86_64-linux-gnu/libc.so.6
            needed.append(("usr/" + str(path)[1:], path))
        else:  # /lib64/ld-linux-x86-64.so.2, /usr/lib/...
            needed.append((str(path)[1:], path))
    return sorted(needed)


def _dirs_of(paths: "list[str]") -> "list[str]":
    dirs = set()
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1))
    return sorted(dirs)


def proxy_image_tar(dest: "Path | str", cache: "Path | str | None" = None) -> Path:
    """Write a rootfs tar for `docker import` (with IMPORT_CHANGES) holding haproxy in
    /usr/local/sbin (and /usr/sbin), the libraries it needs, root and haproxy users and
    /usr/local/etc/haproxy/. The same packages and libraries give the same bytes."""
    root = extracted(cache)
    libraries = _needed(root)
    files = [("usr/local/sbin/haproxy", (root / "usr/sbin/haproxy").read_bytes(), 0o755)]
    files += [(name, path.read_bytes(), 0o755) for name, path in libraries]
    files += [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nhaproxy:x:99:99:haproxy:/var/lib/haproxy:/usr/sbin/nologin\n", 0o644),
        ("etc/group", "root:x:0:\nhaproxy:x:99:\n", 0o644),
    ]
    # the tar writer makes every entry root's: haproxy's home is writable by all, sticky as /tmp
    own = [f"{d}/" for d in ("root", "tmp", "run", "var/lib", "usr/sbin", CONFIG_DIR)]
    dirs = sorted(set(_dirs_of([name for name, _, _ in files] + own)) - {"lib/"})
    entries = [(d, "dir", b"", 0o1777 if d == "tmp/" else 0o755) for d in dirs]
    entries += [("var/lib/haproxy/", "dir", b"", 0o1777), ("lib", "link", "usr/lib", 0o777),
                ("usr/sbin/haproxy", "link", "../local/sbin/haproxy", 0o777)]
    entries += [(name, "file", data, mode) for name, data, mode in files]
    dest = Path(dest)
    dest.write_bytes(_tar(sorted(entries, key=lambda e: e[0])))
    return dest


def ensure_proxy_image(node, cache: "Path | str | None" = None) -> bool:
    """Import tuiorch/haproxy:2.6 into node's engine unless it is there; True when imported.
    The edge proxies of the lab's nodes run it (the lab inventory's edge_image)."""
    import urllib.parse

    from labparts.engine import docker_api
    from labparts.image import _image_id

    if _image_id(node, PROXY_IMAGE):
        return False
    folder = Path(cache) if cache is not None else DEFAULT_CACHE
    folder.mkdir(parents=True, exist_ok=True)
    tar = folder / "haproxy-rootfs.tar"
    if not tar.exists():
        proxy_image_tar(tar.with_suffix(".part"), cache)
        tar.with_suffix(".part").replace(tar)
    repo, tag = PROXY_IMAGE.split(":")
    query = urllib.parse.urlencode([("fromSrc", "-"), ("repo", repo), ("tag", tag)]
                                   + [("changes", c) for c in IMPORT_CHANGES])
    status, body = docker_api(node.socket, "POST", f"/images/create?{query}", body=tar.read_bytes(),
                              content_type="application/x-tar", timeout=120)
    if status != 200 or b'"error"' in body or not _image_id(node, PROXY_IMAGE):
        raise LabError(f"{node.name}: importing {PROXY_IMAGE} failed ({status}): {body[:200]!r}")
    return True
