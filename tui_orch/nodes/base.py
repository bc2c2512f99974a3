"""The one small interface through which everything above sees a host.

A real remote node (SSH + Docker API forwarded over it), the local node (this machine's
socket) and a simulated node (demo, scale tests) all implement ``Node``; the controller and
the UI never know which one they hold, except that a simulated node says so.
"""

from __future__ import annotations

import abc
import asyncio
import time
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from tui_orch.errors import AuthFailed, DockerDenied, HostKeyChanged, HostKeyUnknown, NodeError, NoDocker
from tui_orch.model import BuildSpec, Mount, NetworkRef, NodeSpec, NodeState, Pairs, Resources, VolumeSpec

if TYPE_CHECKING:
    from tui_orch.nodes.edge import EdgeInfo
    from tui_orch.nodes.meshproxy import MeshInfo, Reach
    from tui_orch.manifest.localtree import Entry

# Labels that mark a container as owned by tui-orch. Containers without them are never touched.
LABEL_SERVICE = "tui-orch.service"
LABEL_REVISION = "tui-orch.revision"
LABEL_REPLICA = "tui-orch.replica"
LABEL_SLOT = "tui-orch.slot"
LABEL_NODE = "tui-orch.node"
LABEL_DIGEST = "tui-orch.digest"
LABEL_VOLUME = "tui-orch.volume"  # marks a volume as tui-orch's (volume ls lists only these)

HISTORY_SECONDS = 600  # sparklines: the last 10 minutes, one sample a second
# Here rather than in ssh.py / docker_api.py (which re-export them) so that building a fleet
# does not import asyncssh or docker-py.
DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to reach a host over SSH
DEFAULT_OP_TIMEOUT = 30.0  # seconds a Docker API call may take
# Errors that need the operator (trust the key, fix authorized_keys): never retried on their own.
OPERATOR_ERRORS = (HostKeyUnknown, HostKeyChanged, AuthFailed)


@dataclass(frozen=True)
class NodeStatus:
    """What is known about a node's reachability, as of ``since``."""

    state: NodeState
    reason: str = ""  # one readable sentence, e.g. "ssh 127.0.0.2:2222: connection refused"
    since: float = 0.0
    hostname: str = ""
    capacity: Resources | None = None  # detected (or inventory override) minus nothing
    docker_version: str = ""
    simulated: bool = False
    # --- container settings (issue 12): os/arch as images name it (linux/amd64), "" = unknown
    platform: str = ""


@dataclass(frozen=True)
class NodeMetrics:
    """One sample of a host's utilisation; rates are per second over the last interval."""

    time: float
    cpu_percent: float  # whole host, 0..100
    per_core: tuple[float, ...]
    mem_total: int
    mem_used: int
    mem_available: int
    swap_total: int
    swap_used: int
    disk_total: int  # /
    disk_used: int
    docker_disk_total: int  # Docker's data root
    docker_disk_used: int
    net_rx_bps: float
    net_tx_bps: float
    load: tuple[float, float, float]
    uptime: float
    containers: int
    cores: int

    @property
    def mem_percent(self) -> float:
        return 100.0 * self.mem_used / self.mem_total if self.mem_total else 0.0


@dataclass(frozen=True)
class ContainerMetrics:
    container_id: str
    cpu_percent: float  # of one core = 100
    mem_used: int


@dataclass(frozen=True)
class ContainerRequest:
    """Everything needed to create one replica's container."""

    name: str
    image: str
    labels: tuple[tuple[str, str], ...]
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: tuple[tuple[str, str], ...] = ()
    network_mode: str | None = None
    ports: tuple[tuple[int, int, str, str | None], ...] = ()  # (host port, target, protocol, host ip)
    nano_cpus: int = 0
    mem_limit: int = 0
    mem_reservation: int = 0
    healthcheck: dict[str, object] | None = None  # docker-py form (test, interval ns, ...)
    stop_signal: str | None = None
    stop_timeout: int | None = None
    restart_policy: dict[str, object] | None = None
    user: str | None = None
    working_dir: str | None = None
    # --- container settings (issue 12)
    # HostConfig fields in the Engine API's names (CapAdd, Sysctls, Ulimits...), merged into
    # the HostConfig built from the fields above; empty = nothing more
    host_config: dict[str, Any] = field(default_factory=dict)
    hostname: str | None = None
    domainname: str | None = None
    mac_address: str | None = None
    platform: str | None = None  # os/arch the image must be for (the engine checks it)

    # --- secrets, configs and local files (issue 12): (path on the node, target), read-only binds
    delivered: tuple[tuple[str, str], ...] = ()

    # --- volumes and data (issue 12): the service's mounts with node-level sources (a volume's
    # name on the node, an absolute path on the node; files of the operator's machine are in
    # ``delivered``), the service key tmpfs (path -> options) and volumes_from as container ids
    # ("ID" or "ID:ro"). nodes/mounts.py turns them into HostConfig Mounts/Binds/Tmpfs/VolumesFrom.
    mounts: tuple[Mount, ...] = ()
    tmpfs: Pairs = ()
    volumes_from: tuple[str, ...] = ()

    # --- networks and names (issue 13): the project networks it joins (made on the node when
    # missing; the first at creation, the others before it starts), and the ports other
    # services reach it on by name: these, its image's EXPOSE and its ports' targets are each
    # published on a free host port, where other nodes' mesh proxies reach it
    networks: tuple[NetworkRef, ...] = ()
    expose: tuple[int, ...] = ()


@dataclass(frozen=True)
class ContainerInfo:
    """An owned container as found on a node."""

    id: str
    name: str
    node: str
    image: str
    labels: tuple[tuple[str, str], ...]
    status: str  # created, running, exited, dead, restarting, paused
    health: str  # none, starting, healthy, unhealthy
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    restart_count: int = 0

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


@dataclass(frozen=True)
class DockerEvent:
    """A container event of an owned container, as it arrived from the engine."""

    node: str
    time: float
    action: str  # start, die, oom, health_status, destroy, kill, stop...
    container_id: str
    labels: tuple[tuple[str, str], ...] = ()
    exit_code: int | None = None
    health: str | None = None  # for health_status: healthy / unhealthy
    name: str = ""  # the container's name


@dataclass(frozen=True)
class VolumeInfo:
    """A volume labelled as tui-orch's, as found on a node."""

    name: str
    node: str
    driver: str
    labels: tuple[tuple[str, str], ...]
    users: tuple[str, ...] = ()  # names of the containers (any state) that mount it
    size: int | None = None  # bytes, when asked for and the engine could tell
    mountpoint: str = ""  # where the engine keeps it on the node

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


VERIFIED_ON_NODE = "on the node"  # checksummed by a container on the target node (nodes/volcheck.py)
VERIFIED_READ_BACK = "read back"  # the copy streamed back through this process and checksummed here


@dataclass(frozen=True)
class VolumeCopy:
    """What copying one volume between nodes did; both checksums are of the same form
    (nodes/tardigest.py) and equal, or the copy raised."""

    name: str
    source: str
    target: str
    bytes_sent: int  # tar stream bytes through this process
    content_bytes: int
    files: int
    seconds: float
    source_checksum: str
    target_checksum: str
    verified: str = VERIFIED_READ_BACK  # how the target's checksum was taken: VERIFIED_ON_NODE or VERIFIED_READ_BACK

    @property
    def rate(self) -> float:
        """Bytes per second over the whole copy (reading back the target included)."""
        return self.bytes_sent / self.seconds if self.seconds > 0 else 0.0


# (phase "copy" or "verify", bytes so far, seconds since the copy began)
VolumeProgress = Callable[[str, int, float], None]


class Sample(NamedTuple):
    """What the sparklines keep of a sample."""

    time: float
    cpu_percent: float
    mem_percent: float


class History:
    """The last ten minutes of samples, for sparklines: their time, cpu and memory only, in
    three rings of plain numbers. Every node keeping its last 600 NodeMetrics held ~450 KB
    (objects with a dict, per-core and load tuples): 4.5 GB on 10,000 nodes once the
    rings were full."""

    def __init__(self, size: int = HISTORY_SECONDS) -> None:
        self._size = size
        self._times = array("d")
        self._cpu = array("f")
        self._mem = array("f")
        self._next = 0  # where the next sample goes once the rings are full

    def add(self, sample: NodeMetrics) -> None:
        if len(self._times) < self._size:
            self._times.append(sample.time)
            self._cpu.append(sample.cpu_percent)
            self._mem.append(sample.mem_percent)
            return
        i = self._next
        self._times[i], self._cpu[i], self._mem[i] = sample.time, sample.cpu_percent, sample.mem_percent
        self._next = (i + 1) % self._size

    def _order(self, ring: array) -> list[float]:  # type: ignore[type-arg]
        return ring[self._next:].tolist() + ring[:self._next].tolist()

    @property
    def samples(self) -> list[Sample]:
        """Oldest first."""
        return list(map(Sample, self._order(self._times), self._order(self._cpu), self._order(self._mem)))

    def series(self, attr: str, seconds: float | None = None) -> list[float]:
        """``attr`` (time, cpu_percent or mem_percent) of the samples of the last ``seconds``."""
        now = time.time()
        return [float(getattr(s, attr)) for s in self.samples if seconds is None or now - s.time <= seconds]


StateListener = Callable[["Node", NodeStatus, NodeStatus], None]


class Node(abc.ABC):
    """One host. Owns its connection, its Docker client and its metrics stream."""

    def __init__(self, spec: NodeSpec):
        self.spec = spec
        self.status = NodeStatus(NodeState.CONNECTING, "not connected yet", time.time(), simulated=spec.simulated)
        self.metrics: NodeMetrics | None = None
        self.container_metrics: dict[str, ContainerMetrics] = {}
        self.history = History()
        self._events: asyncio.Queue[DockerEvent] | None = None  # made when first used (events)
        self._listeners: list[StateListener] = []
        # host ports bound on the node at the last ports_in_use() (kept while it is away:
        # what ran there may still run and hold them)
        self.ports_seen: frozenset[int] = frozenset()
        # what the last connection attempt warned about while going on (a missing identity
        # file: OpenSSH's way, the other keys and the agent are tried); shown, never an error
        self.warnings: tuple[str, ...] = ()

    @property
    def events(self) -> asyncio.Queue[DockerEvent]:
        """Its engine's events, as they come. Made when first used (the fleet reads it once
        started): the 10,000 nodes of a big fleet are built before the console's first frame."""
        if self._events is None:
            self._events = asyncio.Queue()
        return self._events

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def simulated(self) -> bool:
        return self.spec.simulated

    def on_state_change(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def set_status(self, state: NodeState, reason: str = "", **changes: object) -> None:
        old = self.status
        if old.state == state and old.reason == reason and not changes:
            return
        fields = {
            "hostname": old.hostname,
            "capacity": old.capacity,
            "docker_version": old.docker_version,
            "simulated": self.spec.simulated,
            "platform": old.platform,
        }
        fields.update(changes)  # type: ignore[arg-type]
        since = old.since if old.state == state else time.time()
        self.status = NodeStatus(state, reason, since, **fields)  # type: ignore[arg-type]
        for listener in list(self._listeners):
            listener(self, old, self.status)

    @property
    def capacity(self) -> Resources | None:
        """Cores and memory the scheduler may use: inventory override, else detected."""
        return self.spec.capacity or self.status.capacity

    # -- lifecycle
    @abc.abstractmethod
    async def start(self) -> None:
        """Connect (and keep reconnecting in the background) and start the metrics stream."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop every background task and close the connection."""

    async def wait_state(self, *states: NodeState, timeout: float) -> NodeState:
        """Wait until the node is in one of ``states``; raises TimeoutError after ``timeout``."""
        changed = asyncio.Event()

        def listener(_node: "Node", _old: NodeStatus, _new: NodeStatus) -> None:
            changed.set()

        self.on_state_change(listener)
        try:
            async with asyncio.timeout(timeout):
                while self.status.state not in states:
                    changed.clear()
                    await changed.wait()
        finally:
            self._listeners.remove(listener)
        return self.status.state

    async def reconnect(self) -> None:
        """Operator action: try to connect again now (after trusting a host key, fixing
        authorized_keys...). A Ready node is left as it is."""

    # -- containers (all raise NodeError subclasses on failure; none hangs past its timeout)
    @abc.abstractmethod
    async def run_container(self, request: ContainerRequest) -> ContainerInfo: ...

    @abc.abstractmethod
    async def stop_container(self, container_id: str, timeout: float = 10.0) -> None: ...

    @abc.abstractmethod
    async def remove_container(self, container_id: str) -> None: ...

    @abc.abstractmethod
    async def list_owned(self) -> list[ContainerInfo]: ...

    @abc.abstractmethod
    async def inspect(self, container_id: str) -> ContainerInfo: ...

    @abc.abstractmethod
    def logs(self, container_id: str, follow: bool = False, since: float | None = None,
             tail: int | None = 200, timestamps: bool = False) -> AsyncIterator[str]: ...

    @abc.abstractmethod
    async def has_image(self, image: str) -> bool: ...

    async def bring_image(self, image: str, sources: Sequence["Node"], timeout: float = 600.0) -> str:
        """Make ``image`` present on this node, without a registry if need be; returns "present",
        "pulled" or "copied from NODE" (one of ``sources``, other nodes, or this machine's
        engine). Raises NodeError when it cannot be brought here (ImageNotFound when no source
        has it and no registry answers, OperationTimeout past ``timeout`` seconds). A node
        that cannot receive images (this default) only says whether it has it."""
        if await self.has_image(image):
            return "present"
        raise NodeError(self.name, f"image {image} is not on this node and it cannot receive one")

    async def build_image(self, service: str, spec: BuildSpec, tag: str, on_line: Callable[[str], None]) -> str:
        """Build ``service``'s image from ``spec`` on this node's engine, tagged ``tag`` and
        by its id (nodes/build.py); the build log goes to ``on_line``. Returns the image id.
        Raises BuildFailed (the build's error lines) or NodeError. A node that cannot build
        (this default) says so."""
        raise NodeError(self.name, f"cannot build images here; build {service} on another node (--build-on)")

    async def ports_in_use(self) -> frozenset[int]:
        """The host ports bound on the node now: listening TCP and bound UDP sockets of any
        process, and ports its engine publishes for any container (nodes/ports.py). Remembered
        as ``ports_seen`` for the planner. Raises NodeError when the node cannot be read."""
        self.ports_seen = await self._read_ports()
        return self.ports_seen

    @abc.abstractmethod
    async def _read_ports(self) -> frozenset[int]: ...

    @abc.abstractmethod
    async def set_restart_policy(self, container_id: str, name: str, max_retries: int = 0) -> None:
        """Change the engine's restart policy of an owned container (``no``, ``always``,
        ``unless-stopped``, ``on-failure`` with ``max_retries``, 0 = unlimited) while it runs."""

    # -- files delivered from the operator's machine (secrets, configs): controller/delivery.py
    async def put_file(self, path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        """Write ``data`` to the absolute ``path`` (its folders made 0700), with ``mode`` and,
        when the node lets us, owner ``uid``:``gid``; written to a side file then renamed, so a
        reader never sees half a file. Raises NodeError."""
        raise NodeError(self.name, "this node cannot receive files")

    async def read_file(self, path: str) -> bytes | None:
        """The bytes of ``path``, None when it does not exist. Raises NodeError."""
        return None

    async def list_files(self, folder: str) -> list[str]:
        """The names in ``folder`` ([] when it does not exist). Raises NodeError."""
        return []

    async def remove_file(self, path: str) -> None:
        """Remove the file ``path`` (nothing when it is gone). Raises NodeError."""

    async def put_tree(self, path: str, entries: Sequence[Entry]) -> None:
        """Write the folder ``path`` (its parents made 0700) holding ``entries`` (relative paths,
        folders before their content, each with its mode); written to ``path.part`` then
        renamed, so a reader never sees half a folder. Raises NodeError."""
        raise NodeError(self.name, "this node cannot receive folders")

    async def remove_tree(self, path: str) -> None:
        """Remove the folder ``path`` and all it holds (nothing when it is gone). Raises NodeError."""

    # -- volumes (nodes/volumes.py for an engine). A node that holds none (this default) says so.
    async def list_volumes(self, sizes: bool = False) -> list[VolumeInfo]:
        """The volumes labelled ``tui-orch.volume`` on this node, with the containers that
        mount them; ``sizes`` also asks the engine their size (slower: it walks them)."""
        return []

    async def ensure_volume(self, volume: VolumeSpec, labels: Pairs) -> str:
        """Make the named volume ``volume.name`` exist here: "present" when it does (left as it
        is), "created" when it was made now with the volume's driver, options and labels plus
        ``labels`` (tui-orch's: LABEL_VOLUME and the owner). An external volume is never made:
        NodeError naming it and what to do when it is missing. Raises NodeError."""
        raise NodeError(self.name, f"cannot create volume {volume.name}: this node holds no volumes")

    async def remove_volume(self, name: str) -> None:
        """Remove a tui-orch volume. Raises NodeError when a container uses it (naming it),
        when it is not tui-orch's, or when the node cannot be reached; a missing one is fine."""
        raise NodeError(self.name, f"cannot remove volume {name}: this node holds no volumes")

    # -- project networks (nodes/networks.py for an engine). A node that makes none (this default) has none.
    async def prune_networks(self, owner: str, keep: frozenset[str]) -> tuple[list[str], list[str]]:
        """Remove the project networks ``owner`` made here that are not in ``keep`` and that no
        container is attached to (never an external one, never another owner's); returns
        (removed, left): the names removed and those of ``owner`` still here (kept, or a
        container is attached). Raises NodeError when the node cannot be reached."""
        return [], []

    async def copy_volume_from(self, source: "Node", name: str, image: str,
                               progress: VolumeProgress | None = None, timeout: float = 3600.0) -> VolumeCopy:
        """Create volume ``name`` here (same driver, options and labels as on ``source``) and
        fill it with the source's content, streamed through this process, then read it back
        and compare checksums. ``image`` (present on both nodes; its containers are created,
        never started) holds the volume while it is read or written. On any failure the
        volume this call created is removed again and NodeError says why; a volume of that
        name already here is an error (never merged into)."""
        raise NodeError(self.name, f"cannot receive volume {name}: this node holds no volumes")

    # -- the edge proxy of a state folder (nodes/edge.py; controller/traffic.py drives it)
    async def edge(self, owner: str) -> "EdgeInfo | None":
        """The edge proxy container of ``owner`` here, None when there is none."""
        return None

    async def edge_op(self, owner: str, op: str, image: str = "") -> "EdgeInfo | None":
        """``op`` on the edge proxy of ``owner``: "run" (create and start it with ``image``),
        "start", "reload" (SIGUSR2: a new worker takes over the listeners) or "remove"."""
        raise NodeError(self.name, "this node runs no edge proxy (it is simulated)" if self.simulated
                        else "this node runs no edge proxy")

    async def edge_runtime(self, owner: str, commands: list[str], timeout: float = 10.0) -> list[str]:
        """Send Runtime API commands to the edge proxy of ``owner``; their answers. Raises
        NodeError (ProxyUnreachable, ProxyCommandFailed: nodes/proxyapi.py)."""
        raise NodeError(self.name, "this node runs no edge proxy")

    # -- mesh proxies of a state folder (nodes/meshproxy.py; controller/mesh.py drives them)
    async def meshes(self, owner: str) -> "dict[str, MeshInfo]":
        """The mesh proxies of ``owner`` here, by service."""
        return {}

    async def mesh_op(self, owner: str, service: str, op: str, image: str = "",
                      networks: "tuple[NetworkRef, ...]" = ()) -> None:
        """``op`` on the mesh proxy of ``service``: "run", "start", "reload" or "remove"."""
        raise NodeError(self.name, "this node runs no mesh proxy")

    async def mesh_runtime(self, owner: str, service: str, commands: list[str], timeout: float = 10.0) -> list[str]:
        raise NodeError(self.name, "this node runs no mesh proxy")

    async def replica_reach(self, owner: str) -> "dict[str, Reach]":
        """Container id -> where the running replica is reached (published ports, addresses)."""
        return {}

    # -- port-forwarding (controller/forwards.py): a stream to an address as the node reaches it
    async def open_connection(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP stream to ``host``:``port`` opened from the node itself (through its SSH
        connection on a remote node: the address may be one only the node reaches, such as a
        container's on its Docker network). Raises NodeError naming the address when the node
        cannot open it. A node that opens none (this default: a simulated one) says so."""
        raise NodeError(self.name, f"cannot open {host}:{port} from it: "
                        + ("it is simulated (no real container listens there)" if self.simulated
                           else "this node opens no connections"))

    @property
    def host_id(self) -> str:
        """The machine and network namespace the node runs on ("" = unknown: a host of its
        own). Nodes with the same host_id share host ports (see nodes/hostid.py)."""
        return ""


def state_of(exc: BaseException) -> NodeState:
    """The node state a connect/setup failure puts a node in."""
    for cls, state in (
        (HostKeyUnknown, NodeState.HOST_KEY_UNKNOWN),
        (HostKeyChanged, NodeState.HOST_KEY_CHANGED),
        (AuthFailed, NodeState.AUTH_FAILED),
        (NoDocker, NodeState.NO_DOCKER),
        (DockerDenied, NodeState.DOCKER_DENIED),
    ):
        if isinstance(exc, cls):
            return state
    return NodeState.UNREACHABLE


def reason_of(exc: BaseException) -> str:
    """The message of a NodeError without the 'node: ' prefix."""
    text = str(exc)
    if isinstance(exc, NodeError) and text.startswith(exc.node + ": "):
        return text[len(exc.node) + 2:]
    return text
