"""Live utilisation of hosts and their containers, as ``NodeMetrics`` and ``ContainerMetrics``.

A remote node runs nothing of ours but a POSIX shell loop (``sampler.sh``) on ONE long-lived
SSH channel: every interval it reads /proc and the containers' cgroup files with shell
builtins (one fork a tick: ``sleep``; ``df`` every ~10 s) and prints one compact line of raw
counters. The console turns them into rates (the pure half lives in ``samples.py``):

    SampleParser   lines of the sampler -> RawSample (raw counters, no rates)
    RateCalculator two RawSamples -> (NodeMetrics, {container id: ContainerMetrics})
    remote_metrics the stream over one channel of an asyncssh connection
    local_metrics  the same for this machine, from psutil and the local cgroup files

Containers are the running ones of *this* engine: the ids under ``<docker root>/containers``
that have a cgroup (so several engines on one kernel, as in the lab, do not mix). When the
SSH user cannot read the docker root, every Docker container cgroup on the host counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import shlex
import time
from collections.abc import AsyncGenerator
from importlib import resources
from pathlib import Path

import asyncssh
import psutil

from tui_orch.errors import NodeUnavailable
from tui_orch.nodes.base import ContainerMetrics, NodeMetrics
from tui_orch.nodes.samples import (
    ContainerCounters,
    RateCalculator,
    RawSample,
    SampleParser,
    counter_delta,
)

__all__ = [
    "ContainerCounters", "LocalSampler", "RateCalculator", "RawSample", "RemoteSampler",
    "SampleParser", "counter_delta", "local_metrics", "read_cgroup_containers",
    "remote_metrics", "sampler_command", "sampler_script",
]

PROTOCOL = 1
DEFAULT_DOCKER_ROOT = "/var/lib/docker"
STATIC_EVERY_SECONDS = 10.0  # MemTotal, SwapTotal and df are sent this often
EXCLUDED_NICS = ("lo", "veth", "docker", "br-", "ifb")  # loopback, container plumbing, mirrors
CGROUP_ROOT = Path("/sys/fs/cgroup")


@functools.cache
def sampler_script() -> str:
    """The sampler, without its comments and indentation (it travels on every connect)."""
    text = resources.files("tui_orch.nodes").joinpath("sampler.sh").read_text()
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("#")) + "\n"


def static_every(interval: float) -> int:
    return max(1, round(STATIC_EVERY_SECONDS / interval))


def _check_interval(interval: float) -> str:
    if not (math.isfinite(interval) and 0.1 <= interval <= 3600):
        raise ValueError(f"metrics interval must be between 0.1 and 3600 seconds, not {interval!r}")
    return f"{interval:.3f}".rstrip("0").rstrip(".")


def sampler_command(docker_root: str = DEFAULT_DOCKER_ROOT, interval: float = 1.0) -> str:
    """The remote command line: /bin/sh runs the sampler whatever the user's login shell is."""
    if not docker_root.startswith("/"):
        raise ValueError(f"docker root must be an absolute path, not {docker_root!r}")
    args = ["/bin/sh", "-c", sampler_script(), "tui-orch-sampler", _check_interval(interval),
            docker_root, str(static_every(interval))]
    return "exec " + " ".join(shlex.quote(a) for a in args)


# -------------------------------------------------------------------------------------------
# The remote stream


class RemoteSampler:
    """One sampler on one SSH channel. ``stream()`` yields rates; the counters
    (``bytes_received``, ``records``, ``pid``) are there for the curious (benchmarks, UI)."""

    def __init__(self, conn: asyncssh.SSHClientConnection, docker_root: str = DEFAULT_DOCKER_ROOT,
                 interval: float = 1.0, node: str | None = None):
        self.conn = conn
        self.command = sampler_command(docker_root, interval)
        self.node = node or _peer(conn)
        self.parser = SampleParser()
        self.calculator = RateCalculator()
        self.bytes_received = 0
        self.records = 0

    @property
    def pid(self) -> int | None:
        """The sampler's process id on the host (from its first line)."""
        return self.parser.pid

    async def stream(self) -> AsyncGenerator[tuple[NodeMetrics, dict[str, ContainerMetrics]], None]:
        try:
            # stderr joins stdout: an unread stderr buffer would stall the channel's window
            process = await self.conn.create_process(self.command, encoding=None, stderr=asyncssh.STDOUT)
        except (asyncssh.Error, OSError) as exc:
            raise NodeUnavailable(self.node, f"cannot start the metrics sampler over SSH: {exc}") from exc
        try:
            while True:
                try:
                    line = await process.stdout.readline()
                except (asyncssh.Error, OSError) as exc:
                    raise NodeUnavailable(self.node, f"metrics stream lost: {exc}") from exc
                if not line.endswith(b"\n"):
                    raise NodeUnavailable(self.node, await _ended(process, self.parser.last_other))
                self.bytes_received += len(line)
                raw = self.parser.feed(line.decode("ascii", "replace"))
                if raw is None:
                    continue
                self.records += 1
                result = self.calculator.update(raw)
                if result is not None:
                    yield result
        finally:
            await _stop(process)


async def remote_metrics(conn: asyncssh.SSHClientConnection, docker_root: str = DEFAULT_DOCKER_ROOT,
                         interval: float = 1.0, node: str | None = None,
                         ) -> AsyncGenerator[tuple[NodeMetrics, dict[str, ContainerMetrics]], None]:
    """Stream a remote host's metrics over one SSH channel, one item per ``interval``.

    The first item comes after the second record (rates need two). Raises NodeUnavailable
    when the channel or connection closes. Cancelling the consumer (or ``aclose()``) sends
    the sampler SIGTERM (OpenSSH >= 7.9 takes signal requests) and closes the channel; a
    server that ignores the signal still ends the loop at its next write, within one interval.
    ``node`` names the host in errors (default: its address)."""
    stream = RemoteSampler(conn, docker_root, interval, node).stream()
    async with contextlib.aclosing(stream):
        async for item in stream:
            yield item


def _peer(conn: asyncssh.SSHClientConnection) -> str:
    peer = conn.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if peer else "ssh host"


async def _ended(process: asyncssh.SSHClientProcess[bytes], said: str) -> str:
    with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
        await asyncio.wait_for(process.wait_closed(), 2)
    status = process.exit_status
    why = f"exit status {status}" if status is not None else "channel closed"
    return f"metrics stream ended ({why}){': ' + said if said else ''}"


async def _stop(process: asyncssh.SSHClientProcess[bytes]) -> None:
    """Ask the sampler to stop now (servers that take signal requests), then close."""
    with contextlib.suppress(asyncssh.Error, OSError, ValueError):
        process.send_signal("TERM")
    process.close()
    with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
        await asyncio.wait_for(process.wait_closed(), 2)


# -------------------------------------------------------------------------------------------
# This machine


def read_cgroup_containers(docker_root: str = DEFAULT_DOCKER_ROOT, cgroup_root: Path = CGROUP_ROOT,
                           ) -> dict[str, ContainerCounters]:
    """Running containers of the engine at docker_root -> (cpu µs, memory bytes), read the
    way sampler.sh reads them (cgroup v2 or v1, systemd or cgroupfs driver)."""
    v2 = (cgroup_root / "cgroup.controllers").is_file()
    cpuacct = cgroup_root / "cpuacct"
    if not cpuacct.is_dir():
        cpuacct = cgroup_root / "cpu,cpuacct"
    try:
        names = os.listdir(os.path.join(docker_root, "containers"))
    except OSError:  # not readable by this user: every Docker cgroup on the host
        names = []
        for base in ([cgroup_root / "system.slice", cgroup_root / "docker"] if v2
                     else [cpuacct / "docker", cpuacct / "system.slice"]):
            with contextlib.suppress(OSError):
                names += os.listdir(base)
    found: dict[str, ContainerCounters] = {}
    for name in sorted(names):
        cid = name.removeprefix("docker-").removesuffix(".scope")
        if len(cid) != 64:
            continue
        if v2:
            where = [cgroup_root / "system.slice" / f"docker-{cid}.scope", cgroup_root / "docker" / cid]
            d = next((p for p in where if p.is_dir()), None)
            if d is None:
                continue
            usage = _read_int(d / "cpu.stat", field=1)
            mem = _read_int(d / "memory.current")
        else:
            rel = next((r for r in (f"docker/{cid}", f"system.slice/docker-{cid}.scope")
                        if (cpuacct / r).is_dir()), None)
            if rel is None:
                continue
            ns = _read_int(cpuacct / rel / "cpuacct.usage")
            usage = None if ns is None else ns // 1000
            mem = _read_int(cgroup_root / "memory" / rel / "memory.usage_in_bytes")
        found[cid] = (usage, mem)
    return found


def _read_int(path: Path, field: int = 0) -> int | None:
    try:
        with open(path) as f:
            return int(f.readline().split()[field])
    except (OSError, ValueError, IndexError):
        return None


class LocalSampler:
    """RawSamples of this machine from psutil (and the local cgroup files)."""

    def __init__(self, docker_root: str = DEFAULT_DOCKER_ROOT, cgroup_root: Path = CGROUP_ROOT):
        self.docker_root = docker_root
        self.cgroup_root = cgroup_root
        self._cpu: list[tuple[float, float]] = []

    def sample(self) -> RawSample:
        absolute = []
        for t in psutil.cpu_times(percpu=True):
            busy = t.user + t.system + sum(getattr(t, k, 0.0) for k in ("nice", "irq", "softirq", "steal"))
            absolute.append((busy, t.idle + getattr(t, "iowait", 0.0)))
        previous = self._cpu if len(self._cpu) == len(absolute) else [(0.0, 0.0)] * len(absolute)
        cores = tuple((b - pb, i - pi) for (b, i), (pb, pi) in zip(absolute, previous))
        self._cpu = absolute
        mem, swap = psutil.virtual_memory(), psutil.swap_memory()
        rx = tx = 0
        for nic, counters in psutil.net_io_counters(pernic=True).items():
            if not nic.startswith(EXCLUDED_NICS):
                rx, tx = rx + counters.bytes_recv, tx + counters.bytes_sent
        root = psutil.disk_usage("/")
        docker_total = docker_used = 0
        with contextlib.suppress(OSError):
            du = psutil.disk_usage(self.docker_root)
            docker_total, docker_used = du.total, du.used
        uptime = max(0.0, time.time() - psutil.boot_time())
        l1, l5, l15 = os.getloadavg()
        return RawSample(
            clock=time.monotonic(), uptime=uptime, load=(l1, l5, l15),
            mem_total=mem.total, mem_available=mem.available,
            swap_total=swap.total, swap_free=swap.free, net_rx=rx, net_tx=tx, cores=cores,
            disk=(root.total, root.used, docker_total, docker_used),
            containers=read_cgroup_containers(self.docker_root, self.cgroup_root),
        )


async def local_metrics(docker_root: str = DEFAULT_DOCKER_ROOT, interval: float = 1.0,
                        ) -> AsyncGenerator[tuple[NodeMetrics, dict[str, ContainerMetrics]], None]:
    """This machine's metrics, one item per ``interval`` (the first after two readings)."""
    _check_interval(interval)
    sampler, calculator = LocalSampler(docker_root), RateCalculator()
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        result = calculator.update(await asyncio.to_thread(sampler.sample))
        if result is not None:
            yield result
        due = max(due + interval, loop.time())
        await asyncio.sleep(due - loop.time())
