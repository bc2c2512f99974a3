"""The sampler's records and the rates made of them; pure: no I/O, unit-testable alone.

    SampleParser   lines of nodes/sampler.sh -> RawSample (raw counters, no rates)
    RateCalculator two RawSamples -> (NodeMetrics, {container id: ContainerMetrics})

Counters arrive raw as the kernel keeps them (except per-core jiffies, which the sampler
sends as the step since its previous record, to stay small on many-core hosts); every rate
is made here, so a counter that wraps or restarts is handled in one place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from tui_orch.nodes.base import ContainerMetrics, NodeMetrics

KIB = 1024

ContainerCounters = tuple[int | None, int | None]  # (cpu usage in µs since start, memory bytes)


@dataclass(frozen=True)
class RawSample:
    """One reading of a host's raw counters; rates need two of them."""

    clock: float  # seconds on a clock that only moves forward (the host's uptime)
    uptime: float
    load: tuple[float, float, float]
    mem_total: int  # bytes
    mem_available: int
    swap_total: int
    swap_free: int
    net_rx: int  # bytes since boot, all non-loopback interfaces
    net_tx: int
    cores: tuple[tuple[float, float], ...]  # per core (busy, idle) time since the previous sample
    disk: tuple[int, int, int, int] = (0, 0, 0, 0)  # / total, used; docker root total, used
    containers: Mapping[str, ContainerCounters] = field(default_factory=dict)


class SampleParser:
    """Reads the sampler's lines (see sampler.sh); ``feed`` returns a RawSample per T line.

    Lines it does not know (a login script's chatter, the shell's own complaints) are kept
    in ``last_other`` and skipped; malformed records are counted in ``errors`` and skipped,
    never raised."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.protocol: int | None = None
        self.errors = 0
        self.mem_total = 0
        self.swap_total = 0
        self.disk: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.ids: tuple[str, ...] = ()
        self.last_other = ""

    def feed(self, line: str) -> RawSample | None:
        line = line.strip()
        kind, _, rest = line.partition(" ")
        try:
            if kind == "T":
                return self._tick(rest)
            if kind == "H":
                protocol, pid = rest.split()[:2]
                self.protocol, self.pid = int(protocol), int(pid)
                self.ids = ()
            elif kind == "S":
                total, swap = (int(v) * KIB for v in rest.split())
                self.mem_total, self.swap_total = total, swap
            elif kind == "D":
                values = [int(v) * KIB for v in rest.split()]
                values = (values + [0, 0, 0, 0])[:4]
                self.disk = (values[0], values[1], values[2], values[3])
            elif kind == "C":
                self.ids = tuple(rest.split())
            elif line:
                self.last_other = line[:200]
        except ValueError:
            self.errors += 1
        return None

    def _tick(self, rest: str) -> RawSample | None:
        head, cores_text, containers_text = rest.split(";")
        up, l1, l5, l15, avail, swap_free, rx, tx = head.split()
        numbers = [int(v) for v in cores_text.split()]
        if len(numbers) % 2:
            raise ValueError("odd number of per-core values")
        cores = tuple((float(numbers[i]), float(numbers[i + 1])) for i in range(0, len(numbers), 2))
        values = containers_text.split()
        containers: dict[str, ContainerCounters] = {}
        if len(values) == 2 * len(self.ids):
            for i, cid in enumerate(self.ids):
                usage, mem = values[2 * i], values[2 * i + 1]
                containers[cid] = (None if usage == "-" else int(usage),
                                   None if mem == "-" else int(mem) * KIB)
        else:
            self.errors += 1  # values that match no id list: drop them, keep the host's
        uptime = float(up)
        return RawSample(
            clock=uptime, uptime=uptime, load=(float(l1), float(l5), float(l15)),
            mem_total=self.mem_total, mem_available=int(avail) * KIB,
            swap_total=self.swap_total, swap_free=int(swap_free) * KIB,
            net_rx=int(rx), net_tx=int(tx), cores=cores, disk=self.disk, containers=containers,
        )


def counter_delta(new: int, old: int, bits: int = 64) -> int:
    """How far a counter moved: a 32-bit wrap is undone; any other step back is a reset
    (the counter restarted from zero in between), counted as the new value."""
    if new >= old:
        return new - old
    top = 1 << 32
    if bits == 32 or (old < top and old - new > top // 2):
        return new + top - old
    return new


class RateCalculator:
    """Turns successive RawSamples into NodeMetrics and per-container metrics."""

    def __init__(self) -> None:
        self.previous: RawSample | None = None

    def reset(self) -> None:
        self.previous = None

    def update(self, raw: RawSample, now: float | None = None
               ) -> tuple[NodeMetrics, dict[str, ContainerMetrics]] | None:
        """The rates since the previous sample; None for the first one (or after the clock
        went back, i.e. the host rebooted or the sampler restarted)."""
        prev, self.previous = self.previous, raw
        if prev is None or raw.clock <= prev.clock:
            return None
        dt = raw.clock - prev.clock
        per_core = tuple(_percent(b, i) for b, i in raw.cores)
        busy = sum(max(0.0, b) for b, _ in raw.cores)
        idle = sum(max(0.0, i) for _, i in raw.cores)
        root_total, root_used, docker_total, docker_used = raw.disk
        node = NodeMetrics(
            time=time.time() if now is None else now,
            cpu_percent=_percent(busy, idle),
            per_core=per_core,
            mem_total=raw.mem_total,
            mem_used=max(0, raw.mem_total - raw.mem_available),
            mem_available=raw.mem_available,
            swap_total=raw.swap_total,
            swap_used=max(0, raw.swap_total - raw.swap_free),
            disk_total=root_total,
            disk_used=root_used,
            docker_disk_total=docker_total,
            docker_disk_used=docker_used,
            net_rx_bps=counter_delta(raw.net_rx, prev.net_rx) / dt,
            net_tx_bps=counter_delta(raw.net_tx, prev.net_tx) / dt,
            load=raw.load,
            uptime=raw.uptime,
            containers=len(raw.containers),
            cores=len(raw.cores),
        )
        containers: dict[str, ContainerMetrics] = {}
        for cid, (usage, mem) in raw.containers.items():
            if usage is None and mem is None:
                continue  # its cgroup went away while it was read
            before = prev.containers.get(cid, (None, None))[0]
            cpu = 0.0  # a container seen for the first time has no rate yet
            if usage is not None and before is not None:
                cpu = counter_delta(usage, before) / (dt * 1e6) * 100.0
            containers[cid] = ContainerMetrics(cid, round(cpu, 2), mem or 0)
        return node, containers


def _percent(busy: float, idle: float) -> float:
    busy, idle = max(0.0, busy), max(0.0, idle)
    total = busy + idle
    return round(min(100.0, 100.0 * busy / total), 2) if total > 0 else 0.0
