"""A simulated node: a Docker host that exists only in memory, behind the real Node interface.

For the demo (``tui-orch demo``) and scale tests. Containers are kept in a dict; running
one emits create and start events, a health check goes starting -> healthy at its first
probe after the start period, stopping emits kill, die and stop, removing emits destroy,
like the engine. Utilisation follows the replicas placed on the node: each running
container keeps busy half its cpu limit (0.1 core without one; ``TUI_ORCH_SIM_CPU`` in its
environment or ``set_load()`` say otherwise), with a slow random walk around that.

Each container keeps the engine restart policy it was created with (or was given by
``set_restart_policy``): a ``crash()`` of one whose policy says so restarts it at once, same
id, like the engine (its 100 ms backoff aside); stopping or removing one never does.

Faults: ``crash()``, ``make_unhealthy()`` / ``make_healthy()``, ``fail()`` (NotReady:
operations fail, metrics and events stop; what runs keeps running) and ``recover()``
(Ready again; the events missed meanwhile are delivered, as a real node's event cursor
replays them). The node updates only when its ``Simulator`` ticks (see simulator.py).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from tui_orch.errors import ContainerNotFound, NodeError, NodeUnavailable
from tui_orch.model import NodeSpec, NodeState, Pairs, Resources, VolumeSpec
from tui_orch.nodes.base import (LABEL_SERVICE, ContainerInfo, ContainerMetrics, ContainerRequest, DockerEvent, Node,
                                 VolumeCopy, VolumeInfo, VolumeProgress)
from tui_orch.nodes.sim.container import (GIB, MIB, SIM_CPU_ENV, SIM_MEMORY_ENV, SimContainer, container_metrics,
                                         fast_metrics, new_container)
from tui_orch.nodes.sim.logs import log_lines
from tui_orch.nodes.sim.simulator import Simulator, default_simulator
from tui_orch.nodes.sim.volumes import SimVolumes

if TYPE_CHECKING:
    from tui_orch.manifest.localtree import Entry

CAPACITIES = ((2, 4), (4, 8), (4, 8), (4, 8), (4, 16), (8, 16), (8, 32))  # (cores, GiB), drawn per name
DOCKER_VERSION = "27.3.1-sim"
SIM_PLATFORM = "linux/amd64"  # what a simulated engine reports as OSType/Architecture
READY_REASON = "simulated node"
LOG_POLL = 0.25  # seconds between looks at a followed container's new lines
DECAY_1S = (math.exp(-1 / 60), math.exp(-1 / 300), math.exp(-1 / 900))

__all__ = ["SIM_CPU_ENV", "SIM_MEMORY_ENV", "SimulatedNode", "Simulator"]


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


class SimulatedNode(Node):
    """A node that lives in memory and is updated by a shared ``Simulator``."""

    def __init__(self, spec: NodeSpec, simulator: Simulator | None = None):
        super().__init__(spec)
        self.sim = simulator or default_simulator()
        seed = f"{self.sim.seed}:{spec.name}"
        self._seed = seed
        self._noise: random.Random | None = None  # made when first used (rng, _ids): 10,000 nodes
        self._id_rng: random.Random | None = None  # are built before the console's first frame
        rng = random.Random(seed + ":host")  # what the host is
        cores, gib = rng.choice(CAPACITIES)
        self.host_capacity = spec.capacity or Resources(float(cores), gib * GIB)
        self.cores = max(1, math.ceil(self.host_capacity.cpus))
        self.mem_total = self.host_capacity.memory or 8 * GIB
        self.disk_total = rng.choice((50, 100, 200, 500)) * GIB
        self.disk_base = int(self.disk_total * rng.uniform(0.1, 0.35))
        self.swap_total = rng.choice((0, 2 * GIB))
        self.os_memory = int(250 * MIB + self.mem_total * rng.uniform(0.03, 0.07))
        self.base_cpu = self.cores * rng.uniform(0.01, 0.05)  # cores the host itself keeps busy
        weights = [rng.uniform(0.6, 1.4) for _ in range(self.cores)]
        weights = [w * len(weights) / sum(weights) for w in weights]  # mean 1: cores average to the host
        self.core_rotations = [tuple(weights[i:] + weights[:i]) for i in range(self.cores)]  # busy core moves
        self.max_weight = max(weights)
        self.boot_time = self.sim.now() - rng.uniform(0.5, 90.0) * 86400
        self.hostname = f"{spec.name}.sim"
        self.containers: dict[str, SimContainer] = {}
        self.files: dict[str, bytes] = {}  # path -> bytes of delivered secrets/configs
        self.trees: dict[str, dict[str, bytes]] = {}  # path -> the files of a delivered folder
        self.binds: dict[str, tuple[tuple[str, str], ...]] = {}  # container id -> its delivered binds
        self.mounted: dict[str, ContainerRequest] = {}  # container id -> the request, when it mounts anything
        self.networks: dict[str, str] = {}  # project networks made here -> the owner that made them
        self.attached: dict[str, tuple[str, ...]] = {}  # container id -> the networks it joins
        self.failed = False
        self.down_until: float | None = None  # set by chaos: when the node comes back
        self._missed: list[DockerEvent] = []
        self.restart_policies: dict[str, tuple[str, int]] = {}  # container id -> (name, max retries)
        self.foreign_ports: set[int] = set()  # host ports bound by processes the controller did not start
        self._restart_counts: dict[str, int] = {}  # container id -> restarts by the "engine"
        self._base_walk = 1.0
        self._load = (self.base_cpu, self.base_cpu, self.base_cpu)
        self._images = 0  # distinct images of its containers
        self._tick_count = 0
        self._started = False
        self.volumes = SimVolumes(spec.name, self._volume_users)

    @property
    def rng(self) -> random.Random:
        """The noise of its ticks."""
        if self._noise is None:
            self._noise = random.Random(self._seed)
        return self._noise

    @property
    def _ids(self) -> random.Random:
        """Its containers' ids, independent of the ticks."""
        if self._id_rng is None:
            self._id_rng = random.Random(self._seed + ":ids")
        return self._id_rng

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.sim.add(self)
        self.tick(self.sim.now(), self.sim.interval, self.sim.noise)  # a first sample at once
        if not self.failed:
            self._set_ready()
        await asyncio.sleep(0)

    async def close(self) -> None:
        self._started = False
        self.sim.remove(self)

    async def reconnect(self) -> None:
        """A failed simulated node comes back only by ``recover()`` (or chaos)."""

    def _set_ready(self) -> None:
        self.set_status(NodeState.READY, READY_REASON, hostname=self.hostname,
                        capacity=self.host_capacity, docker_version=DOCKER_VERSION, platform=SIM_PLATFORM)

    # ----------------------------------------------------------------- faults
    def fail(self, reason: str = "network cut", power_off: bool = False) -> None:
        """The node goes NotReady: operations fail, metrics and events stop. Its containers
        keep running (a network cut) unless ``power_off``: then they die with exit 255."""
        if power_off:
            for c in self.containers.values():
                if c.status == "running":
                    self._exit(c, 255)
        if self.failed:
            return
        self.failed = True
        self.set_status(NodeState.NOT_READY, f"simulated failure: {reason}")

    def recover(self) -> None:
        """Ready again; the events of the downtime are delivered now."""
        self.down_until = None
        if not self.failed:
            return
        self.failed = False
        missed, self._missed = self._missed, []
        for event in missed:
            self.events.put_nowait(event)
        if self._started:
            self._set_ready()

    def crash(self, container_id: str, exit_code: int = 1, oom: bool = False) -> None:
        """The container dies on its own (an ``oom`` event first when ``oom``)."""
        c = self._find(container_id)
        if c.status != "running":
            return
        if oom:
            c.oom_killed = True
            self._emit("oom", c)
        self._exit(c, exit_code)
        if self._engine_restarts(c, exit_code):
            self._restart(c)

    def _engine_restarts(self, c: SimContainer, exit_code: int) -> bool:
        name, max_retries = self.restart_policies.get(c.id, ("no", 0))
        if name in ("always", "unless-stopped"):
            return True
        count = self._restart_counts.get(c.id, 0)
        return name == "on-failure" and exit_code != 0 and (max_retries == 0 or count < max_retries)

    def _restart(self, c: SimContainer) -> None:
        """The engine starts a dead container again (same id)."""
        now = self.sim.now()
        self._restart_counts[c.id] = self._restart_counts.get(c.id, 0) + 1
        c.status, c.exit_code, c.finished_at, c.oom_killed = "running", None, None, False
        c.started_at = now
        if c.interval:
            c.health, c.failures = "starting", 0
            c.next_probe = now + c.interval * max(1, math.ceil(c.start_period / c.interval - 1e-9))
        self._emit("start", c)

    def make_unhealthy(self, container_id: str) -> None:
        """Its probes fail from now on: unhealthy after ``retries`` of them."""
        c = self._find(container_id)
        c.failing = True

    def make_healthy(self, container_id: str) -> None:
        self._find(container_id).failing = False

    def set_load(self, container_id: str, cpus: float | None = None, memory: int | None = None) -> None:
        """How busy a replica is: cores it keeps busy (capped by its limit), bytes it uses."""
        c = self._find(container_id)
        if cpus is not None:
            c.cpu_target = cpus
        if memory is not None:
            c.mem_target = memory

    def running_ids(self) -> list[str]:
        return [cid for cid, c in self.containers.items() if c.status == "running"]

    # ----------------------------------------------------------------- containers
    def _check(self, what: str) -> None:
        if not self._started:
            raise NodeUnavailable(self.name, f"cannot {what}: the simulated node is not started")
        if self.failed or self.status.state != NodeState.READY:
            reason = f" ({self.status.reason})" if self.status.reason else ""
            raise NodeUnavailable(self.name, f"cannot {what}: the node is {self.status.state.value}{reason}")

    def _find(self, ref: str) -> SimContainer:
        c = self.containers.get(ref)
        if c is not None:
            return c
        found = [c for cid, c in self.containers.items() if c.name == ref or (len(ref) >= 4 and cid.startswith(ref))]
        if len(found) != 1:
            raise ContainerNotFound(self.name, f"no container {ref!r}")
        return found[0]

    # -- files (secrets, configs): kept in memory, as a tmpfs would
    async def put_file(self, path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        await asyncio.sleep(0)
        self._check(f"write {path}")
        self.files[path] = data

    async def read_file(self, path: str) -> bytes | None:
        self._check(f"read {path}")
        return self.files.get(path)

    async def list_files(self, folder: str) -> list[str]:
        self._check(f"list {folder}")
        prefix = folder.rstrip("/") + "/"
        return [p[len(prefix):] for p in [*self.files, *self.trees] if p.startswith(prefix) and "/" not in p[len(prefix):]]

    async def remove_file(self, path: str) -> None:
        self._check(f"remove {path}")
        self.files.pop(path, None)

    async def put_tree(self, path: str, entries: Sequence[Entry]) -> None:
        await asyncio.sleep(0)
        self._check(f"write {path}")
        self.trees[path] = {e.path: e.data for e in entries if not e.folder}

    async def remove_tree(self, path: str) -> None:
        self._check(f"remove {path}")
        self.trees.pop(path, None)

    async def run_container(self, request: ContainerRequest) -> ContainerInfo:
        await asyncio.sleep(0)
        self._check(f"run {request.name}")
        labels = dict(request.labels)
        if LABEL_SERVICE not in labels:
            raise NodeError(self.name, f"refusing to create {request.name!r} without the {LABEL_SERVICE} label")
        for other in self.containers.values():
            if other.name == request.name:
                raise NodeError(self.name, f"cannot run {request.name!r}: the name is in use by container "
                                           f"{other.id[:12]}; remove it first")
        held = {p for c in self.containers.values() if c.status == "running" for p in c.ports}
        for host, _target, proto, _ip in request.ports:
            if (host, proto) in held:
                raise NodeError(self.name, f"cannot run {request.name!r}: host port {host}/{proto} is "
                                           f"already allocated")
        missing = [src for src, _ in request.delivered if src not in self.files and src not in self.trees]
        if missing:  # as the engine refuses a bind whose source is gone
            raise NodeError(self.name, f"cannot run {request.name!r}: bind source path does not exist: {missing[0]}")
        self._check_mounts(request)
        c = new_container(request, _hex_id(self._ids), self.sim.now())
        self.containers[c.id] = c
        self.binds[c.id] = request.delivered
        self._join_networks(c.id, request)
        if request.mounts or request.tmpfs or request.volumes_from:
            self.mounted[c.id] = request
            self.volumes.mount(request.mounts)
        policy = request.restart_policy or {}
        retries = policy.get("MaximumRetryCount")
        self.restart_policies[c.id] = (str(policy.get("Name") or "no"), retries if isinstance(retries, int) else 0)
        self._images = len({x.image for x in self.containers.values()})
        self._emit("create", c)
        self._emit("start", c)
        return self._info(c)

    async def stop_container(self, container_id: str, timeout: float = 10.0) -> None:
        await asyncio.sleep(0)
        self._check(f"stop {container_id[:12]}")
        c = self._find(container_id)
        if c.status != "running":
            return
        self._emit("kill", c)
        self._exit(c, 0)
        self._emit("stop", c)

    async def remove_container(self, container_id: str) -> None:
        await asyncio.sleep(0)
        self._check(f"remove {container_id[:12]}")
        try:
            c = self._find(container_id)
        except ContainerNotFound:
            return  # already gone: not an error
        if c.status == "running":
            self._emit("kill", c)
            self._exit(c, 137)
        del self.containers[c.id]
        self.mounted.pop(c.id, None)
        self.attached.pop(c.id, None)
        self.restart_policies.pop(c.id, None)
        self._restart_counts.pop(c.id, None)
        self._images = len({x.image for x in self.containers.values()})
        self.container_metrics.pop(c.id, None)
        self._emit("destroy", c)

    async def list_owned(self) -> list[ContainerInfo]:
        await asyncio.sleep(0)
        self._check("list containers")
        return [self._info(c) for c in self.containers.values()]

    async def inspect(self, container_id: str) -> ContainerInfo:
        await asyncio.sleep(0)
        self._check(f"inspect {container_id[:12]}")
        return self._info(self._find(container_id))

    async def has_image(self, image: str) -> bool:
        await asyncio.sleep(0)
        self._check(f"look up image {image}")
        return True  # images are simulated: every node has every image

    def _check_mounts(self, request: ContainerRequest) -> None:
        """As the engine refuses a volumes_from container that is not on the node."""
        for ref in request.volumes_from:
            if ref.partition(":")[0] not in self.containers:
                raise NodeError(self.name, f"cannot run {request.name!r}: no such container: {ref}")

    def _volume_users(self, name: str) -> list[str]:
        return [self.containers[cid].name for cid, req in self.mounted.items() if cid in self.containers
                and any(m.type == "volume" and m.source == name for m in req.mounts)]

    async def ensure_volume(self, volume: VolumeSpec, labels: Pairs) -> str:
        await asyncio.sleep(0)
        self._check(f"create volume {volume.name}")
        return self.volumes.ensure(volume, labels)

    async def list_volumes(self, sizes: bool = False) -> list[VolumeInfo]:
        self._check("list volumes")
        return self.volumes.listing()

    async def remove_volume(self, name: str) -> None:
        self._check(f"remove volume {name}")
        self.volumes.remove(name)

    async def copy_volume_from(self, source: Node, name: str, image: str,
                               progress: VolumeProgress | None = None, timeout: float = 3600.0) -> VolumeCopy:
        self._check(f"copy volume {name}")
        if not isinstance(source, SimulatedNode):
            raise NodeError(source.name, f"cannot copy volume {name} from it to simulated node {self.name}")
        source._check(f"read volume {name}")
        await asyncio.sleep(0)
        return self.volumes.receive(source.volumes, name, progress)

    def _join_networks(self, container_id: str, request: ContainerRequest) -> None:
        """As nodes/networks.py ensure_network: a project network is made by the first replica
        on it (an external one is taken as there)."""
        owner = dict(request.labels).get("tui-orch.owner", "")
        for ref in request.networks:
            if not ref.external:
                self.networks.setdefault(ref.name, owner)
        if request.networks:
            self.attached[container_id] = tuple(ref.name for ref in request.networks)

    async def prune_networks(self, owner: str, keep: frozenset[str]) -> tuple[list[str], list[str]]:
        await asyncio.sleep(0)
        self._check("remove unused networks")
        in_use = {name for names in self.attached.values() for name in names}
        removed, left = [], []
        for name, made_by in sorted(self.networks.items()):
            if not owner or made_by != owner:
                continue
            if name in keep or name in in_use:
                left.append(name)
                continue
            del self.networks[name]
            removed.append(name)
        return removed, left

    async def _read_ports(self) -> frozenset[int]:
        await asyncio.sleep(0)
        self._check("read the ports in use")
        held = {p for c in self.containers.values() if c.status == "running" for p, _proto in c.ports}
        return frozenset(held | self.foreign_ports)

    async def set_restart_policy(self, container_id: str, name: str, max_retries: int = 0) -> None:
        await asyncio.sleep(0)
        self._check(f"update {container_id[:12]}")
        if name not in ("no", "always", "unless-stopped", "on-failure"):
            raise NodeError(self.name, f"update {container_id[:12]}: the engine said: invalid restart policy {name!r}")
        c = self._find(container_id)
        self.restart_policies[c.id] = (name, max_retries if name == "on-failure" else 0)

    async def logs(self, container_id: str, follow: bool = False, since: float | None = None,
                   tail: int | None = 200, timestamps: bool = False) -> AsyncIterator[str]:
        self._check("read logs")
        c = self._find(container_id)
        done = 0  # lines already given
        first = True
        while True:
            end = c.finished_at if c.finished_at is not None else self.sim.now()
            lines, done = log_lines(c.id, c.started_at, end, c.exit_code, since if first else None,
                                    tail if first else None, done, timestamps)
            first = False
            for line in lines:
                yield line
            if not follow or c.status != "running" or c.id not in self.containers:
                return
            await asyncio.sleep(LOG_POLL)
            if self.failed:
                raise NodeUnavailable(self.name, f"lost the node while reading the logs of {c.id[:12]}")

    # ----------------------------------------------------------------- internals
    def _info(self, c: SimContainer) -> ContainerInfo:
        return ContainerInfo(id=c.id, name=c.name, node=self.name, image=c.image, labels=c.labels,
                             status=c.status, health=c.health, exit_code=c.exit_code, oom_killed=c.oom_killed,
                             started_at=c.started_at, finished_at=c.finished_at,
                             restart_count=self._restart_counts.get(c.id, 0))

    def _emit(self, action: str, c: SimContainer, exit_code: int | None = None, health: str | None = None) -> None:
        event = DockerEvent(node=self.name, time=self.sim.now(), action=action, container_id=c.id,
                            labels=tuple(kv for kv in c.labels if kv[0].startswith("tui-orch.")),
                            exit_code=exit_code, health=health, name=c.name)
        if self.failed:
            self._missed.append(event)
        else:
            self.events.put_nowait(event)

    def _exit(self, c: SimContainer, exit_code: int) -> None:
        c.status = "exited"
        c.exit_code = exit_code
        c.finished_at = self.sim.now()
        c.cpu, c.mem = 0.0, 0
        c.next_probe = 0.0
        self._emit("die", c, exit_code=exit_code)

    def _probe(self, c: SimContainer, now: float) -> None:
        c.next_probe = now + c.interval
        if not c.failing:
            c.failures = 0
            if c.health != "healthy":
                c.health = "healthy"
                self._emit("health_status", c, health="healthy")
            return
        if now - c.started_at < c.start_period and c.health == "starting":
            return  # failures in the start period do not count
        c.failures += 1
        if c.failures >= c.retries and c.health != "unhealthy":
            c.health = "unhealthy"
            self._emit("health_status", c, health="unhealthy")

    def tick(self, now: float, dt: float, noise: bool, decay: tuple[float, float, float] = DECAY_1S) -> None:
        """One interval of the host: replicas' use, health probes, and (if up) a sample.
        ``decay``: the load averages' factors exp(-dt/60), exp(-dt/300), exp(-dt/900)."""
        self._tick_count += 1
        rnd = self.rng.random
        want = 0.0
        mem = 0
        running = []
        for c in self.containers.values():
            if c.status != "running":
                continue
            running.append(c)
            if noise:
                d = c.drift + (rnd() + rnd() - 1.0) * 0.15 - (c.drift - 1.0) * 0.1
                c.drift = 1.6 if d > 1.6 else 0.4 if d < 0.4 else d
            use = c.cpu_target * c.drift
            c.cpu = use if not c.cpu_limit or use < c.cpu_limit else c.cpu_limit
            want += c.cpu
            m = int(c.mem_target * (0.95 + 0.05 * c.drift))
            c.mem = m if not c.mem_limit or m < c.mem_limit else c.mem_limit
            mem += c.mem
            if c.next_probe and now >= c.next_probe:
                self._probe(c, now)
        if noise:
            b = self._base_walk + (rnd() + rnd() - 1.0) * 0.25 - (self._base_walk - 1.0) * 0.2
            self._base_walk = 2.0 if b > 2.0 else 0.3 if b < 0.3 else b
        base = self.base_cpu * self._base_walk
        room = self.cores - base
        scale = room / want if want > room and want > 0 else 1.0
        busy = base + want * scale
        if self.failed:
            return  # nobody hears from it: metrics stop (the last sample stays)
        cpu_percent = min(100.0, 100.0 * busy / self.cores)
        weights = self.core_rotations[self._tick_count % self.cores]
        per_core = tuple(map(cpu_percent.__mul__, weights))
        if cpu_percent * self.max_weight > 100.0:
            per_core = tuple(p if p < 100.0 else 100.0 for p in per_core)
        load = self._load
        k1, k5, k15 = decay
        load = (load[0] * k1 + busy * (1 - k1), load[1] * k5 + busy * (1 - k5), load[2] * k15 + busy * (1 - k15))
        self._load = load
        mem_used = min(self.mem_total, self.os_memory + mem)
        docker_used = GIB + self._images * 180 * MIB + len(self.containers) * 8 * MIB
        rx = 2e3 * self._base_walk + want * scale * 400e3
        sample = fast_metrics(
            time=now, cpu_percent=cpu_percent, per_core=per_core, mem_total=self.mem_total, mem_used=mem_used,
            mem_available=self.mem_total - mem_used, swap_total=self.swap_total,
            swap_used=self.swap_total // 50, disk_total=self.disk_total,
            disk_used=self.disk_base + docker_used, docker_disk_total=self.disk_total,
            docker_disk_used=docker_used, net_rx_bps=rx, net_tx_bps=rx * 0.6,
            load=load, uptime=now - self.boot_time, containers=len(running), cores=self.cores)
        self.metrics = sample
        self.history.add(sample)
        if running or self._shown:
            self._shown, self._shown_scale, self._metrics_of = running, scale, None

    @property  # type: ignore[override]
    def container_metrics(self) -> dict[str, ContainerMetrics]:
        """Each running replica's use at the last tick, made when read (the replicas view
        reads the nodes of the rows it shows), not at each tick: with 100,000 replicas that
        was as many objects made every second whoever looked."""
        if self._metrics_of is None:
            scale = self._shown_scale
            self._metrics_of = {c.id: container_metrics(c.id, 100.0 * c.cpu * scale, c.mem)
                                for c in self._shown if c.id in self.containers}
        return self._metrics_of

    @container_metrics.setter
    def container_metrics(self, value: dict[str, ContainerMetrics]) -> None:
        self._shown, self._shown_scale, self._metrics_of = [], 1.0, value
