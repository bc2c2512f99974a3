"""``tui-orch demo``: a fleet of simulated nodes whose utilisation follows the replicas placed
on them, with crashes and a node failure now and then, and a short script that deploys the
examples and starts a rolling restart, so a newcomer sees deploys, restarts, rescheduling
and rollouts within a minute."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path

from tui_orch.controller import Controller
from tui_orch.errors import TuiOrchError
from tui_orch.inventory import Inventory
from tui_orch.manifest import Manifest, load_manifest, parse_manifest
from tui_orch.model import NodeSpec, ServiceSpec, pairs
from tui_orch.nodes.sim.simulator import Chaos

ZONES = ("eu-1a", "eu-1b", "eu-1c")
# per node and second: with 12 nodes, a crash every ~15 s and a node failure every ~2 min
DEMO_CHAOS = Chaos(crash_rate=0.006, failure_rate=0.0007, downtime=(12.0, 30.0))
ROLLOUT_AFTER = 15.0  # seconds after the deploys: a rolling restart of the first service
EXAMPLES = ("web.yaml", "worker.yaml", "stack.yaml")
# used when no examples folder is at hand (an installed tui-orch ships none)
FALLBACK = """
name: demo
services:
  web:
    image: tuiorch/busybox:1
    ports: [{target: 8080}]
    healthcheck: {test: ["CMD-SHELL", "true"], interval: 2s, retries: 2}
    deploy:
      replicas: 6
      resources: {reservations: {cpus: "0.25", memory: 128m}, limits: {cpus: "1", memory: 256m}}
      update_config: {parallelism: 2, order: start-first, monitor: 3s}
      placement: {preferences: [{spread: node.labels.zone}]}
  worker:
    image: tuiorch/busybox:1
    deploy:
      replicas: 4
      resources: {reservations: {cpus: "0.5", memory: 256m}, limits: {cpus: "1", memory: 512m}}
      placement: {constraints: [node.labels.disk == ssd]}
"""


def demo_inventory(count: int) -> Inventory:
    """``count`` simulated nodes over three zones, half of them with SSDs."""
    width = len(str(count))
    return Inventory(nodes=tuple(
        NodeSpec(name=f"sim-{i + 1:0{width}d}", simulated=True,
                 labels=pairs({"zone": ZONES[i % len(ZONES)], "disk": "ssd" if i % 2 == 0 else "hdd"}))
        for i in range(count)))


def examples_dir() -> Path | None:
    """./examples, else the checkout's examples folder, else None."""
    for folder in (Path.cwd() / "examples", Path(__file__).resolve().parents[2] / "examples"):
        if all((folder / name).is_file() for name in EXAMPLES[:1]):
            return folder
    return None


def demo_manifests(folder: Path | None) -> list[Manifest]:
    if folder is None:
        return [parse_manifest(FALLBACK, "demo.yaml")]
    out = []
    for name in EXAMPLES:
        with contextlib.suppress(OSError, TuiOrchError):
            out.append(load_manifest(folder / name))
    return out or [parse_manifest(FALLBACK, "demo.yaml")]


def scaled(manifests: list[Manifest], replicas: int, nodes: int) -> list[Manifest]:
    """``manifests`` with about ``replicas`` replicas in all on ``nodes`` nodes (``demo
    --replicas``, to see the console at scale): a global service counts one per node, and what
    is left is shared among the replicated services in proportion to their own counts. Those
    capped per node (max_replicas_per_node) and one-shot jobs keep theirs: more would only wait
    for a node. ``replicas`` below what they have already: unchanged."""
    specs = [s for m in manifests for s in m.services]
    fixed = sum(nodes if s.mode == "global" else s.replicas for s in specs if not _scalable(s))
    units = sum(s.replicas for s in specs if _scalable(s))
    if units == 0 or replicas - fixed <= units:
        return manifests
    left, out = replicas - fixed, []
    for m in manifests:
        services = tuple(dataclasses.replace(s, replicas=max(1, round(s.replicas * left / units)))
                         if _scalable(s) else s for s in m.services)
        out.append(dataclasses.replace(m, services=services))
    return out


def _scalable(spec: ServiceSpec) -> bool:
    return (spec.mode == "replicated" and not spec.placement.max_replicas_per_node
            and not spec.one_shot)


async def demo_script(ctl: Controller, manifests: list[Manifest], say: Callable[[str], None],
                      rollout_after: float = ROLLOUT_AFTER, pause: float = 3.0) -> None:
    """Deploy each manifest a few seconds apart, then a rolling restart of the first service."""
    await asyncio.sleep(pause)
    for manifest in manifests:
        names = ", ".join(manifest.names)
        say(f"demo: deploying {manifest.file} ({names})")
        try:
            await ctl.apply(manifest)
        except TuiOrchError as exc:
            say(f"demo: {exc}")
        await asyncio.sleep(pause)
    first = manifests[0].services[0].name if manifests and manifests[0].services else None
    if first is None:
        return
    await asyncio.sleep(rollout_after)
    say(f"demo: rolling restart of {first} (watch the services view)")
    try:
        await ctl.rollout_restart(first)
    except TuiOrchError as exc:
        say(f"demo: {exc}")
