"""Cost of watching the lab's nodes: the metrics sampler over one SSH channel per node.

    .venv/bin/python benchmarks/monitoring.py [--seconds 30] [--interval 1] [--containers 3]

Starts the lab (tests/lab/lab.py) when it is stopped and stops it again at the end; a
running lab is used and left running (one that is partly down, e.g. a node killed by a
fault test, is waited for, up to 2 minutes, and never stopped). Each node gets --containers idle containers
(label tui-orch.service=metrics-bench, removed at the end) so the records carry container
lines. Then every node is streamed for --seconds at --interval, and measured:

  sampler cpu   utime+stime (+ waited-for children: sleep, df) of the sampler process on the
                worker, from /proc/<pid>/stat read over SSH    target <= 1 % of one core
  sshd cpu      the node's sshd session process relaying it (information)
  payload B/s   sampler bytes received on the channel (information)
  ssh B/s       TCP payload both ways of the node's SSH connection, i.e. the SSH packets with
                their framing and MACs (ss -ti bytes_received + bytes_acked)
                                                                target <= 1024 B/s
  link B/s      the same plus 52 bytes of IPv4+TCP headers per segment (information)
  conns         TCP connections of this process to the node's sshd   target == 1
  console cpu   this process's cpu time / nodes / seconds    target <= 0.5 % of one core per node

Prints a table; exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import tui_orch  # noqa: E402,F401  (first: it quiets asyncssh's DSA warnings under cryptography 51)
import asyncssh  # noqa: E402
import docker  # noqa: E402
import psutil  # noqa: E402

import lab as lab_tool  # noqa: E402
from benchlab import ensure_lab  # noqa: E402
from tui_orch.nodes.metrics import RemoteSampler  # noqa: E402

TARGET_SAMPLER_CPU = 1.0  # % of one core
TARGET_SSH_BPS = 1024.0
TARGET_CONSOLE_CPU = 0.5  # % of one core per node
BENCH_LABEL = {"tui-orch.service": "metrics-bench"}
HEADER_BYTES = 52  # IPv4 20 + TCP 20 + timestamps 12


@dataclass
class Probe:
    node: lab_tool.NodeLab
    conn: asyncssh.SSHClientConnection
    sampler: RemoteSampler
    task: asyncio.Task[None] | None = None
    samples: int = 0
    marks: dict[str, float] = field(default_factory=dict)


async def proc_cpu(conn: asyncssh.SSHClientConnection, pid: int) -> tuple[float, float, int]:
    """(sampler cpu seconds incl. waited children, its parent's cpu seconds, parent pid) and
    the remote time, all read in one command on the host."""
    out = str((await conn.run(f"cat /proc/{pid}/stat; cat /proc/uptime", check=True)).stdout)
    stat, uptime = out.splitlines()[0], out.splitlines()[1]
    fields = stat.rsplit(")", 1)[1].split()
    ppid = int(fields[1])
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    parent = str((await conn.run(f"cat /proc/{ppid}/stat", check=True)).stdout).rsplit(")", 1)[1].split()
    return ticks / 100.0, sum(int(v) for v in parent[11:13]) / 100.0, int(float(uptime.split()[0]) * 100)


def tcp_bytes(sockname: tuple[str, int] | None) -> tuple[int, int, int]:
    """(bytes received, bytes sent and acked, segments in+out) of this TCP socket, from ss."""
    if not sockname:
        return 0, 0, 0
    out = subprocess.run(["ss", "-tinH", "state", "established", "src", f"{sockname[0]}:{sockname[1]}"],
                         capture_output=True, text=True, check=True).stdout
    def num(key: str) -> int:
        m = re.search(rf"\b{key}:(\d+)", out)
        return int(m.group(1)) if m else 0
    return num("bytes_received"), num("bytes_acked"), num("segs_in") + num("segs_out")


def connections_to(node: lab_tool.NodeLab) -> int:
    return sum(1 for c in psutil.Process().net_connections("tcp")
               if c.raddr and c.raddr.ip == node.address and c.raddr.port == node.port
               and c.status == psutil.CONN_ESTABLISHED)


def lost(probes: list[Probe]) -> str:
    """Why a node's stream ended before its time ('' while all run)."""
    for p in probes:
        if p.task and p.task.done() and not p.task.cancelled():
            exc = p.task.exception()
            return str(exc) if exc else f"{p.node.name}: the stream ended"
    return ""


async def run(lab: lab_tool.Lab, seconds: float, interval: float) -> int:
    probes: list[Probe] = []
    for node in lab.nodes:
        conn = await asyncssh.connect(node.address, node.port, username=node.user,
                                      client_keys=[str(lab.client_key)], known_hosts=str(lab.known_hosts))
        probes.append(Probe(node, conn, RemoteSampler(conn, str(node.data_root), interval, node.name)))

    async def consume(p: Probe) -> None:
        async for _ in p.sampler.stream():
            p.samples += 1

    for p in probes:
        p.task = asyncio.create_task(consume(p))
    socknames = [p.conn.get_extra_info("sockname") for p in probes]
    try:
        deadline = time.monotonic() + 90  # a slow login script (.bashrc) delays the first line
        while any(p.samples < 2 for p in probes) and not lost(probes) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if any(p.samples < 2 for p in probes) or lost(probes):
            print(f"benchmark interrupted: {lost(probes) or 'no samples within 90 s'}")
            return 1
        conns_before = [connections_to(p.node) for p in probes]
        start = await asyncio.gather(*(proc_cpu(p.conn, p.sampler.pid or 0) for p in probes))
        tcp0 = [tcp_bytes(name) for name in socknames]
        pay0 = [p.sampler.bytes_received for p in probes]
        rec0 = [p.sampler.records for p in probes]
        cpu0, t0 = psutil.Process().cpu_times(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, t1 = psutil.Process().cpu_times(), time.monotonic()
        tcp1 = [tcp_bytes(name) for name in socknames]
        pay1 = [p.sampler.bytes_received for p in probes]
        rec1 = [p.sampler.records for p in probes]
        end = await asyncio.gather(*(proc_cpu(p.conn, p.sampler.pid or 0) for p in probes))
        conns_after = [connections_to(p.node) for p in probes]
        if lost(probes):
            print(f"benchmark interrupted: {lost(probes)}")
            return 1
    except (asyncssh.Error, OSError) as exc:  # a node went away (someone else's fault test?)
        print(f"benchmark interrupted: {lost(probes) or exc}")
        return 1
    finally:
        for p in probes:
            if p.task:
                p.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await p.task
            p.conn.close()

    window = t1 - t0
    console = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / window / len(probes) * 100
    failed = []
    print(f"monitoring {len(probes)} lab nodes for {window:.1f} s at {interval:g} s "
          f"(targets: sampler cpu <= {TARGET_SAMPLER_CPU:g} %, ssh <= {TARGET_SSH_BPS:.0f} B/s, "
          f"1 connection per node, console cpu <= {TARGET_CONSOLE_CPU:g} % per node)")
    print(f"{'node':<7}{'records':>8}{'sampler cpu %':>15}{'sshd cpu %':>12}{'payload B/s':>13}"
          f"{'ssh rx B/s':>12}{'ssh tx B/s':>12}{'ssh B/s':>9}{'link B/s':>10}{'conns':>7}")
    for i, p in enumerate(probes):
        remote_window = (end[i][2] - start[i][2]) / 100.0
        sampler_cpu = (end[i][0] - start[i][0]) / remote_window * 100
        sshd_cpu = (end[i][1] - start[i][1]) / remote_window * 100
        payload = (pay1[i] - pay0[i]) / window
        rx = (tcp1[i][0] - tcp0[i][0]) / window
        tx = (tcp1[i][1] - tcp0[i][1]) / window
        link = rx + tx + (tcp1[i][2] - tcp0[i][2]) * HEADER_BYTES / window
        print(f"{p.node.name:<7}{rec1[i] - rec0[i]:>8}{sampler_cpu:>15.3f}{sshd_cpu:>12.3f}{payload:>13.1f}"
              f"{rx:>12.1f}{tx:>12.1f}{rx + tx:>9.1f}{link:>10.1f}{conns_before[i]:>4}/{conns_after[i]:<2}")
        if sampler_cpu > TARGET_SAMPLER_CPU:
            failed.append(f"{p.node.name}: sampler cpu {sampler_cpu:.2f} % > {TARGET_SAMPLER_CPU:g} %")
        if rx + tx > TARGET_SSH_BPS or tcp1[i][0] == 0:
            failed.append(f"{p.node.name}: ssh {rx + tx:.0f} B/s > {TARGET_SSH_BPS:.0f} B/s (or unmeasured)")
        if (conns_before[i], conns_after[i]) != (1, 1):
            failed.append(f"{p.node.name}: {conns_before[i]}/{conns_after[i]} TCP connections, not 1")
    print(f"console cpu: {console:.3f} % of one core per node "
          f"({console * len(probes):.3f} % for {len(probes)} nodes)")
    if console > TARGET_CONSOLE_CPU:
        failed.append(f"console cpu {console:.2f} % per node > {TARGET_CONSOLE_CPU:g} %")
    for line in failed:
        print(f"MISSED: {line}")
    return 1 if failed else 0


def start_containers(lab: lab_tool.Lab, count: int) -> list[tuple[docker.DockerClient, str]]:
    made = []
    for node in lab.nodes:
        client = docker.DockerClient(base_url=node.docker_host)
        for left in client.containers.list(all=True, filters={"label": "tui-orch.service=metrics-bench"}):
            left.remove(force=True)  # from a run cut short
        for _ in range(count):
            c = client.containers.run(f"{lab_tool.IMAGE_REPO}:1", ["sleep", "3600"], detach=True,
                                      network_mode="host", labels=BENCH_LABEL)
            made.append((client, c.id))
    return made


def remove_containers(made: list[tuple[docker.DockerClient, str]]) -> None:
    for client, cid in made:
        with contextlib.suppress(docker.errors.DockerException):
            client.containers.get(cid).remove(force=True)
    for client in {id(c): c for c, _ in made}.values():
        client.close()



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--containers", type=int, default=3, help="idle containers per node")
    args = parser.parse_args()
    found = ensure_lab()
    if found is None:
        return 1
    lab, started = found
    made: list[tuple[docker.DockerClient, str]] = []
    try:
        made = start_containers(lab, args.containers)
        return asyncio.run(run(lab, args.seconds, args.interval))
    finally:
        remove_containers(made)
        if started:
            lab_tool.stop_lab(lab)


if __name__ == "__main__":
    sys.exit(main())
