"""Latency of durable state writes with a realistic state recorded, in a state folder
(TinyDB) and, when the lab runs, in the lab's etcd cluster (issue 14).

    .venv/bin/python benchmarks/store.py [--writes N] [--services S] [--replicas R] [--events E]
                                         [--etcd auto|yes|no] [--consoles 10] [--seen-events 100]

State (defaults): 50 services with 10 revisions each, 1,000 replicas, 10,000 events, 20
nodes with status and availability, in a temp folder in the system temp dir (same disk as
/tmp). Then N writes of each kind are timed, each returning only once durable.

Target: every desired-state write (scale, deploy = new revision + current pointer in one
transaction, cordon, rollout progress) has p95 <= 20 ms. Replica-state writes, event
appends and open times are shown for information.

etcd rows (after the folder's; ``--etcd auto``, the default: when the lab's three-member
etcd answers a write, else one line says why they were skipped; ``yes``, what ``make bench``
gives: the lab is started when it does not run, and stopped after, as the lab benchmarks do,
and an etcd that does not answer fails the run; ``no``: none). The same state is written through the
Store API of a writable EtcdStore (it takes the lead) under a fresh prefix
/tui-orch-bench/<random>, which is deleted at the end.
    etcd write          the same N writes of each kind, each returning once a quorum has it:
                        desired-state writes p95 <= 20 ms; replica write and event append info
    events seen         --consoles read-only EtcdStores (consoles) in this process, each
                        calling refresh() every 5 ms in its own thread and, when that took in
                        a change (store.changes moved), events(limit=1); a console redraws
                        every second (settings.refresh_interval): 5 ms measures the store, not
                        that timer, and reading the events only on a change keeps 10 consoles
                        in one process from holding the GIL with events() (~0.4 ms each over
                        10,000 events). --seen-events events appended one at a time by the
                        leader, each timed from the start of its append until each console
                        returns it: p95 <= 100 ms, and every one seen within 2 s
    followers           after a few more desired and observed writes every console holds
                        exactly the leader's state (services, revisions, rollouts,
                        availability, replicas, node status, events) within 2 s
    controller memory   RSS of a fresh process (psutil) that imports tui-orch (controller and
                        store), then opens the state writable and reads all of it: before the
                        open, after it, after the read, its share, the peak (VmHWM); info

Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_orch.model import (  # noqa: E402
    Availability,
    Event,
    Health,
    Healthcheck,
    PortSpec,
    Replica,
    ReplicaState,
    Resources,
    ResourceSpec,
    Revision,
    ServiceSpec,
    pairs,
)
from tui_orch.errors import StoreError  # noqa: E402
from tui_orch.store import Store, open_store, state_target  # noqa: E402
from tui_orch.store.etcdv3 import b64, prefix_end  # noqa: E402

TARGET_P95_MS = 20.0


def spec(service: int, version: int) -> ServiceSpec:
    return ServiceSpec(
        name=f"svc{service:03d}",
        image=f"registry.example.com/team/svc{service:03d}:1.{version}.0",
        command=("/app/server", "--port", "8080", "--log-level", "info"),
        environment=pairs({f"VAR_{i}": f"value-{i}-{version}" for i in range(8)}),
        ports=(PortSpec(target=8080, published=None),),
        labels=pairs({"team": "core", "tier": "web", "version": str(version)}),
        healthcheck=Healthcheck(test=("CMD", "curl", "-fsS", "http://localhost:8080/health"), interval=10.0),
        replicas=20,
        resources=ResourceSpec(reservations=Resources(cpus=0.25, memory=256 << 20)),
    )


def replica(service: int, slot: int, revision: int, restarts: int = 0) -> Replica:
    return Replica(
        service=f"svc{service:03d}",
        slot=slot,
        revision=revision,
        node=f"node{(service * 7 + slot) % 20:02d}",
        state=ReplicaState.RUNNING,
        health=Health.HEALTHY,
        container_id=f"{service:04x}{slot:04x}" * 8,
        cpus=0.25,
        memory=256 << 20,
        ports=(30000 + service * 20 + slot,),
        restarts=restarts,
        started_at=time.time(),
    )


def event(i: int) -> Event:
    return Event(
        time=time.time(),
        kind="start",
        message=f"replica svc{i % 50:03d}.{i % 20 + 1} started on node{i % 20:02d}",
        service=f"svc{i % 50:03d}",
        replica=f"svc{i % 50:03d}.{i % 20 + 1}",
        node=f"node{i % 20:02d}",
    )


def populate(store: Store, services: int, replicas: int, events: int) -> None:
    per_service = max(1, replicas // services)
    for s in range(services):
        with store.transaction():
            for v in range(1, 11):
                store.add_revision(Revision(f"svc{s:03d}", 0, spec(s, v), time.time(), f"apply v{v}"))
            store.put_service(f"svc{s:03d}", 10)
        store.put_replicas([replica(s, slot, 10) for slot in range(1, per_service + 1)])
    for n in range(20):
        store.put_node_status(f"node{n:02d}", {"state": "Ready", "cpus": 8, "memory": 32 << 30, "cpu_used": 0.3})
        store.set_availability(f"node{n:02d}", Availability.ACTIVE)
    for start in range(0, events, 500):
        store.append_events([event(i) for i in range(start, min(events, start + 500))])


def populate_and_open(where: str, args: argparse.Namespace) -> tuple[Store, float, float, float]:
    """Fill the state at ``where`` (a folder or an etcd URL), then open it as its owner (the
    store returned, to close) and read-only: (store, populate s, owner open ms, read-only
    open and read ms)."""
    t0 = time.perf_counter()
    with open_store(where) as store:
        populate(store, args.services, args.replicas, args.events)
    populate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store = open_store(where)
    open_ms = (time.perf_counter() - t0) * 1000
    try:
        t0 = time.perf_counter()
        with open_store(where, readonly=True) as ro:
            ro.replicas(), ro.events(limit=100)
    except BaseException:
        store.close()
        raise
    return store, populate_s, open_ms, (time.perf_counter() - t0) * 1000


def measure(n: int, op: Callable[[int], object]) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        op(i)
        times.append((time.perf_counter() - t0) * 1000)
    return times


Results = list[tuple[str, list[float], float | None]]


def timed_writes(store: Store, n: int, s: int, per_service: int) -> Results:
    """N writes of each kind through ``store``, each timed until it returns (durable)."""
    results: Results = []
    results.append(("desired: put_service (scale)", measure(
        n, lambda i: store.put_service(f"svc{i % s:03d}", 10, replicas=10 + i % 5)
    ), TARGET_P95_MS))

    def deploy(i: int) -> None:
        name = f"svc{i % s:03d}"
        with store.transaction():
            rev = store.add_revision(Revision(name, 0, spec(i % s, 100 + i), time.time(), "apply"))
            store.put_service(name, rev.number)

    results.append(("desired: deploy (revision+service)", measure(n, deploy), TARGET_P95_MS))
    results.append(("desired: set_availability", measure(
        n, lambda i: store.set_availability(
            f"node{i % 20:02d}", Availability.CORDONED if (i // 20) % 2 == 0 else Availability.ACTIVE
        )
    ), TARGET_P95_MS))
    results.append(("desired: put_rollout (progress)", measure(
        n, lambda i: store.put_rollout(
            f"svc{i % s:03d}", {"from_revision": 10, "to_revision": 11, "state": "running", "batch": i}
        )
    ), TARGET_P95_MS))
    results.append(("observed: put_replica (state)", measure(
        n, lambda i: store.put_replica(replica(i % s, i % per_service + 1, 10, restarts=i + 1))
    ), None))
    results.append(("events: append_event", measure(n, lambda i: store.append_event(event(i))), None))
    return results


def state_counts(store: Store) -> tuple[int, int, int, int]:
    return (len(store.services()), sum(len(store.revisions(x.name)) for x in store.services()),
            len(store.replicas()), len(store.events()))


def row(name: str, times: list[float], target: float | None) -> tuple[str, bool]:
    ordered = sorted(times)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    p95 = pct(95)
    ok = target is None or p95 <= target
    verdict = "info" if target is None else ("ok" if ok else "MISSED")
    goal = "" if target is None else f"p95<={target:g}"
    line = (
        f"{name:<34} {len(times):>5} {statistics.median(ordered):>8.2f} {p95:>8.2f} "
        f"{pct(99):>8.2f} {ordered[-1]:>8.2f}  {goal:<10} {verdict}"
    )
    return line, ok


# ---------------------------------------------------------------------------------- etcd
TARGET_SEEN_P95_MS = 100.0
CONSOLE_POLL_S = 0.005  # how often each watching console calls refresh() (see the docstring)

MEMORY_CHILD = r"""
import json, sys, time
import psutil
import tui_orch.controller, tui_orch.store  # what a controller has loaded before it opens its state
from tui_orch.store import open_store

def mb(): return psutil.Process().memory_info().rss / 2**20
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

before = mb()
t0 = time.perf_counter()
store = open_store(sys.argv[1])
open_ms = (time.perf_counter() - t0) * 1000
opened = mb()
# what a controller reads on every pass: all of it
counts = [len(store.services()), sum(len(store.revisions(s.name)) for s in store.services()),
          len(store.replicas()), len(store.events())]
read = mb()
store.close()
print(json.dumps({"before": before, "opened": opened, "read": read, "peak": peak(), "open_ms": open_ms,
                  "counts": counts}))
"""


def lab_etcd() -> tuple[list[str] | None, str]:
    """The lab's etcd endpoints when its cluster answers (None and why not otherwise). The lab
    is neither started nor stopped here."""
    try:
        from benchlab import lab_tool
        from tui_orch.store.etcdv3 import EtcdClient

        endpoints = list(lab_tool.layout(lab_tool.DEFAULT_NODES).etcd_endpoints)
    except Exception as exc:  # no lab folder, a lab of another layout
        return None, f"no lab etcd found ({type(exc).__name__}: {exc}); start it: python3 tests/lab/lab.py start"
    if not endpoints:
        return None, "the lab has no etcd members; start it: python3 tests/lab/lab.py start"
    try:
        EtcdClient(endpoints, timeout=1.0).call("maintenance/status", {})
        # a write needs a quorum: a put under a key of its own that is deleted at once
        probe = EtcdClient(endpoints, timeout=2.0)
        key = f"/tui-orch-bench-probe/{uuid.uuid4().hex[:8]}"
        probe.put(key, "1")
        probe.delete(key)
    except StoreError as exc:
        return None, f"the lab's etcd ({', '.join(endpoints)}) does not answer: {exc}"
    return endpoints, ""


def snapshot(store: Store) -> tuple[object, ...]:
    """What a console shows, comparable between two stores."""
    return (store.services(), {s.name: store.revisions(s.name) for s in store.services()}, store.rollouts(),
            store.availability(), store.replicas(), store.node_status(), store.events(limit=200))


def events_seen(writer: Store, url: str, n: int, consoles: int) -> tuple[list[float], int, float, int]:
    """Latencies (ms) from the start of ``append_event`` on the leader until each of
    ``consoles`` read-only stores, each polling refresh() in its own thread, returns that event
    from ``events(limit=1)``; the number never seen (within 2 s); the mean open time (ms); and,
    after a few more desired and observed writes, how many consoles still disagree with the
    leader on the whole state 2 s later (0: they all follow it exactly)."""
    t0 = time.perf_counter()
    readers = [open_store(url, readonly=True) for _ in range(consoles)]
    open_ms = (time.perf_counter() - t0) * 1000 / consoles
    sent: dict[str, float] = {}
    seen: list[dict[str, float]] = [{} for _ in readers]
    stop = threading.Event()
    errors: list[BaseException] = []

    def console(index: int) -> None:
        ro, mine = readers[index], seen[index]
        last = -1
        try:
            while not stop.is_set():
                ro.refresh()
                if ro.changes != last:  # refresh took in something: read the newest event
                    last = ro.changes
                    newest = ro.events(limit=1)
                    now = time.perf_counter()
                    if newest and newest[0].message in sent and newest[0].message not in mine:
                        mine[newest[0].message] = now
                time.sleep(CONSOLE_POLL_S)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=console, args=(i,), daemon=True) for i in range(consoles)]
    for t in threads:
        t.start()
    missed = 0
    took: list[float] = []
    try:
        time.sleep(0.3)  # the watches are open
        for i in range(n):
            message = f"bench: event {i} seen by the consoles"
            ev = Event(time=time.time(), kind="start", message=message, service=f"svc{i % 50:03d}",
                       replica=f"svc{i % 50:03d}.1", node=f"node{i % 20:02d}")
            sent[message] = time.perf_counter()
            writer.append_event(ev)
            deadline = time.monotonic() + 2.0
            while any(message not in mine for mine in seen) and time.monotonic() < deadline and not errors:
                time.sleep(0.001)
            for mine in seen:
                if message in mine:
                    took.append((mine[message] - sent[message]) * 1000)
                else:
                    missed += 1
            time.sleep(random.uniform(0, CONSOLE_POLL_S))  # not in step with the consoles' timers
            if errors:
                break
        # the consoles follow desired and observed changes too, not only events
        writer.put_service("svc000", 10, replicas=3)
        writer.set_availability("node00", Availability.DRAINING)
        writer.put_replica(replica(0, 1, 10, restarts=99))
        writer.put_rollout("svc001", {"from_revision": 10, "to_revision": 11, "state": "done"})
        expected = snapshot(writer)
        deadline = time.monotonic() + 2.0
        disagree = consoles
        while disagree and time.monotonic() < deadline and not errors:
            time.sleep(0.02)
            disagree = sum(snapshot(ro) != expected for ro in readers)
    finally:
        stop.set()
        for t in threads:
            t.join(2)
        for ro in readers:
            ro.close()
    if errors:
        raise errors[0]
    return took, missed, open_ms, disagree


def etcd_memory(url: str) -> dict[str, Any]:
    """RSS of a fresh process that imports tui-orch, then opens the state writable (taking the
    lead) and reads all of it: MB before the open, after it, after reading, and its peak."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", MEMORY_CHILD, url], capture_output=True, text=True, env=env,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"the memory probe failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def etcd_part(args: argparse.Namespace) -> bool:
    """The etcd rows; True when every target is met (or the rows were skipped in auto mode).
    ``--etcd yes`` starts the lab when it is not running (and stops it after), as the lab
    benchmarks do; ``auto`` uses it only when it runs."""
    if args.etcd == "no":
        return True
    started = None
    if args.etcd == "yes":
        from benchlab import ensure_lab

        found = ensure_lab()
        if found is None:
            return False
        started = found[0] if found[1] else None
    try:
        return etcd_rows(args)
    except StoreError as exc:  # etcd went away during the run (a fault test on the lab?), or a store error
        print(f"FAILED: etcd rows: {type(exc).__name__}: {exc}")
        return False
    finally:
        if started is not None:
            from benchlab import lab_tool

            lab_tool.stop_lab(started)


def etcd_rows(args: argparse.Namespace) -> bool:
    print()
    endpoints, why = lab_etcd()
    if endpoints is None:
        if args.etcd == "auto":
            print(f"etcd rows skipped: {why}")
            return True
        print(f"FAILED: etcd rows asked for (--etcd yes) but {why}")
        return False

    from tui_orch.store.etcdv3 import EtcdClient

    prefix = f"/tui-orch-bench/{uuid.uuid4().hex[:8]}"
    hosts = ",".join(e.split("://", 1)[1] for e in endpoints)
    url = f"etcd://{hosts}{prefix}?ttl=5"
    target = state_target(url)
    results: Results = []
    store: Store | None = None
    try:
        store, populate_s, open_ms, open_ro_ms = populate_and_open(url, args)
        with store:
            results = timed_writes(store, args.writes, args.services, max(1, args.replicas // args.services))
            seen, missed, console_open_ms, disagree = events_seen(store, url, args.seen_events, args.consoles)
            counts = state_counts(store)
        kvs, _ = EtcdClient(endpoints).range_prefix(prefix + "/")
        memory = etcd_memory(url)  # after the store above closed: the probe takes the lead
    finally:
        if store is not None:
            store.close()
        try:
            EtcdClient(endpoints).call("kv/deleterange", {"key": b64(prefix + "/"),
                                                          "range_end": b64(prefix_end(prefix + "/"))})
        finally:
            local = getattr(target, "local", None)  # this URL's folder for a controller socket: ours alone
            if local is not None and Path(local).parent.name == "etcd":
                shutil.rmtree(local, ignore_errors=True)

    print(f"etcd backend: {counts[0]} services, {counts[1]} revisions, {counts[2]} replicas, {counts[3]} events; "
          f"lab cluster {hosts}, prefix {prefix} (deleted after)")
    print(f"keys: {len(kvs)}, values {sum(len(kv.value) for kv in kvs) / 1024:.0f} KiB")
    print(f"populate {populate_s:.1f} s; open (leader) {open_ms:.0f} ms; open read-only + read all "
          f"{open_ro_ms:.0f} ms; {args.consoles} console opens {console_open_ms:.0f} ms each")
    print()
    print(f"{'etcd write (quorum), ms':<34} {'N':>5} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8}  "
          f"{'target':<10} result")
    failed = False
    for name, times, goal in results:
        line, ok = row(name, times, goal)
        failed = failed or not ok
        print(line)
    name = f"events: seen by {args.consoles} consoles"
    if seen:
        line, ok = row(name, seen, TARGET_SEEN_P95_MS)
    else:
        line, ok = f"{name:<34} {0:>5}  (none seen)", False
    if missed:
        ok = False
        line = line.rsplit(" ", 1)[0] + f" MISSED ({missed} of {args.seen_events * args.consoles} never seen in 2 s)"
    failed = failed or not ok
    print(line)
    if disagree:
        failed = True
        print(f"followers: MISSED: {disagree} of {args.consoles} consoles still disagree with the leader's state "
              f"2 s after its last write")
    else:
        print(f"followers: all {args.consoles} consoles hold exactly the leader's state after its last writes  ok")
    print()
    rss = {k: float(memory[k]) for k in ("before", "opened", "read", "peak")}
    held = memory["counts"]
    print(f"controller memory (RSS of a fresh process holding the state: {held[2]} replicas, "
          f"{held[3]} events; its open took {memory['open_ms']:.0f} ms)")
    for label, value in (
        ("imported tui-orch, before the open", rss["before"]),
        ("state opened writable (the lead)", rss["opened"]),
        ("after reading all of it", rss["read"]),
        ("the state's share (read - before)", rss["read"] - rss["before"]),
        ("peak (VmHWM)", rss["peak"]),
    ):
        print(f"memory: {label:<36} {value:>7.1f} MB  info")
    return not failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--etcd", choices=["auto", "yes", "no"], default="auto",
                        help="the etcd rows: auto (when the lab's etcd answers), yes (exit 1 when it does not), no")
    parser.add_argument("--consoles", type=int, default=10, help="watching consoles of the etcd event row")
    parser.add_argument("--seen-events", type=int, default=100, help="events appended for the etcd event row")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="tui-orch-bench-", dir=tempfile.gettempdir())
    try:
        store, populate_s, open_ms, open_ro_ms = populate_and_open(folder, args)
        per_service = max(1, args.replicas // args.services)
        with store:
            results = timed_writes(store, args.writes, args.services, per_service)
            sizes = {p.name: p.stat().st_size for p in Path(folder).iterdir() if p.is_file()}
            counts = state_counts(store)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"tui-orch store benchmark: {counts[0]} services, {counts[1]} revisions, {counts[2]} replicas, "
          f"{counts[3]} events; folder in {tempfile.gettempdir()}")
    print("files: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in sorted(sizes.items()) if k != "lock"))
    print(f"populate {populate_s:.1f} s; open (owner) {open_ms:.0f} ms; open read-only + read all {open_ro_ms:.0f} ms")
    print()
    print(f"{'write (durable), ms':<34} {'N':>5} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8}  {'target':<10} result")
    failed = False
    for name, times, target in results:
        line, ok = row(name, times, target)
        failed = failed or not ok
        print(line)
    failed = not etcd_part(args) or failed
    print()
    print("FAILED: a target was missed" if failed else "all targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
