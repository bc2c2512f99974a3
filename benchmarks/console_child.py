"""The console under load, as benchmarks/console.py starts it in a pseudo-terminal.

    python benchmarks/console_child.py --nodes 1000 --out DIR [--seed S] [--chaos scaled]

What ``tui-orch demo`` runs (cli_console.run_console: the real OrchApp, fleet and controller,
on simulated nodes ticking at 1 Hz, the real terminal driver), with the demo's manifests
deployed at once instead of the demo's timed script, and two probes the benchmark reads:

- DIR/ready.json, written once the deployed replicas run (or after --settle seconds):
  desired and running replica counts;
- DIR/stats.json, written when the console quits: event-loop lag samples (an asyncio task
  sleeps 10 ms and records how late it woke, with its time.monotonic(), which is the
  same clock in every process), the simulator's cumulative tick cpu, once a second, and
  every garbage collection's generation and duration.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui_orch.cli_console import run_console  # noqa: E402
from tui_orch.nodes.sim.node import SimulatedNode  # noqa: E402
from tui_orch.nodes.sim.simulator import Chaos, Simulator  # noqa: E402
from tui_orch.store import open_store  # noqa: E402
from tui_orch.ui import demo  # noqa: E402
from tui_orch.ui.settings import load_ui_settings  # noqa: E402

PROBE_SLEEP = 0.010
DEMO_FLEET = 12  # the demo's default size, whose fleet-wide trouble rate "scaled" keeps


def chaos_for(kind: str, nodes: int) -> Chaos | None:
    """none; demo (the demo's per-node rates, a storm on 1,000 nodes); scaled (the demo's
    fleet-wide rates: a crash every ~15 s and a node failure every ~2 minutes in all)."""
    if kind == "none":
        return None
    if kind == "demo":
        return demo.DEMO_CHAOS
    k = min(1.0, DEMO_FLEET / nodes)
    return replace(demo.DEMO_CHAOS, crash_rate=demo.DEMO_CHAOS.crash_rate * k,
                   failure_rate=demo.DEMO_CHAOS.failure_rate * k)


def gc_probe(pauses: list[tuple[float, int, float]]) -> None:
    """Record every garbage collection: (time.monotonic() at its end, generation, seconds)."""
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((time.monotonic(), info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(callback)


async def lag_probe(samples: list[tuple[float, float]]) -> None:
    while True:
        t = time.perf_counter()
        await asyncio.sleep(PROBE_SLEEP)
        samples.append((time.monotonic(), time.perf_counter() - t - PROBE_SLEEP))


async def cpu_probe(sim: Simulator, samples: list[tuple[float, float]]) -> None:
    while True:
        samples.append((time.monotonic(), sim.tick_cpu))
        await asyncio.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chaos", choices=("none", "scaled", "demo"), default="scaled")
    parser.add_argument("--replicas", type=int, default=None, help="the examples scaled to about this many (demo --replicas)")
    parser.add_argument("--settle", type=float, default=240.0, help="longest wait for the replicas (s)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--deploy-on-go", action="store_true",
                        help="deploy once the file OUT/go exists (OUT/deploy.json: when it began and ended)")
    args = parser.parse_args()

    sim = Simulator(args.seed, chaos=chaos_for(args.chaos, args.nodes))
    cfg = load_ui_settings()
    folder = demo.examples_dir()
    cfg.examples_dir = folder
    manifests = demo.demo_manifests(folder)
    if args.replicas is not None:
        manifests = demo.scaled(manifests, args.replicas, args.nodes)
    state = Path(tempfile.mkdtemp(prefix="tui-orch-bench-console-"))
    store = open_store(state)
    lag: list[tuple[float, float]] = []
    sim_cpu: list[tuple[float, float]] = []
    probes: list[asyncio.Task[None]] = []
    gcs: list[tuple[float, int, float]] = []
    gc_probe(gcs)

    async def script(ctl: Any, say: Any) -> None:
        probes.append(asyncio.create_task(lag_probe(lag)))
        probes.append(asyncio.create_task(cpu_probe(sim, sim_cpu)))
        while args.deploy_on_go and not (args.out / "go").exists():
            await asyncio.sleep(0.1)
        began = time.monotonic()
        for manifest in manifests:
            await ctl.apply(manifest)
        (args.out / "deploy.json").write_text(json.dumps({"began": began, "ended": time.monotonic()}))
        deadline = time.monotonic() + args.settle
        while True:
            rows = ctl.query().service_rows()
            desired, running = sum(r.desired for r in rows), sum(min(r.running, r.desired) for r in rows)
            if running >= desired or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        (args.out / "ready.json").write_text(json.dumps(
            {"desired": desired, "running": running, "services": len(rows),
             "replicas": len(ctl.query().replicas()), "time": time.monotonic()}))

    try:
        asyncio.run(run_console(store, demo.demo_inventory(args.nodes), cfg,
                                factory=lambda spec: SimulatedNode(spec, sim), script=script))
    finally:
        for task in probes:
            task.cancel()
        (args.out / "stats.json").write_text(json.dumps({"lag": lag, "sim_cpu": sim_cpu, "gc": gcs}))
        store.close()
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
