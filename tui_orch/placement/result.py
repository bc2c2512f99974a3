"""What the planner returns: typed, immutable moves and a readable description of them.

``Start``, ``Stop`` and ``Unschedulable`` are named tuples rather than frozen dataclasses on
purpose: a plan of 100,000 starts is built in the hot loop of the planner, and a named tuple
is made about seven times faster than a frozen dataclass while being just as immutable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from tui_orch.units import format_bytes


@dataclass(frozen=True)
class PlacementOptions:
    """Knobs of the planner. The defaults are the documented behaviour."""

    port_range: tuple[int, int] = (20000, 32000)  # dynamic host ports, both ends included
    hot_threshold: float = 0.85  # measured cpu or memory use above this marks a node hot
    hot_penalty: float = 10.0  # subtracted from a hot node's score, which then ranks after every cool node (0: off)
    align_weight: float = 1.0  # weight of the dot-product alignment term
    retry_limit: int = 5000  # try the second ordering for batches of at most this many replicas
    search_limit: int = 200  # try every extra ordering for batches of at most this many replicas
    search_runs: int = 16  # perturbed bin-by-bin runs for those small batches


def replica_key(service: str, slot: int, node: str) -> str:
    """The key of a replica, as ``Replica.key`` spells it: ``web.3``, or ``agent.node2``."""
    return f"{service}.{slot}" if slot else f"{service}.{node}"


def _pct(fraction: float) -> str:
    return f"{round(fraction * 100)}%"


class Start(NamedTuple):
    """Start a new replica ``service.slot`` on ``node``, holding ``ports`` there."""

    service: str
    slot: int  # 0 for a global service (keyed by node)
    node: str
    ports: tuple[int, ...]  # host ports, in the order of the service's ``ports`` (PORT = first)
    cpus: float
    memory: int
    score: float  # the best-fit score the node had (higher is better)
    cpu_after: float  # fraction of the node's allocatable cpu reserved once it runs
    mem_after: float
    why: str = ""  # what it replaces, when it replaces something

    @property
    def key(self) -> str:
        return replica_key(self.service, self.slot, self.node)

    @property
    def reason(self) -> str:
        how = "best fit" if self.slot else "global"
        fit = f"{how}: cpu {_pct(self.cpu_after)}, mem {_pct(self.mem_after)} after"
        return f"{self.why}; {fit}" if self.why else fit

    def __str__(self) -> str:
        ports = f" ports {','.join(map(str, self.ports))}" if self.ports else ""
        return f"{self.key} -> {self.node}{ports} ({self.reason})"


class Stop(NamedTuple):
    """Stop the replica ``key`` (of ``revision``) that runs on ``node``."""

    key: str
    node: str
    reason: str
    revision: int = 0

    def __str__(self) -> str:
        return f"{self.key} stop on {self.node} ({self.reason})"


class Unschedulable(NamedTuple):
    """A replica that no node can take, and why, filter by filter."""

    service: str
    slot: int
    reason: str
    node: str = ""  # the node of a global replica

    @property
    def key(self) -> str:
        return replica_key(self.service, self.slot, self.node)

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


@dataclass(frozen=True)
class Plan:
    """The moves that take the current replicas to the desired ones. ``starts`` are in the
    order they were placed (their ``cpu_after``/``mem_after`` follow that order)."""

    starts: tuple[Start, ...] = ()
    stops: tuple[Stop, ...] = ()
    keeps: tuple[str, ...] = ()  # keys of replicas left where they are
    unschedulable: tuple[Unschedulable, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def moves(self) -> tuple[Start | Stop, ...]:
        """Stops first (they free resources), then starts."""
        return (*self.stops, *self.starts)

    @property
    def empty(self) -> bool:
        """True when there is nothing to start or stop."""
        return not self.starts and not self.stops

    @property
    def nodes_used(self) -> tuple[str, ...]:
        """Nodes the plan starts something on."""
        return tuple(sorted({s.node for s in self.starts}))

    def describe(self) -> str:
        """One line per move, as a dry run shows them."""
        head = (
            f"{len(self.starts)} to start, {len(self.stops)} to stop, {len(self.keeps)} kept"
            + (f", {len(self.unschedulable)} unschedulable" if self.unschedulable else "")
        )
        lines = [head]
        lines += [str(s) for s in self.stops]
        lines += [str(s) for s in self.starts]
        lines += [str(u) for u in self.unschedulable]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Rebalance:
    """A consolidation plan: which replicas to move so that whole nodes become free."""

    plan: Plan
    nodes_before: int  # nodes running at least one replica now
    nodes_after: int  # ... once the moves are done
    freed: tuple[str, ...]  # nodes left with no replica

    @property
    def frees(self) -> int:
        return len(self.freed)

    def describe(self) -> str:
        head = (
            f"rebalance frees {self.frees} node(s) ({self.nodes_before} -> {self.nodes_after} in use)"
            + (f": {', '.join(self.freed)}" if self.freed else "")
        )
        return head + "\n" + self.plan.describe()


def fmt_cpus(cpus: float) -> str:
    """``0.5`` -> ``'0.5'``, ``1.0`` -> ``'1'``, ``0.3333`` -> ``'0.333'``."""
    return f"{round(cpus, 3):g}"


def fmt_memory(memory: float) -> str:
    return format_bytes(int(memory))


__all__ = [
    "PlacementOptions",
    "Plan",
    "Rebalance",
    "Start",
    "Stop",
    "Unschedulable",
    "fmt_cpus",
    "fmt_memory",
    "replica_key",
]
