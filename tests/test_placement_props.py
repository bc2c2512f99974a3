"""Placement properties over random fleets, services and current replicas (hypothesis)."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter, defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

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
from tui_orch.placement import NodePool, Placer, Plan, Request, plan
from tui_orch.placement.pool import nano

_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
for _name, _examples in (("placement-ci", 500), ("placement", 100)):
    try:
        settings.get_profile(_name)
    except InvalidArgument:
        settings.register_profile(
            _name, max_examples=_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )
PROPS = settings.get_profile("placement-ci" if _CI else "placement")

GiB = 1 << 30

CONSTRAINTS = [
    Constraint("node.labels.disk", "==", "ssd"),
    Constraint("node.labels.zone", "!=", "a"),
    Constraint("node.hostname", "==", "n1"),
]


@st.composite
def nodes(draw: st.DrawFn) -> list[NodeInfo]:
    out = []
    for i in range(draw(st.integers(1, 7))):
        cpus = draw(st.sampled_from([0.5, 1, 2, 4, 8]))
        memory = draw(st.sampled_from([1, 2, 4, 8, 16])) * GiB
        out.append(NodeInfo(
            f"n{i}", Resources(cpus, memory),
            reserved=Resources(draw(st.sampled_from([0, 0.25])), draw(st.sampled_from([0, GiB // 4]))),
            labels=pairs({"zone": draw(st.sampled_from("abc")), "disk": draw(st.sampled_from(["ssd", "hdd"]))}),
            hostname=f"n{i}",
            state=draw(st.sampled_from([NodeState.READY] * 5 + [NodeState.NOT_READY, NodeState.UNREACHABLE])),
            availability=draw(st.sampled_from(
                [Availability.ACTIVE] * 5 + [Availability.CORDONED, Availability.DRAINING])),
            cpu_used=draw(st.none() | st.floats(0, 1)),
            # "" = a host of its own; nodes with the same id share host ports
            host_id=draw(st.sampled_from(["", "", "hostA", "hostB"])),
        ))
    return out


def same_host(fleet: list[NodeInfo]) -> dict[str, set[str]]:
    """node -> the nodes whose host ports it shares (itself included)."""
    by_id: dict[str, set[str]] = defaultdict(set)
    for n in fleet:
        if n.host_id:
            by_id[n.host_id].add(n.name)
    return {n.name: by_id[n.host_id] if n.host_id else {n.name} for n in fleet}


@st.composite
def services(draw: st.DrawFn) -> list[ServiceSpec]:
    out = []
    for k in range(draw(st.integers(1, 4))):
        ports = draw(st.sampled_from([(), (PortSpec(target=80),), (PortSpec(target=80, published=8080 + k % 2),),
                                      (PortSpec(target=80), PortSpec(target=81, published=9000))]))
        out.append(ServiceSpec(
            f"s{k}", "img",
            mode=draw(st.sampled_from(["replicated"] * 4 + ["global"])),
            replicas=draw(st.integers(0, 6)),
            ports=ports,
            resources=ResourceSpec(reservations=Resources(
                draw(st.sampled_from([0, 0.1, 0.25, 0.5, 1, 1.5, 3])),
                draw(st.sampled_from([0, 128 << 20, 512 << 20, GiB, 3 * GiB])),
            )),
            placement=Placement(
                constraints=tuple(draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=1))),
                preferences=draw(st.sampled_from([(), ("node.labels.zone",)])),
                max_replicas_per_node=draw(st.integers(0, 2)),
            ),
        ))
    return out


def as_replicas(p: Plan, current: list[Replica]) -> list[Replica]:
    """The replicas once ``p`` is carried out."""
    stopped = {(s.key, s.node) for s in p.stops}
    return [r for r in current if (r.key, r.node) not in stopped] + [
        Replica(s.service, s.slot, 1, s.node, ReplicaState.RUNNING, cpus=s.cpus, memory=s.memory, ports=s.ports)
        for s in p.starts
    ]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[ServiceSpec], list[NodeInfo], list[Replica]]:
    """Desired services, nodes, and current replicas that an earlier plan placed on the nodes
    as they were before some of them changed state (and the services their replica count)."""
    fleet = draw(nodes())
    specs = draw(services())
    # The earlier plan may not have known the host ids (replicas placed before they were
    # known may hold one port twice on a host): later plans must still never add a clash.
    knew = draw(st.booleans())
    before = [NodeInfo(n.name, n.capacity, n.reserved, n.labels, n.hostname, host_id=n.host_id if knew else "")
              for n in fleet]
    earlier = [s for s in specs if draw(st.booleans())]
    current = as_replicas(plan(earlier, before, []), [])
    changed = [
        ServiceSpec(s.name, s.image, mode=s.mode, replicas=draw(st.integers(0, 6)), ports=s.ports,
                    resources=s.resources, placement=s.placement) if draw(st.booleans()) else s
        for s in specs
    ]
    return changed, fleet, current


def _check_nodes(p: Plan, fleet: list[NodeInfo], specs: list[ServiceSpec], current: list[Replica]) -> None:
    by_name = {n.name: n for n in fleet}
    spec = {s.name: s for s in specs}
    after = as_replicas(p, current)
    for s in p.starts:
        node = by_name[s.node]
        assert node.schedulable, f"{s.key} started on {s.node}, which is {node.state}/{node.availability}"
        assert all(c.matches(node) for c in spec[s.service].placement.constraints)
    started_on = {s.node for s in p.starts}
    for name in started_on:
        node = by_name[name]
        here = [r for r in after if r.node == name]
        assert sum(nano(r.cpus) for r in here) <= nano(node.allocatable.cpus)
        assert sum(r.memory for r in here) <= node.allocatable.memory
        ports = [q for r in here for q in r.ports]
        assert len(ports) == len(set(ports)), f"port used twice on {name}: {sorted(ports)}"
        per_service = Counter(r.service for r in here)
        for s in {s.service for s in p.starts if s.node == name}:
            cap = spec[s].placement.max_replicas_per_node
            assert not cap or per_service[s] <= cap
    for s in p.starts:
        assert all(20000 <= q <= 32000 for q, ps in zip(s.ports, spec[s.service].ports) if ps.published is None)
    # A started replica's host ports are held by no other replica on any node of its host.
    hosts = same_host(fleet)
    for s in p.starts:
        others = [q for r in after if r.node in hosts[s.node] and (r.key, r.node) != (s.key, s.node) for q in r.ports]
        assert len(s.ports) == len(set(s.ports)) and not set(s.ports) & set(others), (
            f"{s.key} on {s.node} got ports {s.ports}, held on its host ({sorted(hosts[s.node])}): {sorted(others)}")


@PROPS
@given(scenarios())
def test_plans_respect_every_hard_filter(scenario: tuple) -> None:
    specs, fleet, current = scenario
    p = plan(specs, fleet, current)
    _check_nodes(p, fleet, specs, current)
    by_name = {n.name: n for n in fleet}
    # Replicas on nodes that are not Ready, or draining, are stopped and their slot placed
    # elsewhere (unless the service shrank); replicas on cordoned nodes stay unless it shrank.
    desired = {s.name: s for s in specs}
    stops = {(s.key, s.node): s.reason for s in p.stops}
    for r in current:
        node = by_name[r.node]
        spec = desired.get(r.service)
        reason = stops.get((r.key, r.node), "")
        if node.state != NodeState.READY or node.availability == Availability.DRAINING:
            assert reason
            if spec and spec.mode == "replicated" and not reason.startswith("scale down"):
                again = [x for x in (*p.starts, *p.unschedulable) if x.key == r.key]
                assert again, f"{r.key} on {r.node} was not placed again"
                assert all(s.node != r.node for s in p.starts if s.key == r.key)
        elif spec is not None and spec.mode == ("global" if r.slot == 0 else "replicated"):
            assert not reason or reason.startswith("scale down"), reason
    # Every desired replicated slot is kept, started or reported.
    for s in specs:
        if s.mode == "replicated":
            keys = {k for k in p.keeps if k.rsplit(".", 1)[0] == s.name} | {
                x.key for x in (*p.starts, *p.unschedulable) if x.service == s.name}
            assert len(keys) == s.replicas


@PROPS
@given(scenarios())
def test_same_input_same_plan_and_a_satisfied_state_gives_no_moves(scenario: tuple) -> None:
    specs, fleet, current = scenario
    p = plan(specs, fleet, current)
    assert plan(list(reversed(specs)), list(reversed(fleet)), list(reversed(current))) == p
    again = plan(specs, fleet, as_replicas(p, current))
    assert again.empty, again.describe()
    assert [u.key for u in again.unschedulable] == [u.key for u in p.unschedulable]


@PROPS
@given(nodes(), services(), st.data())
def test_rounds_choose_exactly_what_a_full_rescore_per_replica_chooses(
    fleet: list, specs: list, data: st.DataObject
) -> None:
    batch = Placer(fleet)
    single = Placer(fleet)
    for spec in specs:
        req = Request.of(spec)
        slots = list(range(1, data.draw(st.integers(1, 12)) + 1))
        starts, failed = batch.place(req, slots)
        one_by_one = [single.place(req, [k]) for k in slots]
        assert [(s.slot, s.node, s.ports, s.score) for s in starts] == [
            (s.slot, s.node, s.ports, s.score) for got, _ in one_by_one for s in got]
        assert [u.slot for u in failed] == [u.slot for _, lost in one_by_one for u in lost]


@PROPS
@given(nodes(), services())
def test_each_pick_is_the_lowest_key_of_a_naive_scan(fleet: list, specs: list) -> None:
    """The engine's choice against a plain Python scan of (spread level, cost, name)."""
    placer = Placer(fleet)
    f: NodePool = placer.fleet
    for spec in specs:
        if spec.placement.preferences:
            continue
        req = Request.of(spec)
        for slot in range(1, 4):
            counts = defaultdict(int, f.counts.get(req.service, {}))
            cost = f.cost(req, f.counts_array(req.service))
            feasible = [i for i in range(f.n) if cost[i] < float("inf")]
            starts, _ = placer.place(req, [slot])
            if not feasible:
                assert not starts
                continue
            best = min(feasible, key=lambda i: (counts[i], cost[i], f.names[i]))
            assert starts[0].node == f.names[best]


def _with_ids(fleet: list[NodeInfo], ids: list[str]) -> list[NodeInfo]:
    return [dataclasses.replace(n, host_id=h) for n, h in zip(fleet, ids)]


@PROPS
@given(scenarios())
def test_distinct_or_unknown_host_ids_plan_as_before(scenario: tuple) -> None:
    """Host ids that no two nodes share change nothing: each node is a host of its own."""
    specs, fleet, current = scenario
    unknown = plan(specs, _with_ids(fleet, [""] * len(fleet)), current)
    assert plan(specs, _with_ids(fleet, [f"boot-{n.name}" for n in fleet]), current) == unknown
    mixed = [f"boot-{n.name}" if k % 2 else "" for k, n in enumerate(fleet)]
    assert plan(specs, _with_ids(fleet, mixed), current) == unknown


@PROPS
@given(scenarios())
def test_a_shared_host_changes_only_what_host_ports_decide(scenario: tuple) -> None:
    """Without host ports, nodes that share a host are placed on exactly as if they did not."""
    specs, fleet, current = scenario
    specs = [dataclasses.replace(s, ports=()) for s in specs]
    current = [dataclasses.replace(r, ports=()) for r in current]
    one_host = plan(specs, _with_ids(fleet, ["one"] * len(fleet)), current)
    assert one_host == plan(specs, _with_ids(fleet, [""] * len(fleet)), current)


def test_a_repair_on_a_shared_host_without_ports_moves_what_it_would_on_hosts_of_their_own() -> None:
    """CI found this one: the repair that makes room for s0.4 (one per node) searched the
    replicas of the whole host when the nodes shared one, though no port tied them together,
    and moved one replica fewer than on separate hosts."""
    specs = [
        ServiceSpec("s0", "img", replicas=4, resources=ResourceSpec(reservations=Resources(0.1, 0)),
                    placement=Placement(max_replicas_per_node=1)),
        ServiceSpec("s1", "img", replicas=2, resources=ResourceSpec(reservations=Resources(0.5, 0))),
    ]
    fleet = [NodeInfo("n0", Resources(2, GiB))] + [NodeInfo(f"n{i}", Resources(0.5, GiB)) for i in (1, 2, 3)]
    apart = plan(specs, fleet, [])
    assert plan(specs, _with_ids(fleet, ["one"] * 4), []) == apart
    assert sorted(s.node for s in apart.starts if s.service == "s0") == ["n0", "n1", "n2", "n3"]


@PROPS
@given(st.integers(2, 6), st.integers(1, 40), st.data())
def test_nodes_of_one_host_never_get_the_same_host_port(size: int, replicas: int, data: st.DataObject) -> None:
    """Every replica on one host gets its own dynamic ports, wherever the planner puts it."""
    fleet = [NodeInfo(f"n{i}", Resources(4, 8 * GiB), host_id="one") for i in range(size)]
    ports = data.draw(st.sampled_from([(PortSpec(target=80),), (PortSpec(target=80), PortSpec(target=81)),
                                       (PortSpec(target=80), PortSpec(target=81, published=9000))]))
    spec = ServiceSpec("web", "img", replicas=replicas, ports=ports,
                       resources=ResourceSpec(reservations=Resources(0.1, 64 << 20)))
    p = plan([spec], fleet, [])
    held = [q for s in p.starts for q in s.ports]
    assert len(held) == len(set(held)), sorted(held)
    static = any(ps.published is not None for ps in ports)
    assert len(p.starts) == (1 if static else replicas)
    if static and replicas > 1:  # a static port fits once per host; the others say why
        others = f"{size - 1} {'shares' if size == 2 else 'share'} a host with {p.starts[0].node}"
        parts = ["1 with port 9000 in use", f"{others}, where port 9000 is in use"]
        expected = ", ".join(parts if size == 2 else reversed(parts))  # largest count first
        assert {u.reason for u in p.unschedulable} == {f"no node fits: {expected}"}


@PROPS
@given(nodes(), st.integers(0, 4), st.lists(st.tuples(st.lists(st.none() | st.integers(20000, 20005), min_size=1,
                                                               max_size=3), st.integers(1, 4)), min_size=1, max_size=4))
def test_static_ports_inside_the_dynamic_range_are_never_given_twice(
    fleet: list, top: int, layouts: list
) -> None:
    """Static host ports inside the dynamic range: no port given twice on a host, and the free
    dynamic count of each host is the range minus the ports held in it."""
    from tui_orch.placement import PlacementOptions

    lo, hi = 20000, 20000 + top
    placer = Placer(fleet, options=PlacementOptions(port_range=(lo, hi)))
    f: NodePool = placer.fleet
    hosts = same_host(fleet)
    started = []
    for k, (layout, count) in enumerate(layouts):
        ports = tuple(PortSpec(target=80 + j, published=q) for j, q in enumerate(layout))
        if len({q for q in layout if q is not None}) < sum(1 for q in layout if q is not None):
            continue  # a published port twice in one service is refused by the manifest reader
        spec = ServiceSpec(f"s{k}", "img", replicas=count, ports=ports)
        starts, failed = placer.place(Request.of(spec), list(range(1, count + 1)))
        started += starts
        for u in failed:  # a replica is refused only where there really is no room
            assert "out of dynamic ports" in u.reason or "in use" in u.reason or "not ready" in u.reason \
                or "cordoned" in u.reason or "draining" in u.reason, u.reason
    for name, group in hosts.items():
        held = [q for s in started if s.node in group for q in s.ports]
        assert len(held) == len(set(held)), f"port given twice on {name}'s host: {sorted(held)}"
        in_range = {q for q in held if lo <= q <= hi}
        assert f.dyn_free[f.index[name]] == (hi - lo + 1) - len(in_range), (name, sorted(held))


def test_a_static_port_in_the_dynamic_range_is_not_given_again_as_dynamic() -> None:
    one = [NodeInfo(name="n1", capacity=Resources(1, GiB))]
    web = ServiceSpec(name="web", image="x", ports=(PortSpec(80, 20000), PortSpec(81, None)))
    assert plan([web], one).starts[0].ports == (20000, 20001)
    from tui_orch.placement import PlacementOptions

    # One port in the range, taken by the static port: the dynamic one does not fit.
    p = plan([web], one, options=PlacementOptions(port_range=(20000, 20000)))
    assert not p.starts and "out of dynamic ports" in p.unschedulable[0].reason
    # Two free ports after a replica that holds one static port of the range.
    placer = Placer(one, options=PlacementOptions(port_range=(20000, 20002)))
    placer.place(Request.of(ServiceSpec("a", "x", ports=(PortSpec(80, 20001),))), [1])
    starts, failed = placer.place(Request.of(ServiceSpec("b", "x", ports=(PortSpec(80), PortSpec(81)))), [1])
    assert not failed and starts[0].ports == (20000, 20002)
