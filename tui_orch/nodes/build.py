"""Build a service's image on one Docker Engine: this machine's, or a node's.

The context folder is sent as a tar stream (the files ``.dockerignore`` leaves, chosen as
docker does: docker-py's own ``exclude_paths``), never through a shell. The engine's build
log streams back line by line to ``on_line`` (on the event loop). The image is tagged with
its name (``image:`` or ``<project>-<service>``) and with ``run_tag`` (the name's tag plus
the image id), the reference the service then runs as: an unchanged build gives the same
reference, a changed one a new one, and a node holding an older image under the plain name
never runs it by mistake.

docker-py is imported by the first build, not when this module is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from tui_orch.errors import BuildFailed, NodeError, OperationTimeout
from tui_orch.manifest.build import run_tag, split_image
from tui_orch.model import BuildSpec
from tui_orch.units import format_bytes

if TYPE_CHECKING:
    import docker

LineFn = Callable[[str], None]

MAX_CONTEXT_BYTES = 1024**3  # a bigger context is refused: it is almost always a missing .dockerignore
BUILD_TIMEOUT = 3600.0  # seconds a build may take (a silent RUN step included)
INLINE_NAME = ".tui-orch.Dockerfile"  # where dockerfile_inline goes in the context sent


@dataclass(frozen=True)
class Context:
    """What is sent: the files (relative to ``root``), their size, and the Dockerfile."""

    root: str
    files: tuple[str, ...]
    size: int
    dockerfile: str  # its name inside the tar
    extra: tuple[tuple[str, str], ...] = ()  # (name, text) added to the tar (an inline or outside Dockerfile)


def read_context(service: str, spec: BuildSpec, limit: int = MAX_CONTEXT_BYTES) -> Context:
    """The files of the build context as docker would send them; BuildFailed (one line) when
    the Dockerfile is missing or the context is bigger than ``limit`` bytes."""
    from docker.utils.build import exclude_paths

    root = spec.context
    dockerfile, extra = _dockerfile(service, spec)
    patterns = _dockerignore(root)
    # the Dockerfile and .dockerignore are always sent, as docker does
    files = tuple(sorted(exclude_paths(root, patterns, dockerfile=None if extra else dockerfile)))
    size = 0
    for name in files:
        with contextlib.suppress(OSError):
            size += os.lstat(os.path.join(root, name)).st_size
        if size > limit:
            raise BuildFailed(f"{service}: the build context {root} holds more than {format_bytes(limit)}; "
                              f"leave out what the image does not need with a .dockerignore file there")
    return Context(root, files, size, dockerfile, extra)


def _dockerfile(service: str, spec: BuildSpec) -> tuple[str, tuple[tuple[str, str], ...]]:
    if spec.dockerfile_inline is not None:
        return INLINE_NAME, ((INLINE_NAME, spec.dockerfile_inline),)
    written = spec.dockerfile or "Dockerfile"
    full = os.path.normpath(os.path.join(spec.context, written))
    if not os.path.isfile(full):
        raise BuildFailed(f"{service}: no Dockerfile at {full}; create it, or set build.dockerfile to it")
    inside = os.path.relpath(full, spec.context)
    if inside.startswith(".."):  # outside the context: sent inside it under another name, as docker-py does
        try:
            with open(full, encoding="utf-8") as f:
                return INLINE_NAME, ((INLINE_NAME, f.read()),)
        except (OSError, ValueError) as exc:
            raise BuildFailed(f"{service}: cannot read the Dockerfile {full}: {exc}") from None
    return inside.replace(os.sep, "/"), ()


def _dockerignore(root: str) -> list[str]:
    path = os.path.join(root, ".dockerignore")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f.read().splitlines()]
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []
    return [line for line in lines if line and not line.startswith("#")]


def _archive(ctx: Context) -> IO[bytes]:
    from docker.utils.build import create_archive

    return create_archive(root=ctx.root, files=list(ctx.files), fileobj=tempfile.SpooledTemporaryFile(
        max_size=8 * 1024**2), extra_files=list(ctx.extra))


# --------------------------------------------------------------------------- engines


def _params(spec: BuildSpec, ctx: Context, tag: str) -> dict[str, Any]:
    return dict(
        custom_context=True, tag=tag, dockerfile=ctx.dockerfile, buildargs=dict(spec.args) or None,
        target=spec.target, labels=dict(spec.labels) or None, network_mode=spec.network,
        shmsize=spec.shm_size, extra_hosts=dict(h.split(":", 1) for h in spec.extra_hosts) or None,
        cache_from=list(spec.cache_from) or None, nocache=spec.no_cache, pull=spec.pull,
        rm=True, forcerm=True, decode=True, timeout=BUILD_TIMEOUT,
    )


def _run(client: "docker.DockerClient", engine: str, service: str, spec: BuildSpec, tag: str, ctx: Context,
         on_line: LineFn) -> str:
    """The blocking build: streams the log, returns the image id (tagged ``tag`` and its run tag)."""
    import docker.errors
    import requests

    errors: list[str] = []
    image_id = ""
    with _archive(ctx) as archive:
        try:
            for chunk in client.api.build(fileobj=archive, **_params(spec, ctx, tag)):
                image_id = _chunk(chunk, on_line, errors) or image_id
        except docker.errors.APIError as exc:
            errors.append(str(exc.explanation or exc))
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise NodeError(engine, f"the build of {service} was cut off: {exc}") from None
    if errors:
        raise BuildFailed(f"the build of {service} failed on {engine}: {'; '.join(errors)}; fix the Dockerfile "
                          f"or its context and apply again (nothing was changed)", tuple(errors))
    try:
        if not image_id:  # engines that do not report it (old ones): the tag tells
            image_id = str(client.api.inspect_image(tag)["Id"])
        repo, run = split_image(run_tag(tag, image_id))
        client.api.tag(image_id, repo, run)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise NodeError(engine, f"the image of {service} was built but could not be tagged: {exc}") from None
    return image_id


def _chunk(chunk: Any, on_line: LineFn, errors: list[str]) -> str:
    """Pass one decoded message of the build stream on; the image id when it tells it."""
    if not isinstance(chunk, dict):
        return ""
    if chunk.get("error"):
        errors.append(str(chunk["error"]).strip())
        on_line(str(chunk["error"]).rstrip())
    for line in str(chunk.get("stream") or "").splitlines():
        if line.strip():
            on_line(line.rstrip())
    if chunk.get("status"):  # pulling a base image (pull: true)
        on_line(" ".join(str(chunk[k]) for k in ("id", "status", "progress") if chunk.get(k)))
    aux = chunk.get("aux")
    return str(aux["ID"]) if isinstance(aux, dict) and aux.get("ID") else ""


async def build_image(client: "docker.DockerClient", engine: str, service: str, spec: BuildSpec, tag: str,
                      on_line: LineFn, timeout: float = BUILD_TIMEOUT) -> str:
    """Build ``spec`` on ``client`` (``engine`` names it in messages) as ``tag``; returns the
    image id. Raises BuildFailed (the build's error lines) or NodeError (the engine failed)."""
    loop = asyncio.get_running_loop()
    ctx = await asyncio.to_thread(read_context, service, spec)
    on_line(f"sending the context of {service} ({len(ctx.files)} files, {format_bytes(ctx.size)}) to {engine}")

    def line(text: str) -> None:
        loop.call_soon_threadsafe(on_line, text)

    task = asyncio.ensure_future(asyncio.to_thread(_run, client, engine, service, spec, tag, ctx, line))
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise OperationTimeout(engine, f"the build of {service} did not end within {timeout:.0f} s") from None


# --------------------------------------------------------------------------- this machine


def _local_client() -> "docker.DockerClient | None":
    """This machine's engine: DOCKER_HOST when set, else /var/run/docker.sock (None: no answer)."""
    from tui_orch.nodes.images import env_source

    found = env_source()
    return found[1] if found else None


def local_engine_name() -> str:
    host = os.environ.get("DOCKER_HOST")
    return f"this machine ({host})" if host else "this machine"


async def build_here(service: str, spec: BuildSpec, tag: str, on_line: LineFn) -> str | None:
    """Build on this machine's engine; None when there is none (nothing was sent)."""
    client = await asyncio.to_thread(_local_client)
    if client is None:
        return None
    try:
        return await build_image(client, local_engine_name(), service, spec, tag, on_line)
    finally:
        client.close()


async def has_local_engine() -> bool:
    client = await asyncio.to_thread(_local_client)
    if client is not None:
        client.close()
    return client is not None


__all__ = ["BUILD_TIMEOUT", "MAX_CONTEXT_BYTES", "Context", "build_here", "build_image", "has_local_engine",
           "local_engine_name", "read_context"]
