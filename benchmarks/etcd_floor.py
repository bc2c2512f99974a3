"""What etcd itself allows the state store, on the lab's three-member cluster: the floor of the
etcd backend's figures (issue 14), measured with the client the store will use
(tui_orch/store/etcdv3.py) before the store keeps its state there.

    .venv/bin/python benchmarks/etcd_floor.py [--writes 300] [--events 100] [--watchers 10]

desired write   a fenced transaction (the leader's compare + one put of a service's revision,
                ~2 KB) as the store's desired-state write will be, durable on a quorum
                                                                    target p95 <= 20 ms
event seen      an event put, until each of --watchers watching clients (a console each)
                has it                                              target p95 <= 100 ms
Prints a table; exit status 1 when a target is missed."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlab import ensure_lab, lab_tool  # noqa: E402
from tui_orch.store.etcdv3 import EtcdClient, Watch, b64, prefix_end  # noqa: E402
from tui_orch.store.leader import Leadership  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def desired_writes(lab, prefix: str, n: int) -> list[float]:
    leader = Leadership(EtcdClient(lab.etcd_endpoints), prefix, 5.0)
    assert leader.try_lead()
    doc = json.dumps({"service": "web", "number": 7, "spec": {"image": "registry.example/web:1.2.3", "env": {
        f"VAR_{i}": "x" * 24 for i in range(40)}, "replicas": 3}, "cause": "apply web.yaml"})
    took = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            ok, _ = leader.client.txn([leader.fence()], [{"request_put": {"key": b64(f"{prefix}/desired/revisions/web/{i % 10}"),
                                                                          "value": b64(doc)}}])
            took.append((time.perf_counter() - t0) * 1000)
            assert ok
    finally:
        leader.resign()
    return took


def events_seen(lab, prefix: str, n: int, watchers: int) -> list[float]:
    start = EtcdClient(lab.etcd_endpoints).put(f"{prefix}/events/start", "0")
    sent: dict[str, float] = {}
    seen: list[float] = []
    lock = threading.Lock()
    stops = [Watch() for _ in range(watchers)]

    def on_events(events, _rev) -> None:
        now = time.perf_counter()
        with lock:
            seen.extend((now - sent[e["kv"].key]) * 1000 for e in events if e["kv"].key in sent)

    threads = [threading.Thread(target=EtcdClient(lab.etcd_endpoints).watch,
                                args=(f"{prefix}/events/", start + 1, on_events, stop), daemon=True) for stop in stops]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the watches are open
    writer = EtcdClient(lab.etcd_endpoints)
    for i in range(n):
        key = f"{prefix}/events/{i:06d}"
        sent[key] = time.perf_counter()
        writer.put(key, json.dumps({"kind": "start", "message": f"web.{i} started"}))
        time.sleep(0.02)
    deadline = time.monotonic() + 5
    while len(seen) < n * watchers and time.monotonic() < deadline:
        time.sleep(0.01)
    for stop in stops:
        stop.cancel()
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--watchers", type=int, default=10)
    args = parser.parse_args()
    found = ensure_lab()
    if found is None:
        return 1
    lab, started = found
    prefix = f"/tui-orch-bench/{uuid.uuid4().hex[:8]}"
    try:
        writes = desired_writes(lab, prefix, args.writes)
        seen = events_seen(lab, prefix, args.events, args.watchers)
    finally:
        try:  # leave nothing behind in the lab's etcd
            EtcdClient(lab.etcd_endpoints).call("kv/deleterange", {"key": b64(prefix + "/"),
                                                                  "range_end": b64(prefix_end(prefix + "/"))})
        except Exception:  # noqa: BLE001 - etcd went away meanwhile: the figures still print
            pass
        if started:
            lab_tool.stop_lab(lab)
    rows = [("desired write, fenced txn (ms)", writes, 20.0), (f"event seen by {args.watchers} watchers (ms)", seen, 100.0)]
    print(f"etcd floor on the lab's 3-member cluster ({', '.join(lab.etcd_endpoints)})")
    print(f"{'figure':40} {'n':>6} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8}  target      result")
    failed = []
    expected = {rows[0][0]: args.writes, rows[1][0]: args.events * args.watchers}
    for name, values, target in rows:
        complete = len(values) == expected[name]
        ok = complete and pct(values, 95) <= target
        print(f"{name:40} {len(values):>6} {statistics.median(values):8.2f} {pct(values, 95):8.2f} "
              f"{pct(values, 99):8.2f} {max(values):8.2f}  p95<={target:<6g} {'ok' if ok else 'MISS'}"
              + ("" if complete else f" ({expected[name] - len(values)} never seen)"))
        if not ok:
            failed.append(name)
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
