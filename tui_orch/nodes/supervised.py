"""What a real node (remote or local) shares: a supervisor task that connects, watches and
reconnects with backoff; container operations that fail fast when contact is lost; the
Docker event thread and the metrics stream used as a heartbeat.

States: a connect attempt that fails puts a node that was never Ready (or has been failing
for a while) in Unreachable; a Ready node that loses contact goes NotReady at once and stays
NotReady for its first ``UNREACHABLE_AFTER`` failed reconnects, then Unreachable. Host key
problems and AuthFailed are not retried until ``reconnect()``; NoDocker / DockerDenied are
retried with backoff (someone may fix the host).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tui_orch.container_settings import node_platform
from tui_orch.errors import NodeError, NodeUnavailable, Unreachable
from tui_orch.model import BuildSpec, NodeSpec, NodeState, Pairs, Resources, VolumeSpec
from tui_orch.nodes.base import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_OP_TIMEOUT,
    OPERATOR_ERRORS,
    ContainerInfo,
    ContainerMetrics,
    ContainerRequest,
    DockerEvent,
    Node,
    NodeMetrics,
    VolumeCopy,
    VolumeInfo,
    VolumeProgress,
    reason_of,
    state_of,
)
from tui_orch.nodes.docker_events import EventCursor, EventWatcher
from tui_orch.waiting import wait_event

if TYPE_CHECKING:  # docker-py (and asyncssh) are imported by a node's first connect, not here
    from tui_orch.nodes.docker_api import DockerOps
    from tui_orch.nodes.edge import EdgeInfo
    from tui_orch.nodes.meshproxy import MeshInfo, Reach
    from tui_orch.model import NetworkRef

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_START = 0.5
BACKOFF_CAP = 30.0
BACKOFF_JITTER = 0.2
UNREACHABLE_AFTER = 3  # failed reconnects of a node that was Ready before it is Unreachable
HEARTBEAT_TIMEOUT = 3.0
METRICS_INTERVAL = 1.0

MetricsStream = AsyncIterator[tuple[NodeMetrics, dict[str, ContainerMetrics]]]


def backoff_delays(start: float = BACKOFF_START, cap: float = BACKOFF_CAP) -> Iterator[float]:
    """0.5, 1, 2, 4 ... capped at 30 s, each with +-20% jitter."""
    delay = start
    while True:
        yield delay * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
        delay = min(delay * 2, cap)


@dataclass(frozen=True)
class Facts:
    """What a node says about itself once connected."""

    hostname: str
    docker_version: str
    capacity: Resources | None
    docker_root: str
    engine_time: float | None = None  # the engine's clock when connected (SystemTime)
    host_id: str = ""  # machine + network namespace (nodes/hostid.py), "" = unknown
    platform: str = ""  # linux/amd64, from the engine's OSType and Architecture


def engine_platform(info: dict[str, Any]) -> str:
    """The node's platform (linux/amd64) from the engine's info (OSType, Architecture)."""
    return node_platform(str(info.get("OSType") or ""), str(info.get("Architecture") or ""))


class SupervisedNode(Node, abc.ABC):
    """A Node with a background supervisor. Subclasses open and close one session."""

    def __init__(self, spec: NodeSpec, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 op_timeout: float = DEFAULT_OP_TIMEOUT):
        super().__init__(spec)
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self._ops: DockerOps | None = None
        self._lost = asyncio.Event()
        self._lost.set()  # no session yet
        self._lost_reason = "not connected yet"
        self._wake = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._closed = False
        self._supervisor: asyncio.Task[None] | None = None
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._watcher: EventWatcher | None = None
        self._cursor = EventCursor()  # outlives sessions: missed events are replayed
        self._facts: Facts | None = None
        self._last_beat = 0.0
        self._beating = False  # samples arrive; their absence means trouble
        self._heartbeat_lost = False

    # ----------------------------------------------------------------- subclass hooks
    @abc.abstractmethod
    async def _open(self) -> tuple[DockerOps, Facts]:
        """Connect and return the engine's ops and facts; raise a classified NodeError."""

    @abc.abstractmethod
    async def _close_session(self) -> None:
        """Release what _open acquired (idempotent)."""

    def _metrics_stream(self, docker_root: str) -> MetricsStream | None:
        """The metrics stream for this node, or None when the metrics module is absent."""
        return None

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the supervisor and wait for the outcome of the first attempt (bounded)."""
        if self._supervisor is None:
            self._closed = False
            self._supervisor = asyncio.create_task(self._supervise(), name=f"node-{self.name}")
        await wait_event(self._first_attempt, self.connect_timeout + self.op_timeout)

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._supervisor
            self._supervisor = None
        self._mark_lost("the console closed the connection", notify=False)
        await self._teardown()

    async def reconnect(self) -> None:
        if self.status.state != NodeState.READY:
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        await wait_event(self._wake, seconds)

    async def _supervise(self) -> None:
        delays = backoff_delays()
        failures = 0
        while not self._closed:
            self._wake.clear()
            try:
                await self._connect()
            except NodeError as exc:
                failures += 1
                await self._teardown()
                self._failed(exc, failures)
                self._first_attempt.set()
                if isinstance(exc, OPERATOR_ERRORS):
                    await self._wake.wait()  # until reconnect() or close()
                    delays, failures = backoff_delays(), 0
                else:
                    await self._sleep(next(delays))
                continue
            delays, failures = backoff_delays(), 0
            self._first_attempt.set()
            try:
                await self._watch()
            except Exception:  # never let the supervisor die: reconnect instead
                log.exception("%s: watching the node failed", self.name)
                self._mark_lost("internal error while watching the node; reconnecting")
            await self._teardown()
            if not self._closed:
                await self._sleep(next(delays))

    async def _connect(self) -> None:
        self._ops = None
        self._lost = asyncio.Event()  # a fresh session: set when its contact is lost
        self._lost_reason = ""
        try:
            ops, facts = await self._open()
        except NodeError:
            raise
        except Exception as exc:  # a bug or an unforeseen failure: keep supervising
            log.exception("%s: connect failed", self.name)
            raise NodeUnavailable(self.name, f"cannot set up the node: {exc}") from exc
        if self._lost.is_set():
            raise Unreachable(self.name, self._lost_reason)
        self._ops, self._facts = ops, facts
        loop = asyncio.get_running_loop()
        self._cursor.start_at(facts.engine_time)
        watcher = ops.watch_events(loop, self._deliver, self._engine_trouble, self._cursor)
        self._watcher = watcher
        await asyncio.to_thread(watcher.opened.wait, self.op_timeout)
        self._beating, self._heartbeat_lost = False, False
        self._spawn(self._consume_metrics(facts.docker_root))
        if self._lost.is_set():
            raise Unreachable(self.name, self._lost_reason)
        self._set_ready()

    def _set_ready(self) -> None:
        facts = self._facts
        assert facts is not None
        self.set_status(NodeState.READY, "", hostname=facts.hostname, capacity=facts.capacity,
                        docker_version=facts.docker_version, platform=facts.platform)

    def _failed(self, exc: NodeError, failures: int) -> None:
        state = state_of(exc)
        reason = reason_of(exc)
        was = self.status.state
        if state == NodeState.UNREACHABLE and was == NodeState.NOT_READY and failures < UNREACHABLE_AFTER:
            self.set_status(NodeState.NOT_READY, f"reconnecting: {reason}")
        else:
            self.set_status(state, reason)

    async def _watch(self) -> None:
        """Until contact is lost: check the heartbeat twice a second."""
        lost = self._lost
        while not lost.is_set() and not self._closed:
            await wait_event(lost, 0.5)
            self._check_heartbeat()

    def _mark_lost(self, reason: str, notify: bool = True) -> None:
        """Contact is lost: fail pending operations now, and say so (NotReady)."""
        if self._lost.is_set():
            return
        was_up = self._ops is not None
        self._lost_reason = reason
        self._lost.set()
        self._ops = None
        if notify and was_up and not self._closed:
            self.set_status(NodeState.NOT_READY, reason)

    async def _teardown(self) -> None:
        self._mark_lost(self._lost_reason or "the connection was closed", notify=False)
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        tasks, self._session_tasks = list(self._session_tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._close_session()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._session_tasks.add(task)
        task.add_done_callback(lambda done: self._session_tasks.discard(done))

    # ----------------------------------------------------------------- events, heartbeat
    def _deliver(self, event: DockerEvent) -> None:
        self.events.put_nowait(event)

    def _engine_trouble(self, exc: BaseException) -> None:
        """The event stream broke: if the engine does not answer either, contact is lost."""
        ops, lost = self._ops, self._lost
        if ops is None or lost.is_set():
            return

        async def probe() -> None:
            await asyncio.sleep(0.3)  # a lost SSH connection is usually reported meanwhile
            if lost.is_set():
                return
            try:
                await ops.ping()
            except NodeError as err:
                if not lost.is_set():
                    self._mark_lost(f"the Docker Engine at {self.spec.docker_socket} stopped answering "
                                    f"({reason_of(err)})")

        self._spawn(probe())

    async def _consume_metrics(self, docker_root: str) -> None:
        """Samples update metrics and history and serve as heartbeats. A broken stream
        is restarted while the session lives (keepalives watch the node meanwhile)."""
        lost = self._lost
        while not lost.is_set():
            stream = self._metrics_stream(docker_root)
            if stream is None:
                return
            try:
                async for sample, containers in stream:
                    self.metrics = sample
                    self.history.add(sample)
                    self.container_metrics = containers
                    self._last_beat = time.monotonic()
                    self._beating = True
                    if self._heartbeat_lost and not lost.is_set():
                        self._heartbeat_lost = False
                        self._set_ready()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("%s: metrics stream stopped: %s", self.name, exc)
            finally:
                with contextlib.suppress(Exception):
                    await stream.aclose()  # type: ignore[attr-defined]
            self._beating = False
            await asyncio.sleep(2.0)

    def _check_heartbeat(self) -> None:
        if not self._beating or self._heartbeat_lost or self._lost.is_set():
            return
        if time.monotonic() - self._last_beat > HEARTBEAT_TIMEOUT:
            self._heartbeat_lost = True
            self.set_status(NodeState.NOT_READY, f"no heartbeat for {HEARTBEAT_TIMEOUT:g} s")

    # ----------------------------------------------------------------- guarded operations
    async def _guard(self, what: str, op: Callable[[DockerOps], Awaitable[T]]) -> T:
        """Run op on the engine; fail with NodeUnavailable as soon as contact is lost."""
        ops, lost = self._ops, self._lost
        if ops is None or lost.is_set():
            raise NodeUnavailable(self.name, f"cannot {what}: the node is {self.status.state.value}"
                                             + (f" ({self.status.reason})" if self.status.reason else ""))
        return await self._race(what, op(ops), lost)

    async def _race(self, what: str, coro: Awaitable[T], lost: asyncio.Event) -> T:
        task = asyncio.ensure_future(coro)
        watcher = asyncio.ensure_future(lost.wait())
        try:
            done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            return task.result()
        raise NodeUnavailable(self.name, f"cannot {what}: lost contact ({self._lost_reason})")

    async def run_container(self, request: ContainerRequest) -> ContainerInfo:
        return await self._guard(f"run {request.name}", lambda ops: ops.run_container(request))

    async def stop_container(self, container_id: str, timeout: float = 10.0) -> None:
        await self._guard(f"stop {container_id[:12]}", lambda ops: ops.stop(container_id, timeout))

    async def remove_container(self, container_id: str) -> None:
        await self._guard(f"remove {container_id[:12]}", lambda ops: ops.remove(container_id))

    async def list_owned(self) -> list[ContainerInfo]:
        return await self._guard("list containers", lambda ops: ops.list_owned())

    async def inspect(self, container_id: str) -> ContainerInfo:
        return await self._guard(f"inspect {container_id[:12]}", lambda ops: ops.inspect(container_id))

    async def has_image(self, image: str) -> bool:
        return await self._guard(f"look up image {image}", lambda ops: ops.has_image(image))

    async def _read_ports(self) -> frozenset[int]:
        published = await self._guard("list published ports", lambda ops: ops.published_ports())
        return published | await self._listening()

    @abc.abstractmethod
    async def _listening(self) -> frozenset[int]:
        """The ports of the host's listening sockets (nodes/ports.py)."""

    async def set_restart_policy(self, container_id: str, name: str, max_retries: int = 0) -> None:
        await self._guard(f"update {container_id[:12]}",
                          lambda ops: ops.set_restart_policy(container_id, name, max_retries))

    async def logs(self, container_id: str, follow: bool = False, since: float | None = None,
                   tail: int | None = 200, timestamps: bool = False) -> AsyncIterator[str]:
        ops, lost = self._ops, self._lost
        if ops is None or lost.is_set():
            raise NodeUnavailable(self.name, f"cannot read logs: the node is {self.status.state.value}")
        async for line in ops.logs(container_id, follow, since, tail, timestamps, stop=lost):
            yield line

    async def list_volumes(self, sizes: bool = False) -> list[VolumeInfo]:
        from tui_orch.nodes.volumes import list_volumes

        return await self._guard("list volumes", lambda ops: ops.blocking_call(
            "list volumes", list_volumes, ops.client, self.name, sizes))

    async def ensure_volume(self, volume: VolumeSpec, labels: Pairs) -> str:
        from tui_orch.nodes.volumes import ensure_volume

        return await self._guard(f"create volume {volume.name}", lambda ops: ops.blocking_call(
            f"create volume {volume.name}", ensure_volume, ops.client, self.name, volume, labels))

    async def remove_volume(self, name: str) -> None:
        from tui_orch.nodes.volumes import remove_volume

        await self._guard(f"remove volume {name}", lambda ops: ops.blocking_call(
            f"remove volume {name}", remove_volume, ops.client, self.name, name))

    async def prune_networks(self, owner: str, keep: frozenset[str]) -> tuple[list[str], list[str]]:
        from tui_orch.nodes.networks import prune_networks

        return await self._guard("remove unused networks", lambda ops: ops.blocking_call(
            "remove unused networks", prune_networks, ops.client.api, self.name, owner, keep))

    async def copy_volume_from(self, source: Node, name: str, image: str,
                               progress: VolumeProgress | None = None, timeout: float = 3600.0) -> VolumeCopy:
        from tui_orch.nodes.volumes import copy_volume

        if not isinstance(source, SupervisedNode) or source.docker is None:
            raise NodeError(source.name, f"cannot copy volume {name} from it: it is "
                            + ("simulated" if source.simulated else f"{source.status.state.value}"))
        return await self._guard(f"copy volume {name} from {source.name}", lambda ops: copy_volume(
            source.name, source.docker, self.name, ops.client, name, image, progress, timeout))

    # ----------------------------------------------------------------- the edge proxy (nodes/edge.py)
    async def edge(self, owner: str) -> "EdgeInfo | None":
        from tui_orch.nodes import edge

        return await self._guard("find the edge proxy", lambda ops: ops.blocking_call(
            "find the edge proxy", edge.find_edge, ops.client, owner))

    async def edge_op(self, owner: str, op: str, image: str = "") -> "EdgeInfo | None":
        from tui_orch.nodes import edge

        async def call(ops: DockerOps) -> "EdgeInfo | None":
            if op == "run":
                return await ops.blocking_call("start the edge proxy", edge.run_edge, ops.client, owner, self.name,
                                              image)
            found = await ops.blocking_call("find the edge proxy", edge.find_edge, ops.client, owner)
            if found is None:
                return None
            fn = {"start": edge.start_edge, "reload": edge.reload_edge, "remove": edge.remove_edge}[op]
            await ops.blocking_call(f"{op} the edge proxy", fn, ops.client, found.id)
            return found

        return await self._guard(f"{op} the edge proxy", call)

    async def edge_runtime(self, owner: str, commands: list[str], timeout: float = 10.0) -> list[str]:
        import posixpath

        from tui_orch.nodes import edge, proxyapi

        path = posixpath.join(edge.edge_folder(owner, self.name), edge.ADMIN)
        lost = self._lost
        return await self._race("talk to the edge proxy", proxyapi.runtime(
            lambda: self._open_unix(path), commands, timeout, where=self.name), lost)

    # ----------------------------------------------------------------- mesh proxies (nodes/meshproxy.py)
    async def meshes(self, owner: str) -> "dict[str, MeshInfo]":
        from tui_orch.nodes import meshproxy

        return await self._guard("list the mesh proxies", lambda ops: ops.blocking_call(
            "list the mesh proxies", meshproxy.find_meshes, ops.client, owner))

    async def mesh_op(self, owner: str, service: str, op: str, image: str = "",
                      networks: "tuple[NetworkRef, ...]" = ()) -> None:
        from tui_orch.nodes import meshproxy

        async def call(ops: DockerOps) -> None:
            if op == "run":
                await ops.blocking_call(f"start the mesh proxy of {service}", meshproxy.run_mesh, ops.client, owner,
                                        self.name, service, image, networks)
                return
            found = (await ops.blocking_call("list the mesh proxies", meshproxy.find_meshes, ops.client,
                                             owner)).get(service)
            if found is None:
                return
            fn = {"start": meshproxy.start_mesh, "reload": meshproxy.reload_mesh, "remove": meshproxy.remove_mesh}[op]
            await ops.blocking_call(f"{op} the mesh proxy of {service}", fn, ops.client, found.id)

        await self._guard(f"{op} the mesh proxy of {service}", call)

    async def mesh_runtime(self, owner: str, service: str, commands: list[str], timeout: float = 10.0) -> list[str]:
        import posixpath

        from tui_orch.nodes import edge, meshproxy, proxyapi

        path = posixpath.join(meshproxy.mesh_folder(owner, self.name, service), edge.ADMIN)
        return await self._race(f"talk to the mesh proxy of {service}", proxyapi.runtime(
            lambda: self._open_unix(path), commands, timeout, where=self.name), self._lost)

    async def replica_reach(self, owner: str) -> "dict[str, Reach]":
        from tui_orch.nodes import meshproxy

        return await self._guard("list where replicas are reached", lambda ops: ops.blocking_call(
            "list where replicas are reached", meshproxy.replica_reach, ops.client, owner))

    async def open_connection(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        lost = self._lost
        if self._ops is None or lost.is_set():
            raise NodeUnavailable(self.name, f"cannot open {host}:{port}: the node is {self.status.state.value}")
        return await self._race(f"open {host}:{port}", self._open_tcp(host, port), lost)

    @abc.abstractmethod
    async def _open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP stream to ``host``:``port`` from the host (an SSH direct-tcpip channel on a
        remote one); NodeError naming the address when it cannot be opened."""

    @abc.abstractmethod
    async def _open_unix(self, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A stream to the unix socket ``path`` on the host (an SSH stream-local channel on a remote one)."""

    @property
    def host_id(self) -> str:
        """As of the last connection (a node that reconnects elsewhere reports it then)."""
        return self._facts.host_id if self._facts is not None else ""

    @property
    def docker(self) -> Any:
        """The docker-py client of the current session (None when not connected)."""
        return self._ops.client if self._ops is not None else None

    async def build_image(self, service: str, spec: BuildSpec, tag: str, on_line: Callable[[str], None]) -> str:
        client = self.docker
        if client is None:
            raise NodeError(self.name, f"cannot build {service} here: the node is {self.status.state.value}")
        from tui_orch.nodes.build import build_image  # docker-py: loaded when an image is built

        return await build_image(client, self.name, service, spec, tag, on_line)

    async def bring_image(self, image: str, sources: Sequence[Node], timeout: float = 600.0) -> str:
        """Pull, or stream ``docker save | docker load`` from a node that has it (images.py)."""
        if await self.has_image(image):
            return "present"
        target = self.docker
        if target is None:
            raise NodeError(self.name, f"image {image} is not on this node and it is not connected")
        from tui_orch.nodes.images import ensure_image, this_machine  # docker-py: loaded when an image moves

        engines = [(n.name, n.docker) for n in sources
                   if isinstance(n, SupervisedNode) and n.name != self.name and n.docker is not None]
        local = await this_machine()
        return await ensure_image(image, target, self.name, engines + ([local] if local else []), timeout=timeout)
