"""Bring an image to a node without a registry: present? pull? else copy it from a node that has it.

The copy is ``docker save`` on the source engine streamed straight into ``docker load`` on the
target engine, chunk by chunk through this process: nothing is written to the console's disk
and at most a few chunks are in memory at any time. Both engines are reached through their
docker-py clients (for a remote node: the Docker socket forwarded over its SSH connection).

Two ``ensure_image`` calls for the same image and target share one transfer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import docker
import docker.errors
import docker.utils
import requests

from tui_orch.errors import ImageNotFound, NodeError, OperationTimeout
from tui_orch.nodes import sshflow

sshflow.apply()  # copies stream through forwarded sockets: a slow reader must bound memory

ProgressFn = Callable[[int, int | None], None]
Source = tuple[str, docker.DockerClient]

LOCAL_SOCKET = "/var/run/docker.sock"
CHUNK = 256 * 1024  # bytes per read from the source; memory use is a few of these
PULL_PROBE_TIMEOUT = 8.0  # a registry that has not answered by then counts as unreachable
INSPECT_TIMEOUT = 15.0
PROGRESS_EVERY = 0.05  # seconds between progress reports (the last one always comes)
_ID_RE = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


def local_source(socket_path: str = LOCAL_SOCKET, name: str = "local") -> Source | None:
    """This machine's engine as one more source, or None when it has none (or it does not answer)."""
    if not os.path.exists(socket_path):
        return None
    try:
        return name, docker.DockerClient(base_url="unix://" + socket_path, timeout=60)
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return None


_this_machine: list[Source | None] = []  # looked up once per process


def env_source(name: str = "local") -> Source | None:
    """The engine DOCKER_HOST names (as the docker CLI reads it), or None when it does not answer."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
        return name, client
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return None


async def this_machine() -> Source | None:
    """This machine's engine (DOCKER_HOST when set, else ``local_source()``), looked up on the
    first call only (a thread: docker-py blocks)."""
    if not _this_machine:
        found = await asyncio.to_thread(env_source if os.environ.get("DOCKER_HOST") else local_source)
        if not _this_machine:
            _this_machine.append(found)
    return _this_machine[0]


# --------------------------------------------------------------------------- shared transfers


@dataclass
class _Job:
    listeners: list[ProgressFn] = field(default_factory=list)
    task: asyncio.Task[str] | None = None

    def report(self, done: int, total: int | None) -> None:
        for listener in list(self.listeners):
            with contextlib.suppress(Exception):  # a broken progress bar must not stop a copy
                listener(done, total)


_jobs: dict[tuple[str, str], _Job] = {}


async def ensure_image(
    image: str,
    target: docker.DockerClient,
    target_name: str,
    sources: Sequence[Source],
    progress: ProgressFn | None = None,
    allow_pull: bool = True,
    timeout: float = 600,
) -> str:
    """Make ``image`` present on ``target``; returns "present", "pulled" or "copied from NODE".

    ``progress(bytes_done, bytes_total)`` is called on the event loop while copying (total is
    the image's size as its source reports it, None if unknown; the last call has total equal
    to the bytes sent). Raises ImageNotFound when no source has the image and no registry
    answers, OperationTimeout past ``timeout`` seconds, NodeError when an engine fails.

    A call made while the same image is already on its way to the same target joins that
    transfer (its own sources, allow_pull and timeout are then not used) and gets its result
    and progress. A caller that is cancelled stops waiting; the transfer goes on for the
    others until it ends or times out.
    """
    key = (target_name, image)
    loop = asyncio.get_running_loop()
    job = _jobs.get(key)
    if job is None or job.task is None or job.task.done() or job.task.get_loop() is not loop:
        job = _Job()
        job.task = loop.create_task(_ensure(image, target, target_name, list(sources), job, allow_pull, timeout))
        _jobs[key] = job
        job.task.add_done_callback(functools.partial(_finished, key=key, job=job))
    if progress is not None:
        job.listeners.append(progress)
    try:
        return await asyncio.shield(job.task)
    finally:
        if progress is not None:
            with contextlib.suppress(ValueError):
                job.listeners.remove(progress)


def _finished(task: asyncio.Task[str], key: tuple[str, str], job: _Job) -> None:
    if _jobs.get(key) is job:
        del _jobs[key]
    if not task.cancelled():
        task.exception()  # retrieved here, so a waiter that left does not leave it unseen


async def _ensure(image: str, target: docker.DockerClient, target_name: str, sources: list[Source],
                  job: _Job, allow_pull: bool, timeout: float) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if await _inspect(target, target_name, image) is not None:
        return "present"
    if allow_pull and _pullable(image):
        if await _try_pull(target, image, deadline):
            return "pulled"
    trouble: list[str] = []
    found_on: list[str] = []
    for name, client in sources:
        if name == target_name:
            continue
        try:
            attrs = await _inspect(client, name, image)
        except NodeError as exc:
            trouble.append(str(exc))
            continue
        if attrs is None:
            continue
        found_on.append(name)
        size = attrs.get("Size")
        try:
            await _copy(image, name, client, target_name, target, job, deadline,
                        size if isinstance(size, int) and size > 0 else None)
        except OperationTimeout:
            raise
        except NodeError as exc:
            trouble.append(str(exc))
            continue
        return f"copied from {name}"
    if found_on:
        raise NodeError(target_name, f"copying image {image} failed from every node that has it: "
                        + "; ".join(trouble))
    note = f" ({'; '.join(trouble)})" if trouble else ""
    raise ImageNotFound(target_name, f"image {image} is on no node and no registry could be reached: "
                        f"build or load it on one node (docker load) first{note}")


# --------------------------------------------------------------------------- engine calls


def _url(client: docker.DockerClient, path: str) -> str:
    return f"{client.api.base_url}/v{client.api.api_version}{path}"


def _image_path(image: str) -> str:
    return quote(image, safe="/:@")


async def _inspect(client: docker.DockerClient, name: str, image: str) -> dict[str, Any] | None:
    """The image's attributes on this engine, None when it does not have it."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(client.api.inspect_image, image), INSPECT_TIMEOUT)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.NotFound:
        return None
    except (asyncio.TimeoutError, TimeoutError):
        raise NodeError(name, f"its engine did not answer within {INSPECT_TIMEOUT:.0f} s "
                        f"when asked about image {image}") from None
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise NodeError(name, f"its engine could not be asked about image {image}: {_short(exc)}") from None


def _pullable(image: str) -> bool:
    return not _ID_RE.match(image)


def _raw_socket(response: requests.Response) -> socket.socket | None:
    with contextlib.suppress(AttributeError):
        sock = response.raw._fp.fp.raw  # type: ignore[union-attr]
        return getattr(sock, "_sock", sock)
    return None


def _abort(response: requests.Response | None) -> None:
    """Wake a thread blocked reading ``response`` (shutdown wakes recv; close alone may not)."""
    if response is None:
        return
    sock = _raw_socket(response)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


async def _try_pull(target: docker.DockerClient, image: str, deadline: float) -> bool:
    """Pull from a registry; False (fast) on any error: no registry is a normal case."""
    repo, tag = docker.utils.parse_repository_tag(image)
    params = {"fromImage": repo, "tag": tag or "latest"}
    holder: dict[str, requests.Response] = {}
    loop = asyncio.get_running_loop()

    remaining = max(1.0, deadline - loop.time())

    def run() -> bool:
        resp = target.api.post(_url(target, "/images/create"), params=params, stream=True,
                               timeout=(5, min(PULL_PROBE_TIMEOUT, remaining)))
        holder["resp"] = resp
        try:
            if resp.status_code != 200:
                return False
            with contextlib.suppress(OSError, AttributeError):  # answered: now a slow pull is fine
                sock = _raw_socket(resp)
                if sock is not None:
                    sock.settimeout(remaining)
            for line in resp.iter_lines():
                if line and "error" in json.loads(line):
                    return False
            return True
        finally:
            resp.close()

    task = _background(run)
    try:
        return await asyncio.wait_for(asyncio.shield(task), max(0.1, deadline - loop.time()))
    except Exception:  # unreachable, refused, timed out, bad answer: no registry
        _abort(holder.get("resp"))
        return False


async def _copy(image: str, source_name: str, source: docker.DockerClient, target_name: str,
                target: docker.DockerClient, job: _Job, deadline: float, total: int | None) -> None:
    """docker save on source | docker load on target, streamed through this process."""
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    holder: dict[str, requests.Response] = {}
    sent = [0]  # bytes handed to the target so far
    last_report = [0.0]

    def remaining() -> float:
        return max(1.0, deadline - loop.time())

    def chunks(resp: requests.Response) -> Iterator[bytes]:
        for chunk in resp.iter_content(CHUNK):
            if stop.is_set():
                raise OSError("the copy was stopped")
            if not chunk:
                continue
            sent[0] += len(chunk)
            now = time.monotonic()
            if now - last_report[0] >= PROGRESS_EVERY:
                last_report[0] = now
                loop.call_soon_threadsafe(job.report, sent[0], total)
            yield chunk

    def run() -> None:
        try:
            src = source.api.get(_url(source, f"/images/{_image_path(image)}/get"), stream=True,
                                 timeout=(10, remaining()))
        except (requests.RequestException, OSError) as exc:
            raise NodeError(source_name, f"docker save {image} failed: {_short(exc)}") from None
        holder["src"] = src
        try:
            if src.status_code != 200:
                raise NodeError(source_name, f"docker save {image} failed: {_api_message(src)}")
            try:
                dst = target.api.post(_url(target, "/images/load"), params={"quiet": "1"}, data=chunks(src),
                                      headers={"Content-Type": "application/x-tar"}, stream=True,
                                      timeout=(10, remaining()))
            except (requests.RequestException, OSError) as exc:
                raise NodeError(target_name, f"docker load {image} (from {source_name}) failed: "
                                f"{_short(exc)}") from None
            holder["dst"] = dst
            try:
                errors = _load_errors(dst)
            finally:
                dst.close()
            if errors:
                raise NodeError(target_name, f"docker load {image} (from {source_name}) failed: {errors}")
        finally:
            src.close()

    task = _background(run)
    try:
        await asyncio.wait_for(asyncio.shield(task), max(0.1, deadline - loop.time()))
    except (asyncio.TimeoutError, TimeoutError):
        stop.set()
        _abort(holder.get("src"))
        _abort(holder.get("dst"))
        raise OperationTimeout(target_name, f"copying image {image} from {source_name} did not finish in "
                               f"time ({sent[0]} bytes sent); try again, or load it there by hand "
                               f"(docker save | docker load)") from None
    except asyncio.CancelledError:
        stop.set()
        _abort(holder.get("src"))
        raise
    if await _inspect(target, target_name, image) is None:
        raise NodeError(target_name, f"image {image} is still missing after loading it from {source_name}")
    job.report(sent[0], sent[0])


def _background(fn: Callable[[], Any]) -> asyncio.Future[Any]:
    """Run fn in a thread; its outcome is retrieved even when nobody waits for it any more."""
    task = asyncio.ensure_future(asyncio.to_thread(fn))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return task


def _load_errors(resp: requests.Response) -> str:
    if resp.status_code != 200:
        return _api_message(resp)
    found = []
    for line in resp.iter_lines():
        with contextlib.suppress(ValueError):
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("error"):
                found.append(str(msg["error"]))
    return "; ".join(found)


def _api_message(resp: requests.Response) -> str:
    try:
        text = resp.content.decode(errors="replace")[:500]
        with contextlib.suppress(ValueError):
            text = str(json.loads(text).get("message", text))
    except (requests.RequestException, OSError) as exc:
        text = _short(exc)
    return f"HTTP {resp.status_code}: {text.strip()}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
