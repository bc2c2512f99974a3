"""LivePlacement: one placer kept current as replicas come and go and nodes change state. Each
of its plans must be exactly what ``placement.place`` makes from scratch of the same nodes
and replicas (the controller's path used to do just that)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_placement_props import PROPS, nodes, services
from tests.test_placement_ranked import fleet_of, manifest_of, ranked
from tui_orch.model import Availability, NodeInfo, NodeState, Replica, ReplicaState
from tui_orch.placement import LivePlacement, place


def _run(fleet: list[NodeInfo], specs: list, rng: random.Random, steps: int) -> int:
    """Random steps against a LivePlacement and a fresh placement.place each time; returns
    how many replicas were placed (so that a test can tell it did place some)."""
    live = LivePlacement(fleet)
    records: dict[str, Replica] = {}
    infos = list(fleet)
    placed = 0
    for step in range(steps):
        spec = rng.choice(specs)
        roll = rng.random()
        if roll < 0.1 and infos:
            # a node changes state, availability, measured use or bound ports
            k = rng.randrange(len(infos))
            x = infos[k]
            infos[k] = dataclasses.replace(
                x, state=rng.choice([NodeState.READY, NodeState.READY, NodeState.NOT_READY]),
                availability=rng.choice([Availability.ACTIVE, Availability.ACTIVE, Availability.CORDONED]),
                cpu_used=rng.choice([None, 0.2, 0.95]),
                ports_in_use=rng.choice([x.ports_in_use, frozenset(), frozenset({20000, 20001}), frozenset({8080})]))
            if not live.nodes_changed(infos):
                live = LivePlacement(infos, records.values())
            continue
        if roll < 0.25 and records:
            # some records go, or turn stopping or stopped
            for key in rng.sample(sorted(records), min(len(records), rng.randint(1, 3))):
                if rng.random() < 0.5:
                    live.drop([key])
                    del records[key]
                else:
                    rec = dataclasses.replace(records[key], state=rng.choice([ReplicaState.STOPPING,
                                                                              ReplicaState.STOPPED]))
                    records[key] = rec
                    live.put([rec])
            continue
        without = tuple(rng.sample(sorted(records), 1)) if records and rng.random() < 0.3 else ()
        extra = [dataclasses.replace(records[without[0]], slot=999)] if without and rng.random() < 0.5 else []
        base = 1 + step * 20
        slots = list(range(base, base + rng.randint(1, 6)))
        on = [x.name for x in rng.sample(infos, min(2, len(infos)))] if spec.mode == "global" else []
        current = [r for k, r in records.items() if k not in without] + extra
        expected = place(spec, slots, infos, current, on=on)
        got = live.place(spec, slots, on=on, without=without, extra=extra)
        assert got == expected, (step, spec.name)
        new = [Replica(s.service, s.slot, 1, s.node, ReplicaState.RUNNING, cpus=s.cpus, memory=s.memory,
                       ports=s.ports) for s in got.starts]
        records.update((r.key, r) for r in new)
        live.put(new)
        placed += len(new)
    return placed


@PROPS
@given(nodes(), services(), st.integers(0, 1 << 30))
def test_a_kept_placer_places_as_a_fresh_one(fleet: list, specs: list, seed: int) -> None:
    _run(fleet, specs, random.Random(seed), 40)


@pytest.mark.parametrize("seed", range(4))
def test_a_kept_placer_on_a_large_fleet_places_as_a_fresh_one(seed: int) -> None:
    """Hundreds of nodes, so that the ranked rounds are used too (and compared)."""
    rng = random.Random(seed)
    fleet = fleet_of(250, rng, hot=seed % 2 == 0, shared=seed == 3)
    specs = manifest_of(400, rng)
    with ranked(True):
        assert _run(fleet, specs, rng, 150) > 100


def test_a_node_that_comes_or_goes_asks_for_a_new_placer() -> None:
    rng = random.Random(1)
    fleet = fleet_of(5, rng)
    live = LivePlacement(fleet)
    assert live.nodes_changed(fleet)
    assert not live.nodes_changed(fleet[:4])
    assert not live.nodes_changed([*fleet[:4], dataclasses.replace(fleet[4], name="other")])
    assert not live.nodes_changed([*fleet[:4], dataclasses.replace(fleet[4], labels=())])
    assert live.nodes_changed([*fleet[:4], dataclasses.replace(fleet[4], state=NodeState.NOT_READY)])


def test_the_log_of_changed_nodes_does_not_grow_without_end(monkeypatch) -> None:
    """A controller places for months: the pool's log of changed nodes (what the rankings of
    the nodes in use follow) starts afresh once long, and the placer still places right."""
    import tui_orch.placement.live as live_module

    monkeypatch.setattr(live_module, "LOG_MAX", 50)
    rng = random.Random(5)
    fleet, specs = fleet_of(40, rng), manifest_of(100, rng)
    with ranked(True):
        assert _run(fleet, specs, rng, 120) > 50
        live = LivePlacement(fleet)
        for k in range(200):
            got = live.place(specs[k % len(specs)], [k + 1])
            live.put([Replica(s.service, s.slot, 1, s.node, ReplicaState.RUNNING, cpus=s.cpus, memory=s.memory,
                              ports=s.ports) for s in got.starts])
            assert len(live.fleet.changes) <= 50 + 8 * len(fleet) + 8
