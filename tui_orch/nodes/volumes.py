"""Volumes on an engine: list, remove, and copy one to another node through this process.

The copy never holds the volume in memory or on this machine's disk. On the source node a
helper container (created, never started: the engine mounts a stopped container's volumes
for an archive read) mounts the volume read-only, and the engine's archive endpoint
(``docker cp``'s) streams it as tar; the chunks go straight to the archive endpoint of a
helper container on the target node that mounts the new, empty volume of the same name. The
tar keeps owners and modes (``copyUIDGID`` is not set, so the engine extracts them as
written). The source's checksum (nodes/tardigest.py, of the content only) is taken from the
stream as it passes; the target's is taken on the target node by a short-lived container of
the same image running ``find`` and ``sha256sum`` there (nodes/volcheck.py), and when the
image cannot (no shell) or the two differ, by reading the copy back through this process the
same way. Both must be equal. At most a few chunks are in memory at a time.

The helper image is the replica's own: it is sure to be on the source (the replica ran
there) and is brought to the target anyway, since the replica runs there next; the copy
itself runs no command of it, so any image will do (distroless included: it is then read
back to verify).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from tui_orch.errors import NodeError, OperationTimeout
from tui_orch.model import Pairs, VolumeSpec
from tui_orch.nodes.base import (LABEL_VOLUME, VERIFIED_ON_NODE, VERIFIED_READ_BACK, VolumeCopy, VolumeInfo,
                                 VolumeProgress)
from tui_orch.nodes.docker_api import translate
from tui_orch.nodes.mounts import missing_external
from tui_orch.nodes.images import CHUNK, PROGRESS_EVERY, _abort, _api_message, _background, _short, _url
from tui_orch.nodes.tardigest import Digest, TarDigest, TarError
from tui_orch.nodes.volcheck import volume_checksum
from tui_orch.nodes.volstream import Pump

MOUNT = "/tui-orch-volume"  # where a helper container mounts the volume
LABEL_HELPER = "tui-orch.helper"  # a helper container: no tui-orch.service label, so never a replica
READ_TIMEOUT = 120.0  # seconds an engine may stay silent in the middle of a stream


# --------------------------------------------------------------------------- ensure, list, remove


def ensure_volume(client: docker.DockerClient, node: str, volume: VolumeSpec, labels: Pairs) -> str:
    """Blocking: ``Node.ensure_volume`` on an engine. A volume of that name already there is
    used as it is (as Compose does), whoever made it."""
    api = client.api
    try:
        api.inspect_volume(volume.name)
        return "present"
    except docker.errors.NotFound:
        pass
    if volume.external:
        raise NodeError(node, missing_external(volume.name, volume.key))
    wanted = {**dict(volume.labels), LABEL_VOLUME: volume.key, **dict(labels)}
    api.create_volume(volume.name, driver=volume.driver or None, driver_opts=dict(volume.driver_opts) or None,
                      labels=wanted)
    return "created"



def list_volumes(client: docker.DockerClient, node: str, sizes: bool = False) -> list[VolumeInfo]:
    """Blocking: the tui-orch volumes of this engine, with their users (and sizes)."""
    api = client.api
    found = api.volumes(filters={"label": LABEL_VOLUME}).get("Volumes") or []
    users: dict[str, list[str]] = {}
    for c in api.containers(all=True):
        for mount in c.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                users.setdefault(mount["Name"], []).append(str((c.get("Names") or ["?"])[0]).lstrip("/"))
    measured = _sizes(client) if sizes else {}
    return [VolumeInfo(name=v["Name"], node=node, driver=str(v.get("Driver") or "local"),
                       labels=tuple(sorted((v.get("Labels") or {}).items())),
                       users=tuple(sorted(users.get(v["Name"], []))), size=measured.get(v["Name"]),
                       mountpoint=str(v.get("Mountpoint") or ""))
            for v in sorted(found, key=lambda v: v["Name"])]


def _sizes(client: docker.DockerClient) -> dict[str, int]:
    """Volume sizes from ``docker system df`` (volumes only where the engine can: API 1.42)."""
    resp = client.api.get(_url(client, "/system/df"), params={"type": "volume"}, timeout=60)
    if resp.status_code != 200:
        return {}
    sizes = {}
    for v in resp.json().get("Volumes") or []:
        size = (v.get("UsageData") or {}).get("Size", -1)
        if isinstance(size, int) and size >= 0:
            sizes[v["Name"]] = size
    return sizes


def remove_volume(client: docker.DockerClient, node: str, name: str) -> None:
    """Blocking: remove a tui-orch volume that no container mounts; a missing one is fine."""
    api = client.api
    try:
        attrs = api.inspect_volume(name)
    except docker.errors.NotFound:
        return
    if LABEL_VOLUME not in (attrs.get("Labels") or {}):
        raise NodeError(node, f"volume {name} is not tui-orch's; it is left alone (docker volume rm it there)")
    using = [str((c.get("Names") or ["?"])[0]).lstrip("/") for c in api.containers(all=True, filters={"volume": name})]
    if using:
        raise NodeError(node, f"volume {name} is used by container {', '.join(sorted(using))}; "
                        f"remove or move that first")
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_volume(name)


# --------------------------------------------------------------------------- copy


@dataclass
class _Copy:
    """One copy in progress; its thread writes ``sent`` and the responses to abort."""

    name: str
    image: str
    source_name: str
    source: docker.DockerClient
    target_name: str
    target: docker.DockerClient
    report: Callable[[str, int], None]
    stop: threading.Event = field(default_factory=threading.Event)
    responses: list[requests.Response] = field(default_factory=list)
    sent: int = 0

    def abort(self) -> None:
        self.stop.set()
        for resp in list(self.responses):
            _abort(resp)


async def copy_volume(source_name: str, source: docker.DockerClient, target_name: str,
                      target: docker.DockerClient, name: str, image: str,
                      progress: VolumeProgress | None, timeout: float) -> VolumeCopy:
    """Copy volume ``name`` from source to target (see the module's docstring and
    ``Node.copy_volume_from``); OperationTimeout past ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    last: list[Any] = [0.0, "copy"]

    def report(phase: str, done: int) -> None:  # called from the copying thread; a new phase at once
        now = time.monotonic()
        if progress is not None and (now - last[0] >= PROGRESS_EVERY or phase != last[1]):
            last[:] = [now, phase]
            loop.call_soon_threadsafe(progress, phase, done, now - started)

    job = _Copy(name, image, source_name, source, target_name, target, report)
    task = _background(lambda: _run(job, started))
    try:
        result: VolumeCopy = await asyncio.wait_for(asyncio.shield(task), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        job.abort()
        raise OperationTimeout(target_name, f"copying volume {name} from {source_name} did not finish within "
                               f"{timeout:g} s ({job.sent} bytes sent); the copy there was removed") from None
    except asyncio.CancelledError:
        job.abort()
        raise
    if progress is not None:
        progress("verify", result.bytes_sent, result.seconds)
    return result


def _run(job: _Copy, started: float) -> VolumeCopy:
    attrs = _engine(job.source_name, f"inspect volume {job.name}", job.source.api.inspect_volume, job.name)
    with contextlib.suppress(docker.errors.NotFound):
        job.target.api.inspect_volume(job.name)
        raise NodeError(job.target_name, f"volume {job.name} already exists there; nothing was copied "
                        f"(tui-orch volume rm {job.name} --node {job.target_name} if it is a stale copy)")
    helpers: list[tuple[docker.DockerClient, str]] = []
    created = done = False
    try:
        source_helper = _helper(job.source, job.source_name, job.name, job.image, read_only=True)
        helpers.append((job.source, source_helper))
        _engine(job.target_name, f"create volume {job.name}", job.target.api.create_volume, job.name,
                driver=attrs.get("Driver") or "local", driver_opts=attrs.get("Options") or None,
                labels=attrs.get("Labels") or None)
        created = True
        target_helper = _helper(job.target, job.target_name, job.name, job.image, read_only=False)
        helpers.append((job.target, target_helper))
        sent, theirs = _send(job, source_helper, target_helper)
        job.report("verify", sent)
        ours, verified = _verify(job, target_helper, theirs)
        done = True
        return VolumeCopy(job.name, job.source_name, job.target_name, sent, theirs.content_bytes, theirs.files,
                          time.monotonic() - started, theirs.checksum, ours, verified)
    finally:
        for client, helper in helpers:
            with contextlib.suppress(Exception):
                client.api.remove_container(helper, force=True, v=True)
        if created and not done:
            with contextlib.suppress(Exception):
                job.target.api.remove_volume(job.name, force=True)


def _verify(job: _Copy, target_helper: str, theirs: Digest) -> tuple[str, str]:
    """(the copy's checksum, how it was taken): on the target node when its image can
    (nodes/volcheck.py), else, or when that differs, by reading the copy back here."""
    on_node = volume_checksum(job.target, job.name, job.image, MOUNT,
                              {LABEL_HELPER: "volume-check", LABEL_VOLUME: job.name}, job.responses)
    if job.stop.is_set():
        raise NodeError(job.target_name, f"the copy of volume {job.name} was stopped")
    if on_node == theirs.checksum:
        return on_node, VERIFIED_ON_NODE
    here = _read(job, job.target, job.target_name, target_helper, "verify", TarDigest())
    if here.checksum != theirs.checksum:
        raise NodeError(job.target_name, f"volume {job.name}: the copy's checksum differs from "
                        f"{job.source_name}'s ({here.checksum[:12]} != {theirs.checksum[:12]}); it was removed")
    return here.checksum, VERIFIED_READ_BACK


def _engine(node: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except docker.errors.NotFound as exc:
        raise NodeError(node, f"{what}: {exc.explanation or exc}") from None
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise translate(node, what, exc) from None


def _helper(client: docker.DockerClient, node: str, volume: str, image: str, read_only: bool) -> str:
    """A container (never started) that mounts the volume at MOUNT."""
    mount = docker.types.Mount(target=MOUNT, source=volume, type="volume", read_only=read_only)
    created = _engine(node, f"create a helper container for volume {volume} (image {image})",
                      client.api.create_container, image=image, command=["true"],
                      labels={LABEL_HELPER: "volume-copy", LABEL_VOLUME: volume}, network_disabled=True,
                      name=f"tui-orch-volume-copy-{uuid.uuid4().hex[:10]}",
                      host_config=client.api.create_host_config(mounts=[mount]))
    return str(created["Id"])


def _open_archive(job: _Copy, client: docker.DockerClient, node: str, helper: str) -> requests.Response:
    what = f"read volume {job.name}"
    try:
        # identity: asked for gzip (requests' default), the engine compresses the stream, and
        # compressing is then what limits the copy (measured: 21 MB/s where 35+ MB/s flow raw)
        resp = client.api.get(_url(client, f"/containers/{helper}/archive"), params={"path": MOUNT},
                              headers={"Accept-Encoding": "identity"}, stream=True, timeout=(10, READ_TIMEOUT))
    except (requests.RequestException, OSError) as exc:
        raise NodeError(node, f"{what}: {_short(exc)}") from None
    job.responses.append(resp)
    if resp.status_code != 200:
        raise NodeError(node, f"{what}: {_api_message(resp)}")
    return resp


def _chunks(job: _Copy, resp: requests.Response, phase: str, digest: TarDigest) -> Iterator[bytes]:
    done = 0
    for chunk in resp.iter_content(CHUNK):
        if job.stop.is_set():
            raise OSError("the copy was stopped")
        if not chunk:
            continue
        digest.feed(chunk)
        done += len(chunk)
        job.report(phase, done)
        yield chunk


def _send(job: _Copy, source_helper: str, target_helper: str) -> tuple[int, Digest]:
    """Stream the source's archive into the target helper; (bytes, source digest)."""
    src = _open_archive(job, job.source, job.source_name, source_helper)
    digest = TarDigest()

    def sent(done: int) -> None:
        job.sent = done
        job.report("copy", done)
    try:
        try:
            dst = job.target.api.put(_url(job.target, f"/containers/{target_helper}/archive"),
                                     params={"path": "/"}, data=Pump(src, digest, job.stop, sent),
                                     headers={"Content-Type": "application/x-tar"}, timeout=(10, READ_TIMEOUT))
        except (requests.RequestException, OSError, TarError) as exc:
            raise NodeError(job.target_name, f"writing volume {job.name} (from {job.source_name}) failed: "
                            f"{_short(exc)}") from None
        if dst.status_code != 200:
            raise NodeError(job.target_name, f"writing volume {job.name} failed: {_api_message(dst)}")
    finally:
        src.close()
    try:
        return job.sent, digest.result()
    except TarError as exc:
        raise NodeError(job.source_name, f"reading volume {job.name}: {exc}") from None


def _read(job: _Copy, client: docker.DockerClient, node: str, helper: str, phase: str, digest: TarDigest) -> Digest:
    """Read a helper's volume back, only to checksum it."""
    resp = _open_archive(job, client, node, helper)
    try:
        for _ in _chunks(job, resp, phase, digest):
            pass
        return digest.result()
    except (requests.RequestException, OSError, TarError) as exc:
        raise NodeError(node, f"reading volume {job.name} back: {_short(exc)}") from None
    finally:
        resp.close()
