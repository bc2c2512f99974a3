"""Container operations on one engine through docker-py, never blocking the event loop.

Every blocking call runs in a worker thread with a timeout. Only containers labelled
``tui-orch.service`` are listed, inspected, stopped or removed: others are never touched.
Logs are read by a thread of their own and handed to the loop as they arrive (events:
docker_events.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions

from tui_orch.errors import ContainerNotFound, ImageNotFound, NodeError, NodeUnavailable, OperationTimeout
from tui_orch.nodes.base import DEFAULT_OP_TIMEOUT, LABEL_SERVICE, ContainerInfo, ContainerRequest, DockerEvent
from tui_orch.nodes.docker_events import EventCursor, EventWatcher, parse_event
from tui_orch.nodes.mounts import host_config_mounts, missing_bind
from tui_orch.nodes.networks import (
    AMBIGUOUS_TRIES, ambiguous, by_name_ports, dedupe, ensure_network, first_network, networks_held, twice_message,
)

__all__ = ["DEFAULT_OP_TIMEOUT", "DockerOps", "EventCursor", "EventWatcher", "blocking", "container_info",
           "parse_event", "parse_time", "translate"]

log = logging.getLogger(__name__)
T = TypeVar("T")

OWNED = {"label": LABEL_SERVICE}
_EXECUTOR: ThreadPoolExecutor | None = None
_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def _executor() -> ThreadPoolExecutor:
    """A pool of its own, so slow engines never starve asyncio's default executor."""
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(max_workers=64, thread_name_prefix="tui-orch-docker")
    return _EXECUTOR


async def blocking(node: str, what: str, limit: float, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a blocking docker-py call in a thread, for at most ``limit`` seconds; docker
    errors become NodeErrors."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_executor(), lambda: fn(*args, **kwargs))
    try:
        return await asyncio.wait_for(future, limit)
    except asyncio.TimeoutError:
        raise OperationTimeout(node, f"{what} did not finish within {limit:g} s") from None
    except NodeError:
        raise
    except Exception as exc:  # docker-py, requests and socket errors
        raise translate(node, what, exc) from None


def translate(node: str, what: str, exc: BaseException) -> NodeError:
    """One sentence for a failed engine call."""
    if isinstance(exc, docker.errors.APIError):
        text = exc.explanation or str(exc)
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        if exc.status_code == 404:
            return ContainerNotFound(node, f"{what}: {text}")
        if exc.status_code == 409:
            return NodeError(node, f"{what}: conflict: {text}")
        return NodeError(node, f"{what}: the engine said: {text}")
    if isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
        return OperationTimeout(node, f"{what}: the engine did not answer in time")
    if isinstance(exc, (requests.exceptions.ConnectionError, OSError)):
        return NodeUnavailable(node, f"{what}: lost the connection to the engine ({_root_cause(exc)})")
    return NodeError(node, f"{what}: {exc}")


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, e.g. 'Connection refused'."""
    for _ in range(5):
        inner = next((a for a in reversed(exc.args) if isinstance(a, BaseException)), None)
        if inner is None:
            break
        exc = inner
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def parse_time(text: str | None) -> float | None:
    """Docker's RFC 3339 times with nanoseconds; the zero time is None."""
    if not text or text.startswith("0001-01-01"):
        return None
    m = _TIME_RE.match(text)
    if not m:
        return None
    zone = m.group(3) or "Z"
    stamp = datetime.fromisoformat(m.group(1) + ("+00:00" if zone == "Z" else zone)).timestamp()
    return stamp + (float("0." + m.group(2)) if m.group(2) else 0.0)


def container_info(node: str, attrs: dict[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    status = str(state.get("Status") or "unknown")
    health = str((state.get("Health") or {}).get("Status") or "none")
    exit_code = None if status in ("created", "running", "paused") else state.get("ExitCode")
    return ContainerInfo(
        id=attrs["Id"],
        name=str(attrs.get("Name", "")).lstrip("/"),
        node=node,
        image=str(config.get("Image") or attrs.get("Image", "")),
        labels=tuple(sorted((config.get("Labels") or {}).items())),
        status=status,
        health=health,
        exit_code=exit_code,
        oom_killed=bool(state.get("OOMKilled")),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        restart_count=int(attrs.get("RestartCount") or 0),
    )


class DockerOps:
    """The container operations of one engine (a docker-py client) for one node."""

    def __init__(self, node: str, client: docker.DockerClient, timeout: float = DEFAULT_OP_TIMEOUT):
        self.node = node
        self.client = client
        self.timeout = timeout

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, limit: float | None = None) -> T:
        return await blocking(self.node, what, limit or self.timeout, fn, *args)

    async def blocking_call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """Any blocking engine call (e.g. of nodes/volumes.py) with this node's timeout."""
        return await self._call(what, fn, *args)

    def _owned_attrs(self, container_id: str) -> dict[str, Any]:
        """Inspect data of an owned container; refuses any other container."""
        try:
            attrs = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            raise ContainerNotFound(self.node, f"no container {container_id!r}") from None
        if LABEL_SERVICE not in ((attrs.get("Config") or {}).get("Labels") or {}):
            raise ContainerNotFound(self.node, f"container {container_id!r} is not managed by tui-orch; "
                                               f"it is left alone")
        return attrs

    async def ping(self) -> bool:
        return bool(await self._call("ping the engine", self.client.ping, limit=min(self.timeout, 5.0)))

    async def info(self) -> dict[str, Any]:
        return await self._call("read the engine's info", self.client.info)

    async def has_image(self, image: str) -> bool:
        def check() -> bool:
            try:
                self.client.api.inspect_image(image)
                return True
            except docker.errors.ImageNotFound:
                return False
        return await self._call(f"look up image {image}", check)

    async def run_container(self, request: ContainerRequest) -> ContainerInfo:
        if LABEL_SERVICE not in dict(request.labels):
            raise NodeError(self.node, f"refusing to create {request.name!r} without the {LABEL_SERVICE} label")
        return await self._call(f"run container {request.name!r}", self._create_and_start, request)

    def _create_and_start(self, req: ContainerRequest) -> ContainerInfo:
        api = self.client.api
        bindings: dict[str, Any] = {}
        exposed: list[tuple[int, str]] = []
        for host_port, target, protocol, host_ip in req.ports:
            bindings[f"{target}/{protocol}"] = (host_ip, host_port) if host_ip else host_port
            exposed.append((target, protocol))
        if req.networks:
            # reached by name (issue 13): each exposed tcp port on a free host port (the engine
            # picks it), where the mesh proxies of other nodes reach this replica
            for target in by_name_ports(api, req):
                if f"{target}/tcp" not in bindings:
                    bindings[f"{target}/tcp"] = None
                    exposed.append((target, "tcp"))
        host_config = api.create_host_config(
            network_mode=req.network_mode,
            port_bindings=bindings or None,
            nano_cpus=req.nano_cpus or None,
            mem_limit=req.mem_limit or None,
            mem_reservation=req.mem_reservation or None,
            restart_policy=req.restart_policy,
            # secrets, configs and local files and folders (issue 12): read-only binds of the
            # delivered copies; a list, as one copy may be bound at two targets
            binds=[f"{src}:{target}:ro" for src, target in req.delivered] or None,
        )
        # volumes and data (issue 12): named volumes, binds of node paths, tmpfs, volumes_from
        mounts = host_config_mounts(req.mounts, req.tmpfs, req.volumes_from)
        mounts["Binds"] = (host_config.get("Binds") or []) + mounts.get("Binds", [])
        host_config.update({k: v for k, v in mounts.items() if v})
        host_config.update(req.host_config)  # the service's own settings, in the API's names
        extra = {"platform": req.platform} if req.platform else {}  # docker-py sends it for API >= 1.41 only
        names = [ref.name for ref in req.networks]
        for attempt in range(AMBIGUOUS_TRIES):
            cid = None
            try:
                # its networks made, then it on them, while no prune of this node's networks runs (networks.py)
                with networks_held(self.node) if req.networks else contextlib.nullcontext():
                    owner = dict(req.labels).get("tui-orch.owner", "")
                    net_ids = [ensure_network(api, self.node, ref, owner) for ref in req.networks]
                    config = dict(host_config)
                    if net_ids and config.get("NetworkMode") == names[0]:
                        config["NetworkMode"] = net_ids[0]  # by id (networks.py)
                    cid = self._create(req, config, exposed, extra, net_ids)
                api.start(cid)
            except Exception as exc:
                if cid is not None:
                    with contextlib.suppress(Exception):
                        api.remove_container(cid, force=True)
                if not ambiguous(exc):
                    raise
                # another process made one of its networks at this moment: the engine refuses a name
                # that matches two, even for a container created by id; one is left (dedupe), again
                with networks_held(self.node):
                    for name in names:
                        dedupe(api, name)
                if attempt + 1 == AMBIGUOUS_TRIES:
                    raise NodeError(self.node, twice_message(self.node, names)) from None
                continue
            return container_info(self.node, api.inspect_container(cid))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _create(self, req: ContainerRequest, host_config: dict[str, Any], exposed: list[tuple[int, str]],
                extra: dict[str, Any], net_ids: list[str] | None = None) -> str:
        """Create the container of ``req`` on its networks (not started); its id."""
        api = self.client.api
        try:
            created = api.create_container(
                image=req.image,
                name=req.name,
                command=list(req.command) if req.command is not None else None,
                entrypoint=list(req.entrypoint) if req.entrypoint is not None else None,
                environment=[f"{k}={v}" for k, v in req.environment],
                labels=dict(req.labels),
                healthcheck=req.healthcheck,
                stop_signal=req.stop_signal,
                stop_timeout=req.stop_timeout,
                user=req.user,
                working_dir=req.working_dir,
                ports=exposed or None,
                host_config=host_config,
                hostname=req.hostname,
                domainname=req.domainname,
                mac_address=req.mac_address,
                networking_config=first_network(api, net_ids[0] if net_ids else None),
                detach=True,
                **extra,
            )
        except docker.errors.ImageNotFound:
            raise ImageNotFound(self.node, f"image {req.image} is not on this node; "
                                           f"bring it there first (tui-orch prepares images)") from None
        except docker.errors.APIError as exc:
            why = missing_bind(str(exc.explanation or exc))
            if why is None:
                raise
            raise NodeError(self.node, f"cannot run {req.name!r}: {why}") from None
        cid = str(created["Id"])
        try:
            for net_id in (net_ids or [])[1:]:
                api.connect_container_to_network(cid, net_id)
        except Exception:
            with contextlib.suppress(Exception):
                api.remove_container(cid, force=True)
            raise
        return cid

    async def stop(self, container_id: str, timeout: float = 10.0) -> None:
        def stop() -> None:
            self._owned_attrs(container_id)
            self.client.api.stop(container_id, timeout=int(timeout))
        await self._call(f"stop container {container_id[:12]}", stop, limit=self.timeout + timeout)

    async def remove(self, container_id: str) -> None:
        """Force-remove an owned container; one already gone is not an error."""
        def remove() -> None:
            try:
                self._owned_attrs(container_id)
                self.client.api.remove_container(container_id, force=True, v=True)
            except docker.errors.NotFound:
                return
            except ContainerNotFound as exc:
                if "not managed" in str(exc):
                    raise
        await self._call(f"remove container {container_id[:12]}", remove)

    async def set_restart_policy(self, container_id: str, name: str, max_retries: int = 0) -> None:
        """POST /containers/{id}/update with a RestartPolicy (the engine applies it to the
        running container at once); MaximumRetryCount is sent for on-failure only."""
        policy: dict[str, Any] = {"Name": name}
        if name == "on-failure":
            policy["MaximumRetryCount"] = max_retries

        def update() -> None:
            self._owned_attrs(container_id)
            self.client.api.update_container(container_id, restart_policy=policy)
        await self._call(f"set the restart policy of {container_id[:12]} to {name}", update)

    async def inspect(self, container_id: str) -> ContainerInfo:
        attrs = await self._call(f"inspect container {container_id[:12]}", self._owned_attrs, container_id)
        return container_info(self.node, attrs)

    async def list_owned(self) -> list[ContainerInfo]:
        def listing() -> list[ContainerInfo]:
            out = []
            for summary in self.client.api.containers(all=True, filters=OWNED):
                if LABEL_SERVICE not in (summary.get("Labels") or {}):
                    continue
                try:
                    attrs = self.client.api.inspect_container(summary["Id"])
                except docker.errors.NotFound:
                    continue  # removed meanwhile
                out.append(container_info(self.node, attrs))
            return out
        return await self._call("list containers", listing)

    async def published_ports(self) -> frozenset[int]:
        """The host ports this engine publishes for its running containers (any owner)."""
        from tui_orch.nodes.ports import published_ports

        return await self._call("list published ports", lambda: published_ports(self.client.api.containers()))

    def watch_events(self, loop: asyncio.AbstractEventLoop, deliver: Callable[[DockerEvent], None],
                     on_error: Callable[[BaseException], None], cursor: EventCursor | None = None) -> EventWatcher:
        watcher = EventWatcher(self.node, self.client, loop, deliver, on_error, cursor)
        watcher.start()
        return watcher

    async def logs(self, container_id: str, follow: bool = False, since: float | None = None,
                   tail: int | None = 200, timestamps: bool = False,
                   stop: asyncio.Event | None = None) -> AsyncIterator[str]:
        """The container's output (stdout and stderr) line by line; with ``follow`` until
        the container stops, the caller stops iterating, or ``stop`` is set."""

        def open_stream() -> Any:
            self._owned_attrs(container_id)
            return self.client.api.logs(container_id, stream=True, follow=follow, timestamps=timestamps,
                                        tail="all" if tail is None else tail,
                                        since=since if since and since > 0 else None)

        stream = await self._call(f"read the logs of {container_id[:12]}", open_stream)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()

        def put(item: str | BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def pump() -> None:
            buffer = b""
            try:
                for chunk in stream:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        put(line.decode(errors="replace"))
                if buffer:
                    put(buffer.decode(errors="replace"))
                put(None)
            except Exception as exc:
                put(exc)

        threading.Thread(target=pump, name=f"tui-orch-logs-{self.node}", daemon=True).start()
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                waiting = {getter} | ({stopper} if stopper else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    raise NodeUnavailable(self.node, f"lost the node while reading the logs of {container_id[:12]}")
                item = getter.result()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise translate(self.node, f"read the logs of {container_id[:12]}", item)
                yield item
        finally:
            if stopper is not None:
                stopper.cancel()
            with contextlib.suppress(Exception):
                stream.close()
