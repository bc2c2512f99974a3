"""Latency of durable state writes with a realistic state recorded.

    .venv/bin/python benchmarks/store.py [--writes N] [--services S] [--replicas R] [--events E]

State (defaults): 50 services with 10 revisions each, 1,000 replicas, 10,000 events, 20
nodes with status and availability, in a temp folder in the system temp dir (same disk as
/tmp). Then N writes of each kind are timed, each returning only once durable.

Target: every desired-state write (scale, deploy = new revision + current pointer in one
transaction, cordon, rollout progress) has p95 <= 20 ms. Replica-state writes, event
appends and open times are shown for information. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
from tui_orch.store import Store, open_store  # noqa: E402

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


def measure(n: int, op: Callable[[int], object]) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        op(i)
        times.append((time.perf_counter() - t0) * 1000)
    return times


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="tui-orch-bench-", dir=tempfile.gettempdir())
    try:
        t0 = time.perf_counter()
        with open_store(folder) as store:
            populate(store, args.services, args.replicas, args.events)
        populate_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        store = open_store(folder)
        open_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        with open_store(folder, readonly=True) as ro:
            ro.replicas(), ro.events(limit=100)
        open_ro_ms = (time.perf_counter() - t0) * 1000

        n = args.writes
        s = args.services
        per_service = max(1, args.replicas // s)
        results: list[tuple[str, list[float], float | None]] = []
        with store:
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
            sizes = {p.name: p.stat().st_size for p in Path(folder).iterdir() if p.is_file()}
            counts = (len(store.services()), sum(len(store.revisions(x.name)) for x in store.services()),
                      len(store.replicas()), len(store.events()))
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
    print()
    print("FAILED: a target was missed" if failed else "all targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
