"""How fast the controller repairs and updates, on the lab's 3 real nodes.

    .venv/bin/python benchmarks/controller.py [--crash-runs 6] [--node-runs 3] [--rollout-runs 3]

Starts the lab (tests/lab/lab.py) when it is stopped and stops it again at the end; a
running lab is used and left running (one partly down, e.g. a node killed by a fault test,
is waited for, up to 2 minutes). One Controller (default grace 10 s and period 10 s) over
the lab's nodes, with its state in a temp folder; every container it makes belongs to a
service named ctlbench<hex>..., removed at the end even when the run fails.

  crash -> running   a replica (restart_policy any, delay 0) whose process is SIGKILLed
                     from the host, until its record shows the new container running; each
                     run kills a different replica (a second crash of the same one backs off
                     on purpose)                                         target <= 1 s
  node lost -> moved kill_node (sshd, engine, containers SIGKILLed) on a node running 2 of
                     6 replicas, until both run on other nodes (the node is started again
                     and waited for Ready after each run)                target <= 15 s
  rolling update     6 replicas, parallelism 2 (3 batches), start-first, health check every
                     0.5 s, monitor 1 s: total (rollout record started -> complete) vs the
                     sum over batches of start (batch begins -> last container started, from
                     the engine) + health (-> last first passing health check, from the
                     engine's health log) + monitor              target total <= 1.2 x sum
                     stop-first is measured too, for information.

Prints a table (median and worst of each figure); exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import docker  # noqa: E402
import docker.errors  # noqa: E402

import lab as lab_tool  # noqa: E402
from benchlab import ensure_lab  # noqa: E402
from tui_orch.controller import Controller  # noqa: E402
from tui_orch.errors import TuiOrchError  # noqa: E402
from tui_orch.inventory import load_inventory  # noqa: E402
from tui_orch.manifest import Manifest, parse_manifest  # noqa: E402
from tui_orch.model import Event, NodeState, ReplicaState, RolloutState  # noqa: E402
from tui_orch.nodes.base import LABEL_SERVICE, DockerEvent  # noqa: E402
from tui_orch.nodes.fleet import Fleet  # noqa: E402
from tui_orch.store import open_store  # noqa: E402

TARGET_CRASH = 1.0  # s
TARGET_NODE_LOST = 15.0  # s, with the default grace of 10 s
TARGET_ROLLOUT_RATIO = 1.2  # total / sum of (start + health + monitor)
PREFIX = "ctlbench"
KILLED: set[str] = set()  # lab nodes this run killed and has not started again yet
MONITOR = 1.0
# exits at once on SIGTERM (a plain `sleep` as PID 1 ignores it and waits out the grace period)
COMMAND = '["sh", "-c", "trap \'exit 0\' TERM; sleep 3600 & wait"]'

SERVICE = """
services:
  {name}:
    image: tuiorch/busybox:{version}
    command: {command}
    network_mode: host
    stop_grace_period: 2s
{extra}
    deploy:
      replicas: {replicas}
      restart_policy:
        condition: any
        delay: 0s
      update_config:
        parallelism: 2
        order: {order}
        monitor: {monitor}s
        delay: 0s
"""
HEALTH = """    healthcheck:
      test: ["CMD", "true"]
      interval: 0.5s
      timeout: 1s
      retries: 1"""


def manifest(name: str, *, replicas: int = 6, version: str = "1", order: str = "start-first",
             health: bool = False) -> Manifest:
    text = SERVICE.format(name=name, version=version, command=COMMAND, replicas=replicas, order=order,
                          monitor=MONITOR, extra=HEALTH if health else "")
    return parse_manifest(textwrap.dedent(text), "controller-bench.yaml")


@dataclass
class Figure:
    name: str
    unit: str
    target: float | None  # None: for information
    values: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.target is None or (bool(self.values) and max(self.values) <= self.target)


# --------------------------------------------------------------------------- the lab side


def cleanup(lab: lab_tool.Lab, prefix: str) -> int:
    """Remove every container of a service named ``prefix``... on every reachable node."""
    removed = 0
    for node in lab.nodes:
        if not lab_tool.engine_ping(node):
            continue
        client = docker.DockerClient(base_url=node.docker_host, timeout=30)
        try:
            for c in client.api.containers(all=True, filters={"label": LABEL_SERVICE}):
                if (c.get("Labels") or {}).get(LABEL_SERVICE, "").startswith(prefix):
                    with contextlib.suppress(docker.errors.NotFound):
                        client.api.remove_container(c["Id"], force=True)
                        removed += 1
        finally:
            client.close()
    return removed


def engine_time(text: str) -> float:
    """A Docker timestamp (nanoseconds, Z) as a time.time() value."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


def started_at(client: docker.DockerClient, container_id: str) -> float:
    """When the engine started the container."""
    return engine_time(client.api.inspect_container(container_id)["State"]["StartedAt"])


async def until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.005) -> float:
    """Poll until ``predicate()``; the time.monotonic() when it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(interval)
    return time.monotonic()


@contextlib.asynccontextmanager
async def controller(lab: lab_tool.Lab, state: Path) -> AsyncIterator[Controller]:
    store = open_store(state)
    fleet = Fleet(load_inventory(lab.inventory))
    try:
        await fleet.start()
        for node in fleet.nodes.values():
            await node.wait_state(NodeState.READY, timeout=30)
        ctl = Controller(store, fleet)  # default grace and period
        try:
            await ctl.start()
            yield ctl
        finally:
            await ctl.close()
    finally:
        await fleet.close()
        store.close()


# --------------------------------------------------------------------------- 1. crash


async def bench_crash(ctl: Controller, lab: lab_tool.Lab, prefix: str, runs: int) -> list[Figure]:
    name = f"{prefix}-crash"
    result = await ctl.apply(manifest(name, replicas=runs))
    if not result.ok:
        raise RuntimeError(f"deploying {name} failed: {result.failed or result.unschedulable}")
    running = Figure("crash -> running (record)", "s", TARGET_CRASH)
    engine = Figure("crash -> new container started (engine)", "s", None)
    docks = {n.name: docker.DockerClient(base_url=n.docker_host, timeout=30) for n in lab.nodes}
    try:
        for rep in ctl.query().replicas(name):
            client = docks[rep.node]
            pid = (await asyncio.to_thread(client.api.inspect_container, rep.container_id))["State"]["Pid"]
            t_wall, t0 = time.time(), time.monotonic()
            os.kill(pid, signal.SIGKILL)

            def back(key: str = rep.key, old: str | None = rep.container_id) -> bool:
                now = ctl.query().replica(key)
                return now is not None and now.container_id != old and now.state == ReplicaState.RUNNING

            running.values.append(await until(back, 10, f"restart of {rep.key}") - t0)
            new = ctl.query().replica(rep.key)
            assert new is not None and new.container_id
            started = await asyncio.to_thread(started_at, docks[new.node], new.container_id)
            engine.values.append(started - t_wall)
    finally:
        for client in docks.values():
            client.close()
    await ctl.remove(name)
    return [running, engine]


# --------------------------------------------------------------------------- 2. node loss


async def bench_node_loss(ctl: Controller, lab: lab_tool.Lab, prefix: str, runs: int) -> list[Figure]:
    moved = Figure("node lost -> replicas running elsewhere", "s", TARGET_NODE_LOST,
                   note=f"grace {ctl.grace:g} s")
    back = Figure("node restarted -> Ready, replaced ones reaped", "s", None)
    for run in range(runs):
        name = f"{prefix}-node{run}"
        result = await ctl.apply(manifest(name, replicas=6))
        if not result.ok:
            raise RuntimeError(f"deploying {name} failed: {result.failed or result.unschedulable}")
        victim = lab.nodes[(len(lab.nodes) - 1 - run) % len(lab.nodes)]
        lost = [r for r in ctl.query().replicas(name) if r.node == victim.name]
        if not lost:
            raise RuntimeError(f"{name}: no replica on {victim.name} to lose")
        t0 = time.monotonic()
        KILLED.add(victim.name)
        await asyncio.to_thread(lab_tool.kill_node, victim)
        try:
            def elsewhere() -> bool:
                now = [ctl.query().replica(r.key) for r in lost]
                return all(r is not None and r.node != victim.name and r.state == ReplicaState.RUNNING for r in now)

            moved.values.append(await until(elsewhere, 60, f"re-placing {victim.name}'s replicas", 0.02) - t0)
        finally:
            t1 = time.monotonic()
            await asyncio.to_thread(lab_tool.start_node, victim)
            KILLED.discard(victim.name)
            node = ctl.query().node(victim.name)
            await node.reconnect()
            await node.wait_state(NodeState.READY, timeout=60)
        dock = docker.DockerClient(base_url=victim.docker_host, timeout=30)
        try:
            def reaped() -> bool:
                return not [c for c in dock.api.containers(all=True, filters={"label": f"{LABEL_SERVICE}={name}"})]

            ctl.reconciler.wake()
            back.values.append(await until(reaped, 30, f"reaping on {victim.name}", 0.1) - t1)
        finally:
            dock.close()
        await ctl.remove(name)
    return [moved, back]


# --------------------------------------------------------------------------- 3. rollouts


@dataclass
class RolloutRun:
    order: str
    total: float  # rollout record started -> complete
    batches: list[tuple[float, float, float]]  # (start, health, monitor) per batch
    engine_start: list[float]  # per batch: the slowest of its containers from create to start

    @property
    def budget(self) -> float:
        return sum(sum(b) for b in self.batches)


def data(ev: Event) -> dict[str, str]:
    return dict(ev.data)


async def one_rollout(ctl: Controller, name: str, version: str, order: str) -> RolloutRun:
    since = time.time()
    engine = ctl.ctx.fleet.subscribe()  # the engines' start and health_status events, with their times
    try:
        result = await ctl.apply(manifest(name, version=version, order=order, health=True))
    finally:
        ctl.ctx.fleet.unsubscribe(engine)
    ro = ctl.rollout_status(name)
    if not result.ok or ro is None or ro.state != RolloutState.COMPLETED:
        why = [e.message for e in ctl.query().events(since=since) if e.level == "error"]
        raise RuntimeError(f"rollout of {name} to :{version} failed: {'; '.join(why) or result.failed}")
    created: dict[str, float] = {}
    started: dict[str, float] = {}
    healthy: dict[str, float] = {}
    while not engine.empty():
        item = engine.get_nowait()
        if isinstance(item, DockerEvent) and item.action == "create":
            created.setdefault(item.container_id, item.time)
        elif isinstance(item, DockerEvent) and item.action == "start":
            started.setdefault(item.container_id, item.time)
        elif isinstance(item, DockerEvent) and item.action == "health_status" and item.health == "healthy":
            healthy.setdefault(item.container_id, item.time)
    events = ctl.query().events(service=name, since=since)
    begins = {int(data(e)["batch"]): e.time for e in events
              if e.kind == "rollout" and "begins" in e.message and "batch" in data(e)}
    complete = next(e.time for e in events if e.kind == "rollout" and "rollout complete" in e.message)
    new = {data(e)["container"] for e in events if e.kind == "start" and "container" in data(e)}
    batches, engine_only = [], []
    for k in sorted(begins):
        end = begins.get(k + 1, complete)
        mine = [cid for cid in started if begins[k] <= started[cid] < end and cid[:12] in new]
        if not mine or any(cid not in healthy for cid in mine):
            raise RuntimeError(f"{name}: batch {k}: the engines' start/healthy events of its replicas are missing")
        start = max(started[cid] for cid in mine) - begins[k]
        health = max(healthy[cid] for cid in mine) - begins[k] - start
        batches.append((start, health, MONITOR))
        engine_only.append(max(started[cid] - created.get(cid, started[cid]) for cid in mine))
    return RolloutRun(order, complete - ro.started_at, batches, engine_only)


async def bench_rollout(ctl: Controller, lab: lab_tool.Lab, prefix: str, runs: int) -> list[Figure]:
    name = f"{prefix}-roll"
    first = await ctl.apply(manifest(name, version="1", health=True))
    if not first.ok:
        raise RuntimeError(f"deploying {name} failed: {first.failed or first.unschedulable}")
    done: list[RolloutRun] = []
    version = "1"
    for order in ["start-first"] * runs + ["stop-first"]:
        version = "2" if version == "1" else "1"
        done.append(await one_rollout(ctl, name, version, order))
    await ctl.remove(name)
    figures = []
    for order, target in (("start-first", TARGET_ROLLOUT_RATIO), ("stop-first", None)):
        mine = [r for r in done if r.order == order]
        if not mine:
            continue
        per = [b for r in mine for b in r.batches]
        figures += [
            Figure(f"rollout {order}: total / sum(start+health+monitor)", "x", target,
                   [r.total / r.budget for r in mine]),
            Figure(f"  {order} total (6 replicas, 3 batches)", "s", None, [r.total for r in mine]),
            Figure(f"  {order} sum(start+health+monitor)", "s", None, [r.budget for r in mine]),
            Figure(f"  {order} per batch start", "s", None, [b[0] for b in per]),
            Figure(f"  {order} per batch start, engine create->start", "s", None,
                   [e for r in mine for e in r.engine_start]),
            Figure(f"  {order} per batch health", "s", None, [b[1] for b in per]),
            Figure(f"  {order} overhead per batch", "s", None, [(r.total - r.budget) / len(r.batches) for r in mine]),
        ]
    return figures


# --------------------------------------------------------------------------- main


def table(figures: list[Figure]) -> list[str]:
    print(f"{'figure':<54}{'runs':>5}{'median':>10}{'worst':>10}{'target':>10}  ok")
    missed = []
    for f in figures:
        values = (f"{statistics.median(f.values):>9.3f}{f.unit:<1}{max(f.values):>9.3f}{f.unit:<1}"
                  if f.values else f"{'-':>10}{'-':>10}")
        target = f"<= {f.target:g}{f.unit}" if f.target is not None else "info"
        verdict = "" if f.target is None else ("ok" if f.ok else "MISS")
        print(f"{f.name:<54}{len(f.values):>5}{values}{target:>10}  {verdict}  {f.note}".rstrip())
        if not f.ok:
            missed.append(f"{f.name}: worst {max(f.values, default=float('nan')):.3f} {f.unit} > {f.target:g} {f.unit}")
    return missed


async def run(lab: lab_tool.Lab, args: argparse.Namespace, prefix: str) -> int:
    state = Path(tempfile.mkdtemp(prefix="tuiorch-ctlbench-"))
    figures: list[Figure] = []
    try:
        async with controller(lab, state) as ctl:
            figures += await bench_crash(ctl, lab, prefix, args.crash_runs)
            if args.rollout_runs:
                figures += await bench_rollout(ctl, lab, prefix, args.rollout_runs)
            if args.node_runs:
                figures += await bench_node_loss(ctl, lab, prefix, args.node_runs)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(f"controller on {len(lab.nodes)} lab nodes")
    missed = table(figures)
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crash-runs", type=int, default=6, help="replicas killed, one each")
    parser.add_argument("--node-runs", type=int, default=3, help="nodes killed, one after another")
    parser.add_argument("--rollout-runs", type=int, default=3, help="start-first rollouts (plus one stop-first)")
    args = parser.parse_args()
    found = ensure_lab()
    if found is None:
        return 1
    lab, started = found
    prefix = f"{PREFIX}{uuid.uuid4().hex[:6]}"
    cleanup(lab, PREFIX)  # what a run cut short left behind
    try:
        return asyncio.run(run(lab, args, prefix))
    except (RuntimeError, TimeoutError, TuiOrchError, docker.errors.DockerException, lab_tool.LabError) as exc:
        print(f"benchmark interrupted: {exc}")
        return 1
    finally:
        for victim in sorted(KILLED):  # a node this run killed comes back, whatever happened
            with contextlib.suppress(lab_tool.LabError, OSError):
                lab_tool.start_node(lab.node(victim))
        cleanup(lab, prefix)
        if started:
            lab_tool.stop_lab(lab)


if __name__ == "__main__":
    sys.exit(main())
