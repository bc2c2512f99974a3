"""Placement: which replica runs on which node. Pure code: no I/O, no asyncio, deterministic.

    plan(services, nodes, current, *, replace=(), replace_order="stop-first", options=None, homes={}) -> Plan
    place(service, slots, nodes, current, *, on=(), options=None, homes={}) -> Plan
    rebalance(services, nodes, current, *, options=None, homes={}) -> Rebalance
    Placer(nodes, current, options).place(spec, slots) -> (starts, unschedulable)   # incremental
    LivePlacement(nodes, current).place(spec, slots, ...) -> Plan   # kept current: see ``live``

Hard filters (Ready and active node, constraints, max_replicas_per_node, static and dynamic
host ports, cpu and memory reservations) come first; among the nodes left the replica goes to
the one with the fewest replicas of its service (after spread preferences), then the best
score (in tiers: nodes in use by best fit, empty nodes for the demand left, hot nodes; see
``pool``), then the first name. See ``planner`` for what is kept, stopped and started,
``engine`` for how the choice stays exact yet fast, and ``repair`` for the exchanges that
place what the greedy left out and empty the nodes it need not have opened.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from tui_orch.placement.result import (
    PlacementOptions,
    Plan,
    Rebalance,
    Start,
    Stop,
    Unschedulable,
)

if TYPE_CHECKING:
    from tui_orch.placement.engine import Placer
    from tui_orch.placement.live import LivePlacement
    from tui_orch.placement.pool import NodePool, Request
    from tui_orch.placement.planner import place, plan
    from tui_orch.placement.rebalance import rebalance

# What needs numpy (~0.1 s to import) is loaded on first use, not when the console starts:
# the first access binds the name here, so later ones are plain module attribute lookups.
# (Reach ``rebalance`` through this package: importing the submodule of the same name first
# would bind the module here instead.)
_LAZY = {
    "LivePlacement": "live",
    "Placer": "engine",
    "NodePool": "pool",
    "Request": "pool",
    "place": "planner",
    "plan": "planner",
    "rebalance": "rebalance",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "LivePlacement",
    "NodePool",
    "PlacementOptions",
    "Placer",
    "Plan",
    "Rebalance",
    "Request",
    "Start",
    "Stop",
    "Unschedulable",
    "place",
    "plan",
    "rebalance",
]
