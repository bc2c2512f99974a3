"""Placement on mixed fleets (2 to 64 cpu) with shared hosts and static ports, against a
brute-force oracle of the hard rules, and the packing choices of the tiered score."""

from __future__ import annotations

from collections import Counter, defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_orch.model import (
    Constraint, NodeInfo, Placement, PortSpec, ReplicaState, Replica, ResourceSpec, Resources, ServiceSpec, pairs,
)
from tui_orch.placement import Placer, plan
from tui_orch.placement.pool import nano

GiB = 1 << 30
SHAPES = [(2, 8), (4, 8), (4, 32), (8, 32), (16, 64), (64, 256)]  # cpus, GiB
SSD = Constraint("node.labels.disk", "==", "ssd")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def fleets(draw: st.DrawFn) -> list[NodeInfo]:
    out = []
    for i in range(draw(st.integers(1, 4))):
        cpus, gib = draw(st.sampled_from(SHAPES))
        out.append(NodeInfo(f"n{i}", Resources(cpus, gib * GiB), labels=pairs({"disk": draw(st.sampled_from(["ssd", "hdd"]))}),
                            hostname=f"n{i}", host_id=draw(st.sampled_from(["", "", "hostA"]))))
    return out


@st.composite
def batches(draw: st.DrawFn) -> list[ServiceSpec]:
    """Up to 6 replicas in all, sized against the fleet's shapes so that some do not fit."""
    out = []
    left = 6
    for k in range(draw(st.integers(1, 4))):
        replicas = draw(st.integers(1, max(1, min(3, left))))
        left -= replicas
        ports = draw(st.sampled_from([(), (PortSpec(80, 8080),), (PortSpec(80, 8080 + k),), (PortSpec(80),)]))
        out.append(ServiceSpec(
            f"s{k}", "img", replicas=replicas, ports=ports,
            resources=ResourceSpec(reservations=Resources(draw(st.sampled_from([0.5, 1, 2, 3, 4, 12, 40])),
                                                          draw(st.sampled_from([1, 2, 6, 8, 24, 100])) * GiB)),
            placement=Placement(constraints=tuple(draw(st.lists(st.just(SSD), max_size=1))),
                                max_replicas_per_node=draw(st.sampled_from([0, 0, 1]))),
        ))
        if left <= 0:
            break
    return out


def _host(fleet: list[NodeInfo]) -> dict[str, str]:
    return {n.name: n.host_id or n.name for n in fleet}


def most_placeable(specs: list[ServiceSpec], fleet: list[NodeInfo]) -> int:
    """Brute force: the most replicas any assignment places under the hard rules (schedulable
    node, constraints, cpu and memory, a static port once per host, max_replicas_per_node)."""
    reps = [s for s in specs for _ in range(s.replicas)]
    host = _host(fleet)
    free = {n.name: [nano(n.allocatable.cpus), n.allocatable.memory] for n in fleet}
    ok = {(s.name, n.name) for s in specs for n in fleet
          if n.schedulable and all(c.matches(n) for c in s.placement.constraints)}
    ports: dict[str, set[int]] = defaultdict(set)
    count: Counter[tuple[str, str]] = Counter()
    best = 0

    def fits(s: ServiceSpec, n: str) -> bool:
        static = {p.published for p in s.ports if p.published is not None}
        cap = s.placement.max_replicas_per_node
        return ((s.name, n) in ok and free[n][0] >= nano(s.resources.reservations.cpus)
                and free[n][1] >= s.resources.reservations.memory and not static & ports[host[n]]
                and not (cap and count[s.name, n] >= cap))

    def visit(k: int, placed: int) -> None:
        nonlocal best
        best = max(best, placed)
        if k == len(reps) or placed + len(reps) - k <= best:
            return
        s = reps[k]
        static = {p.published for p in s.ports if p.published is not None}
        for n in free:
            if fits(s, n):
                free[n][0] -= nano(s.resources.reservations.cpus)
                free[n][1] -= s.resources.reservations.memory
                ports[host[n]] |= static
                count[s.name, n] += 1
                visit(k + 1, placed + 1)
                count[s.name, n] -= 1
                ports[host[n]] -= static
                free[n][0] += nano(s.resources.reservations.cpus)
                free[n][1] += s.resources.reservations.memory
        visit(k + 1, placed)

    visit(0, 0)
    return best


@FAST
@given(fleets(), batches())
def test_plans_keep_every_hard_rule_and_place_what_the_oracle_places(fleet: list, specs: list) -> None:
    p = plan(specs, fleet)
    by_name = {n.name: n for n in fleet}
    spec = {s.name: s for s in specs}
    host = _host(fleet)
    for name in {s.node for s in p.starts}:
        here = [s for s in p.starts if s.node == name]
        node = by_name[name]
        assert sum(nano(s.cpus) for s in here) <= nano(node.allocatable.cpus), f"cpu over-committed on {name}"
        assert sum(s.memory for s in here) <= node.allocatable.memory, f"memory over-committed on {name}"
        for service, n in Counter(s.service for s in here).items():
            cap = spec[service].placement.max_replicas_per_node
            assert not cap or n <= cap
    for s in p.starts:
        assert all(c.matches(by_name[s.node]) for c in spec[s.service].placement.constraints)
    per_host = Counter((host[s.node], q) for s in p.starts for q in s.ports)
    assert all(n == 1 for n in per_host.values()), f"a host port given twice: {per_host}"
    assert len({s.key for s in p.starts}) == len(p.starts)
    assert len(p.starts) == most_placeable(specs, fleet), p.describe()


def test_a_large_node_in_use_is_filled_before_small_empty_ones() -> None:
    """The issue's case: four replicas of 1.5 cpu / 6 GiB onto four 2-cpu / 8 GiB nodes and
    one 32-cpu / 128 GiB node: all four on the large node (one node in use, not four), and
    the small nodes stay free for replicas that need a whole one."""
    fleet = [NodeInfo(f"small{i}", Resources(2, 8 * GiB)) for i in range(4)] + [NodeInfo("large", Resources(32, 128 * GiB))]
    specs = [ServiceSpec(f"s{k}", "img", resources=ResourceSpec(reservations=Resources(1.5, 6 * GiB))) for k in range(4)]
    assert plan(specs, fleet).nodes_used == ("large",)


def test_one_replica_alone_goes_to_the_smallest_empty_node_that_holds_it() -> None:
    """Outside a batch (the incremental placer), an empty fleet: the replica takes the node it
    fills best by the room left, keeping the large node whole for a large replica."""
    fleet = [NodeInfo("a-large", Resources(64, 256 * GiB)), NodeInfo("b-mid", Resources(8, 32 * GiB)),
             NodeInfo("c-small", Resources(2, 4 * GiB))]
    starts, _ = Placer(fleet).place(ServiceSpec("web", "img", resources=ResourceSpec(
        reservations=Resources(1, 2 * GiB))), [1])
    assert starts[0].node == "c-small"
    starts, _ = Placer(fleet).place(ServiceSpec("db", "img", resources=ResourceSpec(
        reservations=Resources(4, 16 * GiB))), [1])
    assert starts[0].node == "b-mid"


def test_a_batch_opens_the_node_that_holds_what_is_left() -> None:
    """A batch of 10 cpu / 40 GiB in all on an empty mixed fleet: the one 16-cpu node holds it
    all, rather than the 64-cpu one (left whole) or several small ones."""
    fleet = [NodeInfo("big", Resources(64, 256 * GiB)), NodeInfo("mid", Resources(16, 64 * GiB))] + [
        NodeInfo(f"small{i}", Resources(4, 16 * GiB)) for i in range(4)]
    specs = [ServiceSpec(f"s{k}", "img", resources=ResourceSpec(reservations=Resources(1, 4 * GiB))) for k in range(10)]
    assert plan(specs, fleet).nodes_used == ("mid",)


def test_a_hot_node_in_use_comes_after_an_empty_cool_one() -> None:
    fleet = [NodeInfo("hot", Resources(32, 128 * GiB), cpu_used=0.95), NodeInfo("cool", Resources(4, 16 * GiB))]
    busy = Replica("db", 1, 1, "hot", ReplicaState.RUNNING, cpus=2, memory=4 * GiB)
    db = ServiceSpec("db", "img", resources=ResourceSpec(reservations=Resources(2, 4 * GiB)))
    web = ServiceSpec("web", "img", resources=ResourceSpec(reservations=Resources(1, 2 * GiB)))
    assert [s.node for s in plan([db, web], fleet, [busy]).starts] == ["cool"]


def test_a_replica_left_out_is_placed_by_moving_one_of_the_plan() -> None:
    """Largest first puts the wide replica on the only ssd node; moving it to the other node
    makes room for the one that needs ssd, and the plan says so."""
    fleet = [NodeInfo("n1", Resources(4, 8 * GiB), labels=pairs({"disk": "ssd"})),
             NodeInfo("n2", Resources(4, 8 * GiB), labels=pairs({"disk": "hdd"}))]
    wide = ServiceSpec("wide", "img", resources=ResourceSpec(reservations=Resources(3, GiB)))
    pinned = ServiceSpec("pinned", "img", resources=ResourceSpec(reservations=Resources(2, GiB)),
                         placement=Placement(constraints=(SSD,)))
    p = plan([wide, pinned], fleet)
    assert sorted((s.key, s.node) for s in p.starts) == [("pinned.1", "n1"), ("wide.1", "n2")]
    assert not p.unschedulable
    assert "placed pinned.1 on n1 by moving wide.1 to n2" in p.notes


def test_repair_keeps_host_ports_unique_on_a_shared_host() -> None:
    """The exchange must not move a replica onto the other node of its host where its static
    port is held: the only legal exchange moves it to the third node."""
    fleet = [NodeInfo("n1", Resources(4, 8 * GiB), labels=pairs({"disk": "ssd"}), host_id="h"),
             NodeInfo("n2", Resources(4, 8 * GiB), host_id="h"), NodeInfo("n3", Resources(4, 8 * GiB))]
    wide = ServiceSpec("wide", "img", replicas=1, ports=(PortSpec(80, 8080),),
                       resources=ResourceSpec(reservations=Resources(3, GiB)))
    other = ServiceSpec("other", "img", ports=(PortSpec(80, 8080),), resources=ResourceSpec(
        reservations=Resources(0.5, GiB)), placement=Placement(constraints=(Constraint("node.hostname", "==", "n2"),)))
    pinned = ServiceSpec("pinned", "img", resources=ResourceSpec(reservations=Resources(2, GiB)),
                         placement=Placement(constraints=(SSD,)))
    fleet = [NodeInfo(n.name, n.capacity, labels=n.labels, hostname=n.name, host_id=n.host_id) for n in fleet]
    p = plan([wide, other, pinned], fleet)
    on = {s.key: s.node for s in p.starts}
    assert on.get("pinned.1") == "n1" and on.get("wide.1") == "n3", p.describe()


def test_a_node_the_plan_opened_is_emptied_when_its_replicas_fit_elsewhere() -> None:
    """Six replicas (8 cpu, 28 GiB) on 4-cpu / 16 GiB nodes: every order tried opens a third
    node; its replicas fit on the other two once one of theirs moves, and the plan says so."""
    sizes = [(2, 6), (1, 4), (0.5, 6), (1, 4), (1.5, 6), (2, 2)]
    specs = [ServiceSpec(f"s{k}", "img", resources=ResourceSpec(reservations=Resources(c, m * GiB)))
             for k, (c, m) in enumerate(sizes)]
    fleet = [NodeInfo(f"n{i}", Resources(4, 16 * GiB)) for i in range(6)]
    p = plan(specs, fleet)
    assert p.nodes_used == ("n0", "n1") and not p.unschedulable
    assert p.notes == ("packed: 2 nodes in use instead of 3, replicas moved off 1 node(s) the plan had opened",)
    for name in p.nodes_used:
        assert sum(s.cpus for s in p.starts if s.node == name) <= 4
        assert sum(s.memory for s in p.starts if s.node == name) <= 16 * GiB


def test_packing_keeps_the_replicas_of_a_service_on_distinct_nodes() -> None:
    """Three replicas of one service spread on three nodes stay spread, though one node would
    hold them all."""
    spec = ServiceSpec("web", "img", replicas=3, resources=ResourceSpec(reservations=Resources(0.5, GiB)))
    p = plan([spec], [NodeInfo(f"n{i}", Resources(4, 16 * GiB)) for i in range(3)])
    assert p.nodes_used == ("n0", "n1", "n2") and p.notes == ()
