"""The domain model: frozen values with no I/O.

Sizes are bytes (int), durations are seconds (float), cpus are cores (float).
Mappings (environment, labels) are tuples of (key, value) pairs, sorted, so that every
value here is hashable and compares by content; use ``dict(spec.environment)`` to read one.
``to_dict``/``from_dict`` turn any model value into plain JSON data and back.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from tui_orch.container_settings import ContainerSettings, platform_matches

Pairs = tuple[tuple[str, str], ...]


def pairs(mapping: dict[str, Any] | None) -> Pairs:
    """A mapping as sorted (key, str(value)) pairs."""
    return tuple(sorted((str(k), str(v)) for k, v in (mapping or {}).items()))


# --------------------------------------------------------------------------- services


@dataclass(frozen=True)
class Resources:
    cpus: float = 0.0  # cores
    memory: int = 0  # bytes


@dataclass(frozen=True)
class ResourceSpec:
    limits: Resources = Resources()
    reservations: Resources = Resources()


@dataclass(frozen=True)
class Healthcheck:
    """A container health check. ``test`` is Docker's form: ("CMD", ...), ("CMD-SHELL", cmd),
    or ("NONE",) to disable the image's check. None means: use the image's check."""

    test: tuple[str, ...] | None = None
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0
    disable: bool = False

    @property
    def enabled(self) -> bool:
        return not self.disable and self.test != ("NONE",)


@dataclass(frozen=True)
class RestartPolicy:
    condition: Literal["none", "on-failure", "any"] = "any"
    delay: float = 5.0
    max_attempts: int = 0  # 0 = unlimited
    window: float = 0.0  # 0 = attempts are counted forever


@dataclass(frozen=True)
class UpdateConfig:
    parallelism: int = 1  # 0 = all at once
    delay: float = 0.0
    failure_action: Literal["pause", "continue", "rollback"] = "pause"
    monitor: float = 5.0
    max_failure_ratio: float = 0.0
    order: Literal["stop-first", "start-first"] = "stop-first"


@dataclass(frozen=True)
class Constraint:
    """``node.hostname == x`` or ``node.labels.KEY != y``."""

    key: str  # node.hostname | node.labels.<name> | node.role | node.id
    op: Literal["==", "!="]
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.value}"

    def node_value(self, node: "NodeInfo") -> str | None:
        if self.key == "node.platform":  # os/arch as images name it (from the service's platform:)
            return node.platform
        if self.key in ("node.id", "node.name"):  # the node's name in the inventory
            return node.name
        if self.key == "node.hostname":  # the host's own name (the inventory's until known)
            return node.hostname or node.name
        if self.key == "node.role":
            return "worker"
        if self.key.startswith("node.labels."):
            return dict(node.labels).get(self.key[len("node.labels."):])
        return None

    def matches(self, node: "NodeInfo") -> bool:
        actual = self.node_value(node)
        if self.key == "node.platform":
            return platform_matches(self.value, actual or "") == (self.op == "==")
        if self.op == "==":
            return actual == self.value
        return actual != self.value


@dataclass(frozen=True)
class Placement:
    constraints: tuple[Constraint, ...] = ()
    preferences: tuple[str, ...] = ()  # spread descriptors, e.g. "node.labels.zone"
    max_replicas_per_node: int = 0  # 0 = no cap


@dataclass(frozen=True)
class PortSpec:
    """A published port. ``published`` None means: allocate a dynamic host port for each
    replica (the replica learns it in the PORT environment variable).

    Mode ingress (the manifest's default for a published port): the edge proxy of every Ready
    node answers on ``published`` (on ``host_ip`` only, when set) and sends each connection to
    a replica, which binds a dynamic host port like a port without ``published``. Mode host:
    the replica binds ``published`` itself, on the node it runs on. The default stays host:
    specs stored before the mesh (every port mode host) read back unchanged."""

    target: int | None = None
    published: int | None = None
    protocol: Literal["tcp", "udp"] = "tcp"
    host_ip: str | None = None
    mode: Literal["host", "ingress"] = "host"

    @property
    def host_port(self) -> int | None:
        """The port the replica binds on its node; None: a dynamic one the scheduler allocates."""
        return self.published if self.mode == "host" else None

    @property
    def dynamic(self) -> bool:
        return self.host_port is None

    @property
    def ingress(self) -> bool:
        """Served by the edge proxy on every node, at ``published``."""
        return self.mode == "ingress" and self.published is not None

    def __str__(self) -> str:
        """Where clients reach it, as plans and ``validate`` show it: ``8080 (every node) -> 80/tcp``."""
        target = f"{self.target if self.target is not None else 'PORT'}/{self.protocol}"
        if self.published is None:
            return f"dynamic -> {target}"
        ip = self.host_ip or ""
        at = f"[{ip}]:" if ":" in ip else f"{ip}:" if ip else ""
        where = "every node" if self.ingress else "each replica's node"
        return f"{at}{self.published} ({where}) -> {target}"


@dataclass(frozen=True)
class Dependency:
    """One entry of a service's ``depends_on``: start after ``service`` reached ``condition``."""

    service: str
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = "service_started"
    required: bool = True  # False: a dependency that is not deployed (or fails) does not hold the service back
    restart: bool = False  # read, kept for reference: dependants are not restarted with it


@dataclass(frozen=True)
class FileRef:
    """A secret or config as one service mounts it (Compose's long syntax, defaults filled).

    Never holds a secret's value: ``digest`` (sha256 of the bytes) and where the bytes come
    from (``origin``, ``where``). A config given by ``content`` or ``environment`` is not
    secret and carries its text in ``content``, so it needs nothing of the operator's machine
    later. The controller delivers the bytes to a node, checked against ``digest``."""

    kind: Literal["secret", "config"]
    name: str  # the top-level key
    target: str  # absolute path in the container
    origin: Literal["file", "environment", "content"]
    where: str = ""  # file: its absolute path on the operator's machine; environment: the variable
    digest: str = ""  # sha256 (hex) of the bytes
    content: str | None = None  # configs from content/environment only; never a secret's value
    uid: str = "0"
    gid: str = "0"
    mode: int = 0o444


@dataclass(frozen=True)
class Mount:
    """A filesystem mounted into a service's containers (service ``volumes``, long or short form)."""

    type: Literal["volume", "bind", "tmpfs"]
    target: str  # absolute path in the container
    # volume: its key in the top-level volumes ("" = anonymous); bind: the path on the node, or,
    # when ``local``, the absolute path on the operator's machine; tmpfs: ""
    source: str = ""
    read_only: bool = False
    local: bool = False  # a bind of a file/folder on the operator's machine (relative path in the file)
    digest: str = ""  # local only: digest of the content (set where local files are delivered)
    # the rest of the long syntax: propagation, create_host_path, selinux, nocopy, subpath, size, mode
    options: Pairs = ()

    def option(self, key: str, default: str = "") -> str:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class VolumeSpec:
    """A named volume of the top-level ``volumes`` key, as the services that mount it need it."""

    key: str  # its key in the top-level volumes (what mounts name as their source)
    name: str  # its name on each node: "<project>_<key>", or ``name:``, or the key when external
    driver: str = ""  # "" = the engine's default (local)
    driver_opts: Pairs = ()
    labels: Pairs = ()
    external: bool = False  # made by the operator: must exist on the node already, never created


@dataclass(frozen=True)
class NetworkRef:
    """A network a service is attached to (issue 13): a key of the top-level ``networks``
    ("default" when the service names none), with this service's aliases on it. Each node
    that runs one of its replicas has a bridge network of this name; services on other nodes
    are reached by name through the node's mesh proxies (controller/mesh.py)."""

    key: str  # its key in the top-level networks
    name: str  # its name on each node: "<project>_<key>", or ``name:``, or the key when external
    aliases: tuple[str, ...] = ()  # more names the service answers to on this network
    internal: bool = False  # no route out of the node (Docker's --internal); the manifest sets it never (see decisions)
    external: bool = False  # made by the operator: must exist on the node already, never created
    labels: Pairs = ()


@dataclass(frozen=True)
class VolumeHome:
    """Where the data of a replica's named volume lives: the node whose copy of ``volume``
    the replica wrote to. The replica is pinned there (placement) and waits for it."""

    replica: str  # the replica key (db.1, agent.node2)
    service: str
    volume: str  # the volume's name on the node
    node: str
    since: float = 0.0


@dataclass(frozen=True)
class BuildSpec:
    """How a service's image is built (Compose's ``build:``). ``context`` is the folder on the
    operator's machine (absolute); ``dockerfile`` is relative to it (or absolute)."""

    context: str
    dockerfile: str | None = None  # None: Dockerfile
    dockerfile_inline: str | None = None
    args: Pairs = ()
    target: str | None = None
    labels: Pairs = ()
    network: str | None = None
    shm_size: int | None = None  # bytes
    extra_hosts: tuple[str, ...] = ()  # "host:ip"
    cache_from: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Pairs = ()
    ports: tuple[PortSpec, ...] = ()
    network_mode: str | None = None
    labels: Pairs = ()
    healthcheck: Healthcheck | None = None
    stop_grace_period: float = 10.0
    stop_signal: str | None = None
    restart: str | None = None  # Compose's engine-level restart, kept for reference
    user: str | None = None
    working_dir: str | None = None
    mode: Literal["replicated", "global"] = "replicated"
    replicas: int = 1
    resources: ResourceSpec = ResourceSpec()
    restart_policy: RestartPolicy = RestartPolicy()
    update_config: UpdateConfig = UpdateConfig()
    rollback_config: UpdateConfig = UpdateConfig()
    placement: Placement = Placement()
    # --- container settings (issue 12)
    settings: ContainerSettings = ContainerSettings()  # cap_add, sysctls, ulimits, platform...

    # --- compose: profiles, depends_on, one-shot jobs (issue 12)
    profiles: tuple[str, ...] = ()  # deployed only when one is active (none: always)
    depends_on: tuple[Dependency, ...] = ()

    @property
    def one_shot(self) -> bool:
        """A job (restart "no" / condition none): it runs to its end; exit 0 is success."""
        return self.restart_policy.condition == "none"

    # --- secrets and configs (issue 12)
    secrets: tuple[FileRef, ...] = ()  # mounted read-only, /run/secrets/<name> by default
    configs: tuple[FileRef, ...] = ()  # mounted read-only, /<name> by default
    # --- volumes and data (issue 12)
    mounts: tuple[Mount, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()  # the top-level declarations its named volume mounts use
    tmpfs: Pairs = ()  # service key tmpfs: (container path, mount options such as "size=64m")
    volumes_from: tuple[str, ...] = ()  # services whose volumes it mounts: "NAME" or "NAME:ro"
    # --- networks and names (issue 13): the networks it is attached to (none: the engine's
    # default bridge, as before networks were read), and the ports it is reached on by name
    # besides its image's EXPOSE and its ports' targets
    networks: tuple[NetworkRef, ...] = ()
    expose: tuple[int, ...] = ()

    def volume(self, key: str) -> VolumeSpec | None:
        """The declaration of the named volume ``key`` its mounts use."""
        return next((v for v in self.volumes if v.key == key), None)

    # --- build (issue 12)
    # Set by the manifest; the apply builds the image and stores the spec with build None and
    # ``image`` the built image's tag that names its id (nodes/build.py run_tag): an unchanged
    # build gives an unchanged spec, whatever build settings produced it.
    build: BuildSpec | None = None

    @property
    def reservation(self) -> Resources:
        """What the scheduler sets aside for one replica."""
        return self.resources.reservations

    def digest(self) -> str:
        """A short stable hash of the spec: equal specs give equal digests. Fields added since
        (issue 13: networks, expose) count only when set, so that a spec stored by an older
        version keeps its digest (an upgrade starts no rollout)."""
        fields = to_dict(self)
        for key in _LATER_FIELDS:
            if not fields.get(key):
                fields.pop(key, None)
        data = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()[:12]


_LATER_FIELDS = ("networks", "expose")


# --------------------------------------------------------------------------- nodes


class NodeState(str, enum.Enum):
    READY = "Ready"
    CONNECTING = "Connecting"
    NOT_READY = "NotReady"
    UNREACHABLE = "Unreachable"
    AUTH_FAILED = "AuthFailed"
    HOST_KEY_UNKNOWN = "HostKeyUnknown"
    HOST_KEY_CHANGED = "HostKeyChanged"
    NO_DOCKER = "NoDocker"
    DOCKER_DENIED = "DockerDenied"


class Availability(str, enum.Enum):
    ACTIVE = "active"
    CORDONED = "cordoned"  # keeps what it runs, gets nothing new
    DRAINING = "draining"  # gets nothing new, its replicas move elsewhere


@dataclass(frozen=True)
class NodeSpec:
    """One host of the inventory. ``address`` may be an alias from ~/.ssh/config."""

    name: str
    address: str = "localhost"
    port: int | None = None  # None: from ~/.ssh/config, else 22
    user: str | None = None  # None: from ~/.ssh/config, else the local user
    identity_file: str | None = None
    docker_socket: str = "/var/run/docker.sock"
    labels: Pairs = ()
    capacity: Resources | None = None  # override of the detected cores/memory
    reserved: Resources = Resources()  # kept back for the host itself
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    proxy_jump: str | None = None
    local: bool = False  # this machine, reached without SSH
    simulated: bool = False  # a simulated node (demo, scale tests), labelled as such
    advertise: str | None = None  # where other nodes reach this one, when not at address


@dataclass(frozen=True)
class NodeInfo:
    """What the scheduler knows about a node when it plans."""

    name: str
    capacity: Resources
    reserved: Resources = Resources()
    labels: Pairs = ()
    hostname: str = ""
    state: NodeState = NodeState.READY
    availability: Availability = Availability.ACTIVE
    cpu_used: float | None = None  # measured, fraction 0..1 of the whole host
    memory_used: float | None = None  # measured, fraction 0..1
    # The machine and network namespace the node runs on ("" = unknown: a host of its own).
    # Nodes with the same host_id share host ports: a port in use on one is in use on all.
    host_id: str = ""
    # Host ports bound on the node by anything (other processes, any container), as last read:
    # the planner never hands them out.
    ports_in_use: frozenset[int] = frozenset()
    # --- container settings (issue 12): os/arch as images name it (linux/amd64), "" = unknown
    platform: str = ""

    @property
    def allocatable(self) -> Resources:
        return Resources(
            max(0.0, self.capacity.cpus - self.reserved.cpus),
            max(0, self.capacity.memory - self.reserved.memory),
        )

    @property
    def schedulable(self) -> bool:
        return self.state == NodeState.READY and self.availability == Availability.ACTIVE


# --------------------------------------------------------------------------- replicas


class ReplicaState(str, enum.Enum):
    PENDING = "pending"  # planned, not yet created
    STARTING = "starting"  # created/starting, not yet running
    RUNNING = "running"
    STOPPING = "stopping"
    EXITED = "exited"  # died; may be restarted
    FAILED = "failed"  # gave up restarting
    LOST = "lost"  # its node is gone
    STOPPED = "stopped"  # stopped on purpose


class Health(str, enum.Enum):
    NONE = "none"  # no health check
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class Replica:
    """One running (or wanted) instance of a service on a node."""

    service: str
    slot: int  # 1..replicas for replicated services; 0 for global ones (keyed by node)
    revision: int
    node: str
    state: ReplicaState = ReplicaState.PENDING
    health: Health = Health.NONE
    container_id: str | None = None
    cpus: float = 0.0  # reserved cores
    memory: int = 0  # reserved bytes
    ports: tuple[int, ...] = ()  # host ports it holds on its node
    restarts: int = 0
    exit_code: int | None = None
    started_at: float | None = None
    message: str = ""

    @property
    def key(self) -> str:
        return f"{self.service}.{self.slot}" if self.slot else f"{self.service}.{self.node}"


@dataclass(frozen=True)
class Revision:
    service: str
    number: int  # 1, 2, 3...
    spec: ServiceSpec
    created_at: float
    cause: str = ""  # "apply web.yaml", "rollout restart", "rollback to 3"...
    # user@host of the process that stored it ("" in revisions stored before this was kept)
    applied_by: str = ""
    # the service's part of its Compose file as applied (manifest/sections.py; "" for a
    # revision made otherwise, or stored before it was kept): what the console's `y` shows
    compose: str = ""

    @property
    def digest(self) -> str:
        return self.spec.digest()


class RolloutState(str, enum.Enum):
    RUNNING = "running"  # replacing replicas batch by batch
    PAUSED = "paused"  # by the operator, or by failure_action pause / a failed rollback
    COMPLETED = "completed"
    ROLLING_BACK = "rolling back"  # failure_action rollback or `rollout undo`, in progress
    ROLLED_BACK = "rolled back"


@dataclass(frozen=True)
class Rollout:
    """Progress of replacing a service's replicas by those of ``to_revision`` (kept in the
    store before each step, so that a controller that dies resumes it)."""

    service: str
    from_revision: int  # what runs before (and what a rollback returns to)
    to_revision: int
    state: RolloutState = RolloutState.RUNNING
    kind: Literal["update", "restart", "rollback", "undo", "rebalance"] = "update"
    order: Literal["stop-first", "start-first"] = "stop-first"
    parallelism: int = 1
    batch: int = 0  # batches begun (1-based number of the current one)
    batches: int = 0  # batches in all (as counted when the rollout began)
    total: int = 0  # replicas to replace
    updated: int = 0  # replicas of to_revision started
    healthy: int = 0  # of those, passed the health gate and the monitor period
    failed: int = 0  # of those, failed the gate or within monitor
    started_at: float = 0.0
    updated_at: float = 0.0
    message: str = ""  # why paused, what failed, how it ended
    # start-first: the old replicas (key, JSON of the Replica record) whose containers still
    # run until their replacement passes the health gate; the reconcile pass leaves them alone; the reconcile pass leaves them alone
    retiring: Pairs = ()
    # the replica keys of the batch in progress (redone, idempotently, after a crash)
    batch_keys: tuple[str, ...] = ()
    # keys whose new replica failed and, with failure_action continue, are left as they are
    skipped: tuple[str, ...] = ()
    # a rebalance (same revision): replica key -> the node it moves to, start-first
    moves: Pairs = ()

    @property
    def active(self) -> bool:
        return self.state in (RolloutState.RUNNING, RolloutState.ROLLING_BACK)

    @property
    def progress(self) -> str:
        """``batch 2 of 3: 4/6 updated, 3 healthy, 0 failed``"""
        return (f"batch {self.batch} of {self.batches}: {self.updated}/{self.total} updated, "
                f"{self.healthy} healthy, {self.failed} failed")


@dataclass(frozen=True)
class Event:
    time: float
    kind: str  # deploy, placement, start, stop, die, restart, unhealthy, node, rollout, rollback...
    message: str  # one readable sentence
    service: str | None = None
    replica: str | None = None
    node: str | None = None
    level: Literal["info", "warning", "error"] = "info"
    data: Pairs = ()


# --------------------------------------------------------------------------- (de)serialisation


def to_dict(value: Any) -> Any:
    """Plain JSON data for any model value (dataclasses, enums, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [to_dict(v) for v in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        # the class's own module first: nested values may live beside it (container_settings)
        _HINTS[cls] = typing.get_type_hints(cls, globalns={**globals(), **vars(sys.modules[cls.__module__])})
    return _HINTS[cls]


def _convert(tp: Any, data: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, data)
            except (TypeError, ValueError, KeyError):
                continue
        raise ValueError(f"cannot read {data!r} as {tp}")
    if origin is Literal:
        if data not in typing.get_args(tp):
            raise ValueError(f"{data!r} is not one of {typing.get_args(tp)}")
        return data
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in data)
        return tuple(_convert(a, v) for a, v in zip(args, data))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, data)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"expected a number, got {data!r}")
        return float(data)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise TypeError(f"expected an integer, got {data!r}")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise TypeError(f"expected a string, got {data!r}")
        return data
    if tp is bool:
        if not isinstance(data, bool):
            raise TypeError(f"expected a boolean, got {data!r}")
        return data
    return data


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """The inverse of ``to_dict``: rebuild a model value of class ``cls``."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**kwargs)


__all__ = [
    "Availability",
    "BuildSpec",
    "Constraint",
    "Dependency",
    "Event",
    "FileRef",
    "Health",
    "Healthcheck",
    "NodeInfo",
    "NodeSpec",
    "NodeState",
    "Pairs",
    "Placement",
    "PortSpec",
    "Replica",
    "ReplicaState",
    "ResourceSpec",
    "Resources",
    "RestartPolicy",
    "Revision",
    "Rollout",
    "RolloutState",
    "ServiceSpec",
    "UpdateConfig",
    "Mount",
    "NetworkRef",
    "VolumeHome",
    "VolumeSpec",
    "from_dict",
    "pairs",
    "to_dict",
]
