"""The ranked rounds of the engine (nodes in use kept ranked per kind of request, empty nodes
grouped by size) choose exactly what full rounds choose: same nodes, same order, same ports,
same scores. Fleets from ``engine.RANKED_MIN`` nodes use them; these tests lower the limit to
0 so that small random fleets (hypothesis) use them too, and compare with it raised."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_placement_props import PROPS, nodes, scenarios, services
from tui_orch.model import (
    Availability,
    Constraint,
    NodeInfo,
    NodeState,
    Placement,
    PortSpec,
    Replica,
    ReplicaState,
    ResourceSpec,
    Resources,
    ServiceSpec,
    pairs,
)
from tui_orch.placement import Placer, Request, engine, plan, rebalance

GiB = 1 << 30


@contextmanager
def ranked(on: bool) -> Iterator[None]:
    old = engine.RANKED_MIN
    engine.RANKED_MIN = 0 if on else 1 << 62
    try:
        yield
    finally:
        engine.RANKED_MIN = old


def both(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    with ranked(False):
        full = fn(*args, **kwargs)
    with ranked(True):
        fast = fn(*args, **kwargs)
    return full, fast


@PROPS
@given(scenarios())
def test_plans_are_the_same_with_ranked_rounds(scenario: tuple) -> None:
    specs, fleet, current = scenario
    full, fast = both(plan, specs, fleet, current)
    assert fast == full


@PROPS
@given(nodes(), services(), st.data())
def test_one_placer_placing_and_releasing_picks_the_same_nodes(fleet: list, specs: list, data: st.DataObject) -> None:
    """A long-lived placer (the controller's way): places, releases some, places again."""
    steps = [(spec, data.draw(st.integers(1, 8)), data.draw(st.integers(0, 3))) for spec in specs * 2]

    def run() -> list[tuple]:
        placer = Placer(fleet)
        out: list[tuple] = []
        held: list[Replica] = []
        for spec, count, drop in steps:
            if spec.mode == "global":
                continue
            base = 1 + len(out)
            starts, failed = placer.place(Request.of(spec), list(range(base, base + count)))
            out += [(s.service, s.slot, s.node, s.ports, s.score) for s in starts] + [(u.service, u.slot) for u in failed]
            held += [Replica(s.service, s.slot, 1, s.node, ReplicaState.RUNNING, cpus=s.cpus, memory=s.memory,
                             ports=s.ports) for s in starts]
            for r in held[:drop]:
                placer.release(r)
            held = held[drop:]
        return out

    full, fast = both(run)
    assert fast == full


def fleet_of(n: int, rng: random.Random, *, hot: bool = False, shared: bool = False) -> list[NodeInfo]:
    out = []
    for i in range(n):
        cpus, mem = rng.choice([(2, 8), (4, 16), (8, 32), (16, 64), (64, 256)])
        out.append(NodeInfo(
            f"n{i:04d}", Resources(cpus, mem * GiB), reserved=Resources(0.5, GiB),
            labels=pairs({"disk": rng.choice(["ssd", "hdd"]), "zone": rng.choice("abc")}),
            state=NodeState.READY if rng.random() < 0.95 else NodeState.NOT_READY,
            availability=Availability.ACTIVE if rng.random() < 0.95 else Availability.CORDONED,
            cpu_used=rng.random() if hot and rng.random() < 0.1 else None,
            host_id=f"h{i // 3}" if shared and i % 5 == 0 else "",
            ports_in_use=frozenset({8000 + i % 4}) if rng.random() < 0.05 else frozenset(),
        ))
    return out


def manifest_of(total: int, rng: random.Random) -> list[ServiceSpec]:
    out: list[ServiceSpec] = []
    placed = 0
    while placed < total:
        k = len(out)
        replicas = rng.choice([1, 2, 3, 5, 10, 40])
        x = rng.random()
        ports = ((PortSpec(target=8080),) if x < 0.3 else (PortSpec(target=80, published=8000 + k % 6),) if x < 0.4
                 else ())
        cons = (Constraint("node.labels.disk", "==", "ssd"),) if rng.random() < 0.3 else ()
        out.append(ServiceSpec(
            f"s{k:04d}", "img", replicas=replicas, ports=ports,
            resources=ResourceSpec(reservations=Resources(rng.choice([0, 0.1, 0.5, 1, 3]),
                                                          rng.choice([0, 256, 1024, 4096]) << 20)),
            placement=Placement(constraints=cons, max_replicas_per_node=rng.choice([0, 0, 0, 2]),
                                preferences=("node.labels.zone",) if rng.random() < 0.05 else ())))
        placed += replicas
    return out


@pytest.mark.parametrize("seed", range(6))
def test_a_large_fleet_plans_the_same_with_ranked_rounds(seed: int) -> None:
    """Hundreds of mixed nodes (some down, cordoned, hot, sharing hosts, with bound ports),
    then a second plan over the first one's replicas with some nodes gone, drained, and
    replicas stopping: every plan is the same with and without the ranked rounds."""
    rng = random.Random(seed)
    fleet = fleet_of(300, rng, hot=seed % 2 == 1, shared=seed % 3 == 2)
    specs = manifest_of(1500, rng)
    full, fast = both(plan, specs, fleet)
    assert fast == full
    current = [Replica(s.service, s.slot, 1, s.node,
                       ReplicaState.STOPPING if rng.random() < 0.05 else ReplicaState.RUNNING,
                       cpus=s.cpus, memory=s.memory, ports=s.ports) for s in full.starts]
    later = [n for n in fleet if rng.random() < 0.9]
    later = [NodeInfo(n.name, n.capacity, n.reserved, n.labels, n.hostname, state=n.state,
                      availability=Availability.DRAINING if rng.random() < 0.05 else n.availability,
                      cpu_used=n.cpu_used, host_id=n.host_id, ports_in_use=n.ports_in_use) for n in later]
    grown = [ServiceSpec(s.name, s.image, replicas=s.replicas + rng.choice([0, 1, 5]), ports=s.ports,
                         resources=s.resources, placement=s.placement) for s in specs]
    full2, fast2 = both(plan, grown, later, current)
    assert fast2 == full2
    assert full2.starts  # the second plan does place replicas (what it compares is not empty)
    r_full, r_fast = both(rebalance, grown, later, current)
    assert r_fast == r_full


def test_the_ranked_rounds_are_used_on_a_large_fleet() -> None:
    """Not a test of speed: that the fast path is taken at all (else the tests above compare
    the full rounds with themselves)."""
    rng = random.Random(9)
    fleet, specs = fleet_of(600, rng), manifest_of(3000, rng)
    calls = {"full": 0}
    real = engine.NodePool.cost

    def counting(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls["full"] += 1
        return real(self, *args, **kwargs)

    engine.NodePool.cost = counting  # type: ignore[method-assign]
    try:
        with ranked(True):
            p = plan(specs, fleet)
        fast_calls = calls["full"]
        calls["full"] = 0
        with ranked(False):
            plan(specs, fleet)
    finally:
        engine.NodePool.cost = real  # type: ignore[method-assign]
    assert len(p.starts) > 2500
    assert fast_calls * 10 < calls["full"], (fast_calls, calls["full"])
