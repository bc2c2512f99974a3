"""The shared clock of simulated nodes: one ticker for all of them.

A ``Simulator`` owns a set of ``SimulatedNode`` objects and, once a second, updates every
one of them (one asyncio task in all, never one per node), so a thousand simulated nodes
cost a few milliseconds a second. In real time a big fleet is ticked in slices spread over
the second (SLICE_NODES nodes at a time), so the ticker never holds the event loop for long;
each node still ticks once a second, and ``advance()`` ticks all of them at once. It also owns what makes a simulation
reproducible: the seed every node derives its random streams from, a frozen mode in which
time only moves by ``advance()``, a switch that turns all noise off, and chaos (seeded
random crashes and node failures) for the demo.

Nodes built by ``make_node`` use the process-wide default simulator; tests and the demo
install their own with ``set_default_simulator`` or pass one to ``SimulatedNode``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui_orch.nodes.sim.node import SimulatedNode

TICK_SECONDS = 1.0
SLICE_NODES = 100  # nodes ticked in one go in real time; more are spread over the second
MAX_SLICES = 50  # 10,000 nodes: 200 a slice, not 1,000 (the loop held a fifth as long each time)


@dataclass(frozen=True)
class Chaos:
    """Random trouble, per node and per second (probabilities), drawn from the seed."""

    crash_rate: float = 0.002  # one of the node's running replicas dies
    failure_rate: float = 0.0005  # the node goes NotReady ...
    downtime: tuple[float, float] = (5.0, 30.0)  # ... and comes back after this many seconds
    oom_share: float = 0.2  # of crashes, the share that are OOM kills (exit 137)


class Simulator:
    """One clock and one ticker for many simulated nodes."""

    def __init__(self, seed: int = 0, *, frozen: bool = False, noise: bool = True,
                 start_time: float | None = None, interval: float = TICK_SECONDS,
                 chaos: Chaos | None = None):
        self.seed = seed
        self.frozen = frozen
        self.noise = noise
        self.interval = interval
        self.chaos = chaos
        self.nodes: dict[str, SimulatedNode] = {}
        self.ticks = 0
        self.tick_cpu = 0.0  # process time spent in ticks (for benchmarks)
        self._now = time.time() if start_time is None else start_time
        self._last = self._now
        self._order: list[str] | None = None  # node names, sorted, for seeded choices
        self._chaos_rng = random.Random(f"{seed}:chaos")
        self._task: asyncio.Task[None] | None = None
        self._decay_dt = 0.0
        self._decay = (1.0, 1.0, 1.0)

    # ----------------------------------------------------------------- clock
    def now(self) -> float:
        """Simulated time: the wall clock, or the frozen clock moved only by advance()."""
        return self._now if self.frozen else time.time()

    def freeze(self, at: float | None = None) -> None:
        """Stop time (and the ticker); from now on only ``advance()`` moves it."""
        self._now = self.now() if at is None else at
        self._last = self._now
        self.frozen = True
        self._stop_ticker()

    def unfreeze(self) -> None:
        self.frozen = False
        self._last = time.time()
        if self.nodes:
            self._ensure_ticker()

    async def advance(self, seconds: float) -> None:
        """Frozen mode: move time on by ``seconds`` in whole ticks, ticking each one."""
        if not self.frozen:
            raise RuntimeError("advance() needs a frozen simulator (Simulator(frozen=True) or freeze())")
        steps = max(0, round(seconds / self.interval))
        for _ in range(steps):
            self._now += self.interval
            self.tick()
            await asyncio.sleep(0)  # let consumers of events and listeners run

    # ----------------------------------------------------------------- membership
    def add(self, node: SimulatedNode) -> None:
        self.nodes[node.name] = node
        self._order = None
        if not self.frozen:
            self._ensure_ticker()

    def remove(self, node: SimulatedNode) -> None:
        if self.nodes.get(node.name) is node:
            del self.nodes[node.name]
            self._order = None
        if not self.nodes:
            self._stop_ticker()

    # ----------------------------------------------------------------- ticking
    def tick(self) -> None:
        """Update every node once (metrics, health probes, chaos)."""
        started = time.process_time()
        now, dt = self._begin_round()
        self._tick_nodes(list(self.nodes.values()), now, dt)
        if self.chaos is not None:
            self._chaos_tick(now, dt, self.chaos)
        self.tick_cpu += time.process_time() - started

    def _begin_round(self) -> tuple[float, float]:
        """(now, seconds since the last round) for a round that ticks every node once."""
        now = self.now()
        dt = max(1e-3, now - self._last) if self.ticks else self.interval
        self._last = now
        self.ticks += 1
        return now, dt

    def _tick_nodes(self, nodes: list[SimulatedNode], now: float, dt: float) -> None:
        if dt != self._decay_dt:
            self._decay_dt = dt
            self._decay = (math.exp(-dt / 60), math.exp(-dt / 300), math.exp(-dt / 900))
        noise, decay = self.noise, self._decay
        for node in nodes:
            node.tick(now, dt, noise, decay)

    def _chaos_tick(self, now: float, dt: float, chaos: Chaos) -> None:
        if self._order is None:
            self._order = sorted(self.nodes)
        rnd = self._chaos_rng.random
        for name in self._order:
            node = self.nodes.get(name)
            if node is None:
                continue
            if node.failed:
                if node.down_until is not None and now >= node.down_until:
                    node.recover()
                continue
            if rnd() < chaos.failure_rate * dt:
                low, high = chaos.downtime
                node.fail("chaos cut its network")
                node.down_until = now + low + (high - low) * rnd()
                continue
            if rnd() < chaos.crash_rate * dt:
                running = node.running_ids()
                if running:
                    victim = running[int(rnd() * len(running))]
                    if rnd() < chaos.oom_share:
                        node.crash(victim, exit_code=137, oom=True)
                    else:
                        node.crash(victim, exit_code=1)

    def _ensure_ticker(self) -> None:
        loop = _running_loop()
        if loop is None:
            return  # no loop yet: the first add() inside one starts the ticker
        task = self._task
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._last = self.now()
        self._task = loop.create_task(self._run(), name="tui-orch-simulator")

    def _stop_ticker(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop is closed
                task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        next_at = loop.time() + self.interval
        while self.nodes and not self.frozen and self._task is me:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = max(next_at + self.interval, loop.time() + self.interval / 2)
            if self._task is not me or self.frozen:
                return
            await self._sliced_round(me)
        if self._task is me:
            self._task = None


    async def _sliced_round(self, me: asyncio.Task[None] | None) -> None:
        """One round in real time: every node ticks once, SLICE_NODES at a time, the slices
        spread over the first part of the interval (chaos with the first)."""
        loop = asyncio.get_running_loop()
        nodes = list(self.nodes.values())
        parts = max(1, min(MAX_SLICES, -(-len(nodes) // SLICE_NODES)))
        size, step, begun = -(-len(nodes) // parts), self.interval / (parts + 1), loop.time()
        _, dt = self._begin_round()
        for i in range(parts):
            if i:
                await asyncio.sleep(max(0.0, begun + i * step - loop.time()))
                if self._task is not me or self.frozen:
                    return
            started = time.process_time()
            now = self.now()
            self._tick_nodes([n for n in nodes[i * size:(i + 1) * size] if n.name in self.nodes], now, dt)
            if i == 0 and self.chaos is not None:
                self._chaos_tick(now, dt, self.chaos)
            self.tick_cpu += time.process_time() - started


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_default: Simulator | None = None


def default_simulator() -> Simulator:
    """The process-wide simulator used by nodes built without one (``make_node``)."""
    global _default
    if _default is None:
        _default = Simulator()
    return _default


def set_default_simulator(simulator: Simulator | None) -> Simulator | None:
    """Install ``simulator`` as the default (None: a fresh one on next use); returns the old one."""
    global _default
    old, _default = _default, simulator
    return old
