"""Traffic benchmark, on the lab: a service's published port (each node's edge proxy) against
straight to a replica, from the lab's client namespace (a client on the lab network).

Figures (targets from issue 13):
- latency of one request on a new connection, p50 and p99, through node1's published port and
  straight to a replica: p50 through the proxy at most 1.5x the direct one and at most 1 ms more;
- throughput at 8 concurrent clients, each on new connections: through the proxy at least 80 %
  of direct (direct: the clients spread over the replicas); beside it, for information, the
  whole machine's cpu time per request on each path: in the lab the client, the proxies and
  the replicas share this machine's cores, so the throughput ratio is the ratio of those
  costs (a proxy adds two TCP endpoints per request, which is kernel time);
- failed requests of a client sending 50 requests/s to node1's published port during a
  start-first rolling update, a stop-first one with parallelism 1, and a rollback: 0 each;
- a replica healthy -> in rotation on every proxy, and a stop order (scale down) -> out of
  rotation (drained) on every proxy: at most 1 s each.

    .venv/bin/python benchmarks/traffic.py [--requests 2000] [--seconds 5]

Prints a table; exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

from benchlab import ensure_lab, lab_tool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import tui_orch  # noqa: E402,F401  (its warning filters first)
from labparts.netns import enter  # noqa: E402
from test_traffic_lab import WEB  # noqa: E402
from traffic_support import LabLoad  # noqa: E402
from tui_orch.controller import Controller  # noqa: E402
from tui_orch.inventory import load_inventory  # noqa: E402
from tui_orch.manifest import parse_manifest  # noqa: E402
from tui_orch.model import NodeState, ReplicaState  # noqa: E402
from tui_orch.nodes.fleet import Fleet  # noqa: E402
from tui_orch.store import open_store  # noqa: E402
from tui_orch.traffic import runtime  # noqa: E402

PORT = 18999


def manifest(name: str, version: str = "1", order: str = "start-first"):
    """The lab test's service (tests/test_traffic_lab.py): busybox httpd, 3 replicas."""
    return parse_manifest(textwrap.dedent(WEB.format(name=name, version=version, order=order, port=PORT)),
                          "traffic-bench.yaml")


def one_request(host: str, port: int) -> float:
    """One GET on a new connection (HTTP/1.0: the server closes); seconds."""
    start = time.perf_counter()
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET /VERSION HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    if not data.startswith(b"HTTP/1.0 200") and not data.startswith(b"HTTP/1.1 200"):
        raise OSError(f"answer {data[:40]!r}")
    return time.perf_counter() - start


def in_client(fn, *args):
    """fn(*args) in a thread of the lab's client namespace."""
    out: list = []

    def run() -> None:
        enter("tuiorch-client")
        try:
            out.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            out.append((False, exc))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    ok, value = out[0]
    if not ok:
        raise value
    return value


def latencies(targets: list[tuple[str, int]], n: int) -> list[float]:
    return [one_request(*targets[i % len(targets)]) for i in range(n)]


def busy_ticks() -> int:
    """The machine's cpu time so far, all cores, in clock ticks (/proc/stat: all but idle and
    iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def throughput(targets: list[tuple[str, int]], seconds: float, clients: int = 8) -> tuple[float, float]:
    """(requests per second, ms of the whole machine's cpu per request) of ``clients`` clients
    for ``seconds``."""
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        enter("tuiorch-client")
        while time.monotonic() < stop:
            one_request(*targets[i % len(targets)])
            counts[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    before = busy_ticks()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu_ms = (busy_ticks() - before) * 1000 / os.sysconf("SC_CLK_TCK")
    return sum(counts) / seconds, cpu_ms / max(1, sum(counts))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def proxy_states(fleet: Fleet, owner: str) -> list[dict[str, str]]:
    """server -> state, per Ready node's proxy."""
    out = []
    for node in fleet.ready():
        answer = (await node.edge_runtime(owner, [runtime.show_servers_state()]))[0]
        out.append({name: st.state for servers in runtime.parse_servers_state(answer).values()
                    for name, st in servers.items()})
    return out


async def until(predicate, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not await predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def rotation_times(ctl: Controller, fleet: Fleet, name: str) -> tuple[float, float]:
    """(replica healthy -> in rotation on every proxy, stop order -> out of rotation on every proxy)."""
    store, owner = ctl.ctx.store, ctl.ctx.owner
    before = {r.container_id for r in store.replicas(name)}
    scale = asyncio.ensure_future(ctl.scale(name, 4))

    def new_healthy():
        return next((r for r in store.replicas(name) if r.container_id not in before
                     and r.state == ReplicaState.RUNNING), None)

    await until(lambda: _true(new_healthy() is not None), 60, "the fourth replica healthy")
    healthy_at = time.monotonic()
    short = new_healthy().container_id[:12]

    async def everywhere(state: str) -> bool:
        return all(s.get(short) == state for s in await proxy_states(fleet, owner))

    await until(lambda: everywhere("ready"), 10, "in rotation on every proxy")
    entered = time.monotonic() - healthy_at
    await scale
    ordered = time.monotonic()
    down = asyncio.ensure_future(ctl.scale(name, 3))

    async def left() -> bool:
        return all(s.get(short) in ("drain", "maint", None) for s in await proxy_states(fleet, owner))

    await until(left, 10, "out of rotation on every proxy")
    out = time.monotonic() - ordered
    await down
    return entered, out


async def _true(value: bool) -> bool:
    return value


async def run(lab, args) -> int:
    state = Path(tempfile.mkdtemp(prefix="tuiorch-trafficbench-"))
    name = f"trbench{uuid.uuid4().hex[:6]}"
    rows: list[tuple[str, str, str, bool | None]] = []
    store = open_store(state)
    fleet = Fleet(load_inventory(lab.inventory))
    try:
        await fleet.start()
        for node in fleet.nodes.values():
            await node.wait_state(NodeState.READY, timeout=30)
        ctl = Controller(store, fleet)
        await ctl.start()
        try:
            result = await ctl.apply(manifest(name))
            if not result.ok:
                raise RuntimeError(f"apply failed: {result}")
            n1 = lab.node(1).lab_address
            await until(lambda: _true(_answers(n1)), 30, "the published port answering")
            reps = store.replicas(name)
            direct = [(lab.node(r.node).lab_address, r.ports[0]) for r in reps]
            proxied = [(n1, PORT)]
            in_client(latencies, proxied, 200)  # warm up both paths
            in_client(latencies, direct, 200)
            lp = in_client(latencies, proxied, args.requests)
            ld = in_client(latencies, direct, args.requests)
            p50p, p50d, p99p, p99d = pct(lp, .5), pct(ld, .5), pct(lp, .99), pct(ld, .99)
            ratio, added = p50p / p50d, (p50p - p50d) * 1000
            rows.append(("latency p50 proxy / direct", f"{p50p*1000:.3f} / {p50d*1000:.3f} ms",
                         "<= 1.5x", ratio <= 1.5))
            rows.append(("latency p50 added by the proxy", f"{added:.3f} ms", "<= 1 ms", added <= 1.0))
            rows.append(("latency p99 proxy / direct", f"{p99p*1000:.3f} / {p99d*1000:.3f} ms "
                         f"({p99p / p99d:.2f}x)", "info", None))
            (tp, cp), (td, cd) = in_client(throughput, proxied, args.seconds), in_client(throughput, direct, args.seconds)
            rows.append(("throughput, 8 clients, proxy / direct", f"{tp:.0f} / {td:.0f} req/s ({tp / td:.0%})",
                         ">= 80%", tp >= 0.8 * td))
            rows.append(("cpu per request (all cores), proxy / direct", f"{cp:.3f} / {cd:.3f} ms (+{cp - cd:.3f})",
                         "info", None))
            for label, version, order, undo in (("start-first rolling update", "2", "start-first", False),
                                                ("stop-first rolling update, parallelism 1", "1", "stop-first", False),
                                                ("rollback", None, None, True)):
                load = LabLoad(f"http://{n1}:{PORT}/VERSION", rate=50)
                load.start()
                try:
                    if undo:
                        await ctl.rollout_undo(name)
                    else:
                        done = await ctl.apply(manifest(name, version, order))
                        if not done.ok:
                            raise RuntimeError(f"{label}: {done}")
                    await asyncio.sleep(0.5)
                finally:
                    load.stop()
                rows.append((f"failed requests, {label}", f"{load.failed} of {load.sent}", "0", load.failed == 0))
            entered, left = await rotation_times(ctl, fleet, name)
            rows.append(("healthy -> in rotation (every proxy)", f"{entered:.3f} s", "<= 1 s", entered <= 1.0))
            rows.append(("stop order -> out of rotation (every proxy)", f"{left:.3f} s", "<= 1 s", left <= 1.0))
        finally:
            with contextlib.suppress(Exception):
                await ctl.remove(name)
            await ctl.close()
            await _remove_edges(fleet, ctl.ctx.owner)
    finally:
        await fleet.close()
        store.close()
        shutil.rmtree(state, ignore_errors=True)
    print(f"traffic through the edge proxies on {len(lab.nodes)} lab nodes (client: the lab's client namespace)")
    print(f"{'figure':<46}{'measured':>34}  {'target':>8}  ok")
    missed = 0
    for label, value, target, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "MISS")
        missed += ok is False
        print(f"{label:<46}{value:>34}  {target:>8}  {verdict}")
    return 1 if missed else 0


def _answers(host: str) -> bool:
    try:
        in_client(one_request, host, PORT)
        return True
    except OSError:
        return False


async def _remove_edges(fleet: Fleet, owner: str) -> None:
    for node in fleet.ready():
        with contextlib.suppress(Exception):
            await node.edge_op(owner, "remove")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per latency figure")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per throughput figure")
    args = parser.parse_args()
    found = ensure_lab()
    if found is None:
        return 1
    lab, started = found
    try:
        return asyncio.run(run(lab, args))
    except (RuntimeError, TimeoutError, OSError, lab_tool.LabError) as exc:
        print(f"benchmark interrupted: {exc}")
        return 1
    finally:
        if started:
            lab_tool.stop_lab(lab)


if __name__ == "__main__":
    sys.exit(main())
