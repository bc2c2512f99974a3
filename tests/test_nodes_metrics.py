"""nodes/metrics.py: the sampler's records parsed and turned into rates (pure), the sampler
itself under dash and busybox sh against fake cgroup trees, and the stream against the lab's
real nodes over SSH (host-key checking on)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import asyncssh
import psutil
import pytest

from tui_orch.errors import NodeUnavailable
from tui_orch.nodes.base import ContainerMetrics, NodeMetrics
from tui_orch.nodes.metrics import (
    RateCalculator,
    RawSample,
    RemoteSampler,
    SampleParser,
    counter_delta,
    local_metrics,
    read_cgroup_containers,
    remote_metrics,
    sampler_command,
    sampler_script,
)

A = "a" * 64
B = "b" * 64
KIB = 1024

RECORDED = """\
H 1 4242
S 2048000 1024000
D 1000000 250000 2000000 500000
C {a} {b}
T 100.00 0.50 0.40 0.30 1024000 512000 1000 2000;50 50 100 0;1000000 10240 2000000 20480
T 101.00 0.60 0.40 0.30 1000000 512000 3000 2500;25 75 100 0;1500000 10240 2000000 20480
""".format(a=A, b=B)


def parse(text: str, parser: SampleParser | None = None) -> list[RawSample]:
    parser = parser or SampleParser()
    return [raw for line in text.splitlines() if (raw := parser.feed(line)) is not None]


def rates(text: str) -> list[tuple[NodeMetrics, dict[str, ContainerMetrics]]]:
    calc = RateCalculator()
    return [r for raw in parse(text) if (r := calc.update(raw, now=1.0)) is not None]


# ------------------------------------------------------------------------------- pure


def test_parser_reads_a_recorded_stream() -> None:
    parser = SampleParser()
    first, second = parse(RECORDED, parser)
    assert parser.pid == 4242 and parser.protocol == 1 and parser.errors == 0
    assert first.mem_total == 2048000 * KIB and first.swap_total == 1024000 * KIB
    assert first.mem_available == 1024000 * KIB and first.swap_free == 512000 * KIB
    assert first.disk == (1000000 * KIB, 250000 * KIB, 2000000 * KIB, 500000 * KIB)
    assert first.load == (0.5, 0.4, 0.3) and first.uptime == 100.0
    assert first.cores == ((50.0, 50.0), (100.0, 0.0))
    assert first.containers == {A: (1000000, 10240 * KIB), B: (2000000, 20480 * KIB)}
    assert (second.net_rx, second.net_tx) == (3000, 2500)


def test_rates_from_two_records() -> None:
    [(node, containers)] = rates(RECORDED)
    assert node.per_core == (25.0, 100.0)
    assert node.cpu_percent == 62.5  # (25 + 100) / 200
    assert node.cores == 2 and node.containers == 2
    assert node.mem_total == 2048000 * KIB and node.mem_used == (2048000 - 1000000) * KIB
    assert node.swap_used == 512000 * KIB
    assert (node.net_rx_bps, node.net_tx_bps) == (2000.0, 500.0)
    assert node.disk_total == 1000000 * KIB and node.docker_disk_used == 500000 * KIB
    assert node.uptime == 101.0 and node.load == (0.6, 0.4, 0.3)
    assert containers[A] == ContainerMetrics(A, 50.0, 10240 * KIB)  # 0.5 s of cpu in 1 s
    assert containers[B].cpu_percent == 0.0


def test_first_record_gives_nothing_and_a_clock_going_back_starts_over() -> None:
    calc = RateCalculator()
    first, second = parse(RECORDED)
    assert calc.update(first) is None
    assert calc.update(second) is not None
    assert calc.update(first) is None  # uptime went back: a reboot or a new sampler
    assert calc.update(second) is not None


def test_counter_wrap_and_reset() -> None:
    assert counter_delta(150, 100) == 50
    assert counter_delta(100, (1 << 32) - 100) == 200  # a 32-bit counter wrapped
    assert counter_delta(5, 1_000_000) == 5  # reset: counted from zero
    assert counter_delta(5, 1 << 40) == 5  # a 64-bit counter never wraps: reset
    text = f"""\
S 1000 0
C {A}
T 10.00 0 0 0 500 0 {(1 << 32) - 1000} 7000000000;0 100;5000000 100
T 12.00 0 0 0 500 0 1000 10;0 100;1000000 100
"""
    [(node, containers)] = rates(text)
    assert node.net_rx_bps == 1000.0  # wrapped: 2000 bytes in 2 s
    assert node.net_tx_bps == 5.0  # reset (interface re-created): 10 bytes in 2 s
    assert containers[A].cpu_percent == 50.0  # restarted: 1 s of cpu since, in 2 s


def test_missing_cgroup_files_and_negative_jiffies() -> None:
    text = f"""\
S 1000 0
C {A} {B}
T 1.00 0 0 0 500 0 0 0;10 10;- 100 100 -
T 2.00 0 0 0 500 0 0 0;-3 50;200000 100 - -
"""
    [(node, containers)] = rates(text)
    assert node.per_core == (0.0,)  # iowait going back on some kernels never gives < 0
    assert containers == {A: ContainerMetrics(A, 0.0, 100 * KIB)}  # B: both files gone


def test_a_container_that_disappears_or_appears() -> None:
    text = f"""\
S 1000 0
C {A} {B}
T 1.00 0 0 0 500 0 0 0;1 1;100 1 100 2
C {B}
T 2.00 0 0 0 500 0 0 0;1 1;200100 2
C {B} {A}
T 3.00 0 0 0 500 0 0 0;1 1;300100 2 5000000 9
"""
    got = rates(text)
    assert set(got[0][1]) == {B} and got[0][0].containers == 1
    assert got[0][1][B].cpu_percent == 20.0
    assert got[1][1][A] == ContainerMetrics(A, 0.0, 9 * KIB)  # new: no rate yet
    assert got[1][1][B].cpu_percent == 10.0


def test_junk_and_malformed_lines_are_skipped() -> None:
    parser = SampleParser()
    text = f"""\
Welcome to a chatty .bashrc
H 1 77
S x y
C {A}
T 1.00 0 0 0 500 0 0 0;1 1;1 2 3 4
T 1.00 0 0 0 500 0 0;1 1;
T 1.00 0 0 0 500 0 0 0;1 1 1;
T 2.00 0 0 0 500 0 0 0;1 1;1 2
"""
    samples = parse(text, parser)
    assert parser.errors == 4  # bad S, value count not matching C, short head, odd cores
    assert [s.clock for s in samples] == [1.0, 2.0]
    assert samples[0].containers == {} and samples[1].containers == {A: (1, 2 * KIB)}


def test_command_is_quoted_and_checked() -> None:
    cmd = sampler_command("/srv/my docker's root", 0.5)
    argv = shlex.split(cmd)
    assert argv[:3] == ["exec", "/bin/sh", "-c"] and argv[3] == sampler_script()
    assert argv[4:] == ["tui-orch-sampler", "0.5", "/srv/my docker's root", "20"]
    assert shlex.split(sampler_command())[-3:] == ["1", "/var/lib/docker", "10"]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            sampler_command("/var/lib/docker", bad)
    with pytest.raises(ValueError):
        sampler_command("relative/path")
    assert "#" not in sampler_script().splitlines()[0]  # comments stay home


# ------------------------------------------------ the sampler itself, on fake cgroup trees


def _fake_tree(tmp: Path, version: int) -> tuple[Path, Path]:
    """A docker root with containers A (running), B (running, memory file missing) and C
    (stopped: no cgroup), and a cgroup tree of the given version."""
    root, cg = tmp / "docker", tmp / "cgroup"
    for cid in (A, B, "c" * 64):
        (root / "containers" / cid).mkdir(parents=True)
    if version == 2:
        (cg / "system.slice").mkdir(parents=True)
        (cg / "cgroup.controllers").write_text("cpu memory\n")
        a, b = cg / "system.slice" / f"docker-{A}.scope", cg / "docker" / B  # systemd, cgroupfs
        for d in (a, b):
            d.mkdir(parents=True)
        (a / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
        (a / "memory.current").write_text("4096\n")
        (b / "cpu.stat").write_text("usage_usec 7\n")
    else:
        for rel in (f"docker/{A}", f"system.slice/docker-{B}.scope"):
            (cg / "cpuacct" / rel).mkdir(parents=True)
            (cg / "memory" / rel).mkdir(parents=True)
        (cg / "cpuacct" / "docker" / A / "cpuacct.usage").write_text("1500000\n")
        (cg / "memory" / "docker" / A / "memory.usage_in_bytes").write_text("4096\n")
        (cg / "cpuacct" / "system.slice" / f"docker-{B}.scope" / "cpuacct.usage").write_text("7000\n")
    return root, cg


SHELLS = [s for s in (["dash"], ["busybox", "sh"], ["bash", "--posix"]) if shutil.which(s[0])]


def run_sampler(shell: list[str], root: Path, cg: Path | str = "/sys/fs/cgroup",
                ticks: int = 2) -> list[RawSample]:
    argv = [*shell, "-c", sampler_script(), "tui-orch-sampler", "0.1", str(root), "5", str(cg)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parser, samples = SampleParser(), []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            raw = parser.feed(line)
            if raw is not None:
                samples.append(raw)
                if len(samples) == ticks:
                    break
    finally:
        proc.stdout.close()  # the sampler must end on its next write
        proc.wait(timeout=5)
    assert parser.errors == 0 and parser.pid == proc.pid
    assert proc.stderr is not None and proc.stderr.read() == ""
    return samples


@pytest.mark.skipif(not SHELLS, reason="no POSIX shell found")
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("version", [1, 2])
def test_sampler_reads_both_cgroup_versions(shell: list[str], version: int, tmp_path: Path) -> None:
    root, cg = _fake_tree(tmp_path, version)
    first, second = run_sampler(shell, root, cg)
    assert first.containers == {A: (1500, 4096), B: (7, None)}
    assert second.containers == first.containers
    # an unreadable docker root (another user's /var/lib/docker): every docker cgroup counts
    no_root = run_sampler(shell, tmp_path / "missing", cg, ticks=1)[0]
    assert no_root.containers == first.containers
    assert read_cgroup_containers(str(root), cg) == first.containers
    assert read_cgroup_containers(str(tmp_path / "missing"), cg) == first.containers


@pytest.mark.skipif(not SHELLS, reason="no POSIX shell found")
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_sampler_reads_this_host(shell: list[str], tmp_path: Path) -> None:
    (tmp_path / "containers").mkdir()  # an engine with no containers (the host's are not ours)
    first, second = run_sampler(shell, tmp_path)
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    assert second.mem_total == int(meminfo["MemTotal"].split()[0]) * KIB
    assert len(second.cores) == len(psutil.cpu_times(percpu=True))
    assert abs(second.uptime - float(Path("/proc/uptime").read_text().split()[0])) < 5
    assert 0.05 <= second.clock - first.clock < 2
    assert all(b + i >= 0 for b, i in second.cores)
    total = os.statvfs("/")
    assert second.disk[0] == total.f_blocks * total.f_frsize  # df -P -k: 1 KiB blocks
    assert second.disk[2] == second.disk[0]  # tmp_path sits on the same filesystem here
    assert second.containers == {}


# ------------------------------------------------------------------------------- this machine


async def test_local_metrics_agree_with_psutil() -> None:
    stream = local_metrics(interval=0.2)
    async with contextlib.aclosing(stream):
        node, containers = await asyncio.wait_for(anext(stream), 5)
    assert node.mem_total == psutil.virtual_memory().total
    assert node.cores == len(psutil.cpu_times(percpu=True)) == len(node.per_core)
    assert 0 <= node.cpu_percent <= 100 and all(0 <= c <= 100 for c in node.per_core)
    assert abs(node.uptime - (time.time() - psutil.boot_time())) < 5
    assert node.disk_total == psutil.disk_usage("/").total
    assert node.net_rx_bps >= 0 and node.net_tx_bps >= 0
    assert isinstance(containers, dict)


# ------------------------------------------------------------------------------- the lab


async def connect(lab, node, patience: float = 60) -> asyncssh.SSHClientConnection:  # noqa: ANN001
    """Connect with host-key checking on. The lab is shared: another suite's fault test may
    have this node's sshd down for a moment, so a refused connection is tried again."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await asyncssh.connect(
                node.address, node.port, username=node.user, client_keys=[str(lab.client_key)],
                known_hosts=str(lab.known_hosts),
            )
        except (ConnectionRefusedError, asyncssh.ConnectionLost):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def take(stream, n: int):  # noqa: ANN001, ANN201
    out = []
    async with contextlib.aclosing(stream):
        async for item in stream:
            out.append(item)
            if len(out) == n:
                break
    return out


@pytest.fixture
async def conns(lab):  # noqa: ANN001, ANN201
    opened = await asyncio.gather(*(connect(lab, node) for node in lab.nodes))
    yield opened
    for conn in opened:
        conn.close()
        await conn.wait_closed()


async def test_lab_nodes_stream_plausible_values(lab, conns) -> None:  # noqa: ANN001
    async def check(node, conn: asyncssh.SSHClientConnection) -> None:  # noqa: ANN001
        root = str(node.data_root)
        samples = await asyncio.wait_for(take(remote_metrics(conn, root, 1.0, node.name), 3), 20)
        meminfo = str((await conn.run("cat /proc/meminfo", check=True)).stdout)
        mem_total = int(meminfo.split("MemTotal:")[1].split()[0]) * KIB
        nproc = int(str((await conn.run("nproc", check=True)).stdout))
        uptime = float(str((await conn.run("cat /proc/uptime", check=True)).stdout).split()[0])
        df = str((await conn.run(f"df -P -k / {shlex.quote(root)}", check=True)).stdout).splitlines()
        totals = [int(line.split()[1]) * KIB for line in df[1:]]
        assert len(samples) == 3
        for m, _ in samples:
            assert m.mem_total == mem_total
            assert m.cores == nproc == len(m.per_core)
            assert 0 <= m.cpu_percent <= 100 and all(0 <= c <= 100 for c in m.per_core)
            assert 0 < m.mem_used < m.mem_total and m.mem_available <= m.mem_total
            assert (m.disk_total, m.docker_disk_total) == tuple(totals)
            assert 0 < m.disk_used <= m.disk_total and 0 < m.docker_disk_used <= m.docker_disk_total
            assert m.net_rx_bps >= 0 and m.net_tx_bps >= 0 and m.load[0] >= 0
        assert abs(samples[-1][0].uptime - uptime) < 5
        assert samples[-1][0].uptime - samples[0][0].uptime == pytest.approx(2.0, abs=0.5)

    await asyncio.gather(*(check(node, conn) for node, conn in zip(lab.nodes, conns)))


def engine_cpu_seconds(container) -> tuple[float, float]:  # noqa: ANN001 (docker Container)
    """(cpu seconds used, wall time read) as the engine itself reports them: the reference."""
    stats = container.client.api.stats(container.id, stream=False, one_shot=True)
    read = stats["read"]  # RFC 3339 with nanoseconds
    stamp = datetime.fromisoformat(read[:26].rstrip("Z") + "+00:00") if "." in read else \
        datetime.fromisoformat(read.replace("Z", "+00:00"))
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9, stamp.timestamp()


async def test_busy_container_shows_its_cpu_and_memory(lab, conns) -> None:  # noqa: ANN001
    import docker

    node = lab.nodes[0]
    client = docker.DockerClient(base_url=node.docker_host)
    for left in client.containers.list(all=True, filters={"label": "tui-orch.service=metrics-test"}):
        left.remove(force=True)  # from a run the lab's fault tests cut short
    container = client.containers.run(
        "tuiorch/busybox:1", ["sh", "-c", "while :; do :; done"], detach=True,
        network_mode="host", nano_cpus=500_000_000, labels={"tui-orch.service": "metrics-test"},
    )
    here = RemoteSampler(conns[0], str(node.data_root), 1.0, node.name)
    there = RemoteSampler(conns[1], str(lab.nodes[1].data_root), 1.0, lab.nodes[1].name)
    mine: list[tuple[NodeMetrics, dict[str, ContainerMetrics]]] = []
    other: list[tuple[NodeMetrics, dict[str, ContainerMetrics]]] = []

    async def collect(sampler: RemoteSampler, into: list) -> None:  # noqa: ANN001
        async for item in sampler.stream():
            into.append(item)

    tasks = [asyncio.create_task(collect(here, mine)), asyncio.create_task(collect(there, other))]
    try:
        async def seen(n: int) -> None:
            while sum(container.id in c for _, c in mine) < n:
                await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(seen(2), 20)  # two samples in: its rate is running
            start = await asyncio.to_thread(engine_cpu_seconds, container)
            first = len(mine)
            await asyncio.wait_for(seen(len(mine) + 4), 20)
            end = await asyncio.to_thread(engine_cpu_seconds, container)
        except asyncio.TimeoutError:
            pytest.fail(f"{node.name}: {here.records} records, {here.bytes_received} bytes, "
                        f"{len(mine)} samples, tasks {tasks}")
        window = [c[container.id] for m, c in mine[first:] if m.time <= end[1] + 0.5]
        assert len(window) >= 3 and all(m.container_id == container.id for m in window)
        assert all(m.mem_used > 0 for m in window)
        ours = sum(m.cpu_percent for m in window) / len(window)
        reference = 100 * (end[0] - start[0]) / (end[1] - start[1])
        assert abs(ours - reference) <= 8, (ours, reference, [m.cpu_percent for m in window])
        assert ours <= 60  # nano_cpus: half a core at most
        if reference >= 40:  # a half core was to be had: the busy loop took all of it
            assert 40 <= ours <= 60, (ours, reference)
        assert mine[-1][0].containers >= 1
        assert other and all(container.id not in c for _, c in other)  # another engine's
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        container.remove(force=True)
        client.close()


async def test_cancelled_stream_leaves_no_process_on_the_host(lab, conns) -> None:  # noqa: ANN001
    node, conn = lab.nodes[0], conns[0]
    sampler = RemoteSampler(conn, str(node.data_root), 0.5, node.name)

    async def consume() -> None:
        async for _ in sampler.stream():
            pass

    task = asyncio.create_task(consume())
    while sampler.records < 2:
        await asyncio.sleep(0.05)
    pid = sampler.pid
    assert pid and (await conn.run(f"test -d /proc/{pid}")).exit_status == 0
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.sleep(1.5)
    gone = await conn.run(f"test -d /proc/{pid} || echo gone; "
                          f"grep -l '^PPid:[[:space:]]*{pid}$' /proc/[0-9]*/status 2>/dev/null || true")
    assert gone.stdout.strip() == "gone"


async def test_stream_raises_when_the_connection_goes(lab) -> None:  # noqa: ANN001
    node = lab.nodes[1]
    conn = await connect(lab, node)
    stream = remote_metrics(conn, str(node.data_root), 0.2, node.name)
    await asyncio.wait_for(anext(stream), 10)
    conn.close()
    with pytest.raises(NodeUnavailable, match=node.name):
        await asyncio.wait_for(anext(stream), 10)
