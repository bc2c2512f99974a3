"""The busybox image archive loaded into every engine (reproducible: same image ID everywhere)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import platform
import shutil
import struct
import tarfile
import time
from pathlib import Path

from labparts.engine import docker_api
from labparts.layout import APPLETS, FIXED_MTIME, IMAGE_REPO, IMAGE_VERSIONS, INSTALL_HINT, LabError, NodeLab


def _elf_is_static(path: Path) -> bool:
    """True when the ELF file has no PT_INTERP program header (no dynamic loader)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF":
            return False
        is64, little = head[4] == 2, head[5] == 1
        end = "<" if little else ">"
        if is64:
            phoff, = struct.unpack(end + "Q", head[32:40])
            phentsize, phnum = struct.unpack(end + "HH", head[54:58])
        else:
            phoff, = struct.unpack(end + "I", head[28:32])
            phentsize, phnum = struct.unpack(end + "HH", head[42:46])
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, = struct.unpack(end + "I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def find_busybox() -> Path:
    for candidate in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox")):
        if candidate and os.path.isfile(candidate) and _elf_is_static(Path(candidate)):
            return Path(candidate)
    raise LabError(f"no statically linked busybox found: {INSTALL_HINT}")


def _tar(entries: "list[tuple[str, str, bytes | str, int]]") -> bytes:
    """A reproducible tar: (name, kind 'dir'|'file'|'link', data|target, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid = FIXED_MTIME, mode, 0, 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, str(data)
                tar.addfile(info)
            else:
                payload = data if isinstance(data, bytes) else data.encode()
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _docker_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)


def build_image_archive(busybox: Path) -> "tuple[bytes, dict[str, str]]":
    """A `docker save`-format archive holding tuiorch/busybox:1 and :2 (a shared base
    layer with busybox, plus one small layer each with /VERSION and /www). Returns the
    archive and {tag: image id}; the ids are the same on every engine and every run."""
    binary = busybox.read_bytes()
    base = _tar(
        [("bin/", "dir", b"", 0o755), ("bin/busybox", "file", binary, 0o755)]
        + [(f"bin/{a}", "link", "busybox", 0o777) for a in APPLETS]
        + [("etc/", "dir", b"", 0o755),
           ("etc/passwd", "file", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644),
           ("etc/group", "file", "root:x:0:\nnogroup:x:65534:\n", 0o644),
           ("root/", "dir", b"", 0o700), ("tmp/", "dir", b"", 0o1777), ("www/", "dir", b"", 0o755)]
    )
    layers = {"base": base}
    for v in IMAGE_VERSIONS:
        html = f"<!doctype html>\n<title>tuiorch/busybox:{v}</title>\n<p>tuiorch/busybox version {v}</p>\n"
        layers[v] = _tar([
            ("VERSION", "file", f"{v}\n", 0o644),
            ("www/", "dir", b"", 0o755),
            ("www/index.html", "file", html, 0o644),
            ("www/VERSION", "file", f"{v}\n", 0o644),
        ])
    digest = {k: hashlib.sha256(t).hexdigest() for k, t in layers.items()}
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(FIXED_MTIME))
    files: list[tuple[str, bytes]] = [(f"{digest[k]}/layer.tar", t) for k, t in layers.items()]
    manifest, ids = [], {}
    for v in IMAGE_VERSIONS:
        config = {
            "architecture": _docker_arch(),
            "os": "linux",
            "created": created,
            "config": {
                "Env": ["PATH=/bin"],
                "Cmd": ["sh"],
                "WorkingDir": "/",
                "Labels": {"org.tui-orch.lab": "true", "org.tui-orch.lab.version": v},
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest['base']}", f"sha256:{digest[v]}"]},
            "history": [
                {"created": created, "created_by": f"tui-orch lab: static busybox ({len(binary)} bytes)"},
                {"created": created, "created_by": f"tui-orch lab: /VERSION {v}, /www"},
            ],
        }
        raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image_id = hashlib.sha256(raw).hexdigest()
        ids[f"{IMAGE_REPO}:{v}"] = "sha256:" + image_id
        files.append((f"{image_id}.json", raw))
        manifest.append({
            "Config": f"{image_id}.json",
            "RepoTags": [f"{IMAGE_REPO}:{v}"],
            "Layers": [f"{digest['base']}/layer.tar", f"{digest[v]}/layer.tar"],
        })
    files.append(("manifest.json", json.dumps(manifest, sort_keys=True).encode()))
    entries: list = []
    for name, data in files:
        if "/" in name:
            entries.append((name.split("/")[0] + "/", "dir", b"", 0o755))
        entries.append((name, "file", data, 0o644))
    return _tar(entries), ids


def _image_id(node: NodeLab, tag: str) -> "str | None":
    status, body = docker_api(node.socket, "GET", f"/images/{tag}/json")
    return json.loads(body).get("Id") if status == 200 else None


def ensure_images(node: NodeLab, archive: bytes, ids: "dict[str, str]") -> bool:
    """Load the lab images into node's engine unless already there; True when loaded."""
    if all(_image_id(node, tag) == image_id for tag, image_id in ids.items()):
        return False
    status, body = docker_api(node.socket, "POST", "/images/load?quiet=1", body=archive,
                              content_type="application/x-tar", timeout=120)
    errors = []
    for line in body.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("error"):
                errors.append(msg["error"])
    if status != 200 or errors:
        raise LabError(f"{node.name}: loading the lab images failed ({status}): {'; '.join(errors) or body[:200]!r}")
    missing = [tag for tag, image_id in ids.items() if _image_id(node, tag) != image_id]
    if missing:
        raise LabError(f"{node.name}: images {', '.join(missing)} are missing after loading them")
    return True


# --------------------------------------------------------------------------------------
# Setup: checks, keys, config files
