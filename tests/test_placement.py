"""Placement: best fit, spread, global mode, scaling, re-placement, reasons, ports, rebalance."""

from __future__ import annotations

import pytest

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
from tui_orch.placement import PlacementOptions, Placer, Plan, Start, place, plan, rebalance

GiB = 1 << 30
MiB = 1 << 20


def node(name: str, cpus: float = 4, memory: int = 8 * GiB, **kw: object) -> NodeInfo:
    labels = kw.pop("labels", {})
    return NodeInfo(name, Resources(cpus, memory), labels=pairs(labels), hostname=name, **kw)  # type: ignore[arg-type]


def svc(name: str = "web", replicas: int = 1, cpus: float = 1, memory: int = 1 * GiB, **kw: object) -> ServiceSpec:
    placement = Placement(
        constraints=tuple(kw.pop("constraints", ())),  # type: ignore[arg-type]
        preferences=tuple(kw.pop("preferences", ())),  # type: ignore[arg-type]
        max_replicas_per_node=int(kw.pop("cap", 0)),  # type: ignore[arg-type]
    )
    return ServiceSpec(
        name, "img", replicas=replicas, resources=ResourceSpec(reservations=Resources(cpus, memory)),
        placement=placement, **kw,  # type: ignore[arg-type]
    )


def running(start: Start, revision: int = 1) -> Replica:
    return Replica(start.service, start.slot, revision, start.node, ReplicaState.RUNNING,
                   cpus=start.cpus, memory=start.memory, ports=start.ports)


def applied(p: Plan, current: list[Replica] = ()) -> list[Replica]:  # type: ignore[assignment]
    """The replicas once ``p`` is carried out."""
    stopped = {(s.key, s.node) for s in p.stops}
    return [r for r in current if (r.key, r.node) not in stopped] + [running(s) for s in p.starts]


# --------------------------------------------------------------------------- best fit


def test_best_fit_prefers_the_fuller_node() -> None:
    nodes = [node("n1"), node("n2")]
    other = Replica("db", 1, 1, "n2", ReplicaState.RUNNING, cpus=2, memory=4 * GiB)
    p = plan([svc("web"), svc("db", cpus=2, memory=4 * GiB)], nodes, [other])
    assert [(s.key, s.node) for s in p.starts] == [("web.1", "n2")]
    assert p.keeps == ("db.1",)
    assert str(p.starts[0]) == "web.1 -> n2 (best fit: cpu 75%, mem 62% after)"


def test_ties_go_to_the_first_node_name_whatever_the_input_order() -> None:
    nodes = [node("b"), node("c"), node("a")]
    assert plan([svc()], nodes, []).starts[0].node == "a"
    assert plan([svc()], list(reversed(nodes)), []) == plan([svc()], nodes, [])


def test_alignment_breaks_near_ties_toward_the_complementary_node() -> None:
    # nA has half its memory used and no cpu; nB an eighth of its memory and half its cpu. By
    # BestFit-v3 alone a cpu-heavy replica goes to nB, making it cpu-heavier; the dot product
    # with the room left sends it to nA, whose free cpu it complements.
    nodes = [node("nA", 4, 16 * GiB), node("nB", 4, 16 * GiB)]
    current = [
        Replica("m", 1, 1, "nA", ReplicaState.RUNNING, cpus=0, memory=8 * GiB),
        Replica("c", 1, 1, "nB", ReplicaState.RUNNING, cpus=2, memory=2 * GiB),
    ]
    specs = [svc("m", cpus=0, memory=8 * GiB), svc("c", cpus=2, memory=2 * GiB), svc("x", cpus=1, memory=GiB)]
    assert plan(specs, nodes, current).starts[0].node == "nA"
    assert plan(specs, nodes, current, options=PlacementOptions(align_weight=0)).starts[0].node == "nB"


def test_replicas_spread_over_nodes_until_the_cluster_is_full() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    p = plan([svc(replicas=3)], nodes, [])
    assert sorted(s.node for s in p.starts) == ["n1", "n2", "n3"]
    p = plan([svc(replicas=5, cpus=2, memory=GiB)], nodes[:2], [])
    assert sorted(s.node for s in p.starts) == ["n1", "n1", "n2", "n2"]
    assert [u.key for u in p.unschedulable] == ["web.5"]


def test_spread_preference_balances_label_values() -> None:
    nodes = [node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}),
             node("a3", labels={"zone": "a"}), node("b1", labels={"zone": "b"})]
    p = plan([svc(replicas=4, cpus=0.5, memory=GiB, preferences=("node.labels.zone",))], nodes, [])
    zones = sorted(s.node[0] for s in p.starts)
    assert zones == ["a", "a", "b", "b"]
    assert sorted(s.node for s in p.starts if s.node.startswith("a")) == ["a1", "a2"]


def test_hot_node_is_scored_down_and_noted() -> None:
    nodes = [node("n1", cpu_used=0.95, memory_used=0.2), node("n2")]
    busy = Replica("db", 1, 1, "n1", ReplicaState.RUNNING, cpus=2, memory=4 * GiB)
    p = plan([svc("web"), svc("db", cpus=2, memory=4 * GiB)], nodes, [busy])
    assert p.starts[0].node == "n2"  # the fuller n1 would be the best fit, but it runs hot
    assert p.notes == ("n1 runs hot (cpu 95%, mem 20% measured, above 85%): scored down by 10",)
    assert plan([svc("db", cpus=2, memory=4 * GiB)], nodes, [busy]).notes == ()  # nothing to place


# --------------------------------------------------------------------------- what is kept, stopped, started


def test_a_satisfied_state_gives_no_moves() -> None:
    nodes = [node("n1"), node("n2")]
    specs = [svc(replicas=3, ports=(PortSpec(target=80),)), svc("agent", mode="global", cpus=0.1, memory=64 * MiB)]
    first = plan(specs, nodes, [])
    again = plan(specs, nodes, applied(first))
    assert again.empty and again.moves == () and again.unschedulable == ()
    assert again.keeps == ("agent.n1", "agent.n2", "web.1", "web.2", "web.3")
    assert again.describe() == "0 to start, 0 to stop, 5 kept"


def test_scale_down_stops_the_highest_slots_and_scale_up_fills_the_lowest_free() -> None:
    nodes = [node("n1"), node("n2")]
    current = applied(plan([svc(replicas=4)], nodes, []))
    p = plan([svc(replicas=2)], nodes, current)
    assert [s.key for s in p.stops] == ["web.3", "web.4"]
    assert p.starts == () and p.keeps == ("web.1", "web.2")
    assert p.stops[0].reason == "scale down to 2"
    gap = [r for r in current if r.slot != 2]
    p = plan([svc(replicas=4)], nodes, gap)
    assert [s.key for s in p.starts] == ["web.2"]


def test_scale_down_drops_replicas_on_lost_nodes_first() -> None:
    nodes = [node("n1"), node("n2"), node("n3", state=NodeState.NOT_READY)]
    current = [Replica("web", k, 1, n, ReplicaState.RUNNING, cpus=1, memory=GiB)
               for k, n in ((1, "n3"), (2, "n1"), (3, "n2"))]
    p = plan([svc(replicas=2)], nodes, current)
    assert [(s.key, s.reason) for s in p.stops] == [("web.1", "scale down to 2")]
    assert p.starts == ()


def test_replicas_on_a_not_ready_node_are_placed_elsewhere() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    current = applied(plan([svc(replicas=3)], nodes, []))
    lost = next(r for r in current if r.node == "n2")
    nodes[1] = node("n2", state=NodeState.NOT_READY)
    p = plan([svc(replicas=3)], nodes, current)
    assert [(s.key, s.node, s.reason) for s in p.stops] == [(lost.key, "n2", "n2 is NotReady")]
    assert [s.key for s in p.starts] == [lost.key] and p.starts[0].node != "n2"
    assert p.starts[0].reason.startswith(f"replaces {lost.key} on n2 (n2 is NotReady); best fit: ")


def test_draining_moves_replicas_and_cordoned_keeps_them_but_gets_nothing_new() -> None:
    nodes = [node("n1"), node("n2"), node("n3")]
    current = applied(plan([svc(replicas=3)], nodes, []))
    nodes = [node("n1", availability=Availability.CORDONED), node("n2", availability=Availability.DRAINING), node("n3")]
    p = plan([svc(replicas=4)], nodes, current)
    on = {r.node: r.key for r in current}
    assert [(s.key, s.reason) for s in p.stops] == [(on["n2"], "n2 is draining")]
    assert {s.node for s in p.starts} == {"n3"} and len(p.starts) == 2
    assert on["n1"] in p.keeps


def test_services_no_longer_desired_and_lost_replicas() -> None:
    nodes = [node("n1"), node("n2")]
    old = Replica("old", 1, 3, "n1", ReplicaState.RUNNING, cpus=1, memory=GiB)
    lost = Replica("web", 1, 1, "n1", ReplicaState.LOST, cpus=1, memory=GiB)
    gone = Replica("web", 2, 1, "n9", ReplicaState.RUNNING, cpus=1, memory=GiB)
    stopped = Replica("web", 3, 1, "n1", ReplicaState.STOPPED)
    p = plan([svc(replicas=2)], nodes, [old, lost, gone, stopped])
    assert [(s.key, s.reason, s.revision) for s in p.stops] == [
        ("old.1", "service old is no longer deployed", 3),
        ("web.1", "lost on n1", 1),
        ("web.2", "node n9 is gone", 1),
    ]
    assert [s.key for s in p.starts] == ["web.1", "web.2"]


def test_old_revisions_are_kept_and_replace_plans_a_rollout_step() -> None:
    nodes = [node("n1", cpus=2, memory=2 * GiB), node("n2", cpus=2, memory=2 * GiB)]
    current = [Replica("web", 1, 1, "n1", ReplicaState.RUNNING, cpus=2, memory=2 * GiB)]
    spec = svc(replicas=1, cpus=2, memory=2 * GiB)
    assert plan([spec], nodes, current).empty
    stop_first = plan([spec], nodes, current, replace=["web.1"])
    assert [(s.key, s.node, s.reason) for s in stop_first.stops] == [("web.1", "n1", "replaced (stop-first)")]
    assert stop_first.starts[0].node == "n1"  # its room is free again
    start_first = plan([spec], nodes, current, replace=["web.1"], replace_order="start-first")
    assert start_first.starts[0].node == "n2"  # the old one still holds n1
    assert start_first.stops[0].reason == "replaced (start-first)"
    assert place(spec, [1], nodes, current).starts[0].node == "n2"
    assert place(spec, [1], nodes, []).starts[0].node == "n1"


def test_stopping_replicas_hold_their_ports_but_do_not_count() -> None:
    nodes = [node("n1")]
    spec = svc(ports=(PortSpec(target=80, published=8080),))
    stopping = Replica("web", 1, 1, "n1", ReplicaState.STOPPING, cpus=1, memory=GiB, ports=(8080,))
    p = plan([spec], nodes, [stopping])
    assert p.starts == () and str(p.unschedulable[0]) == "web.1: no node fits: 1 with port 8080 in use"


def test_global_mode_one_replica_per_eligible_node() -> None:
    nodes = [node("n1"), node("n2", availability=Availability.CORDONED), node("n3", labels={"role": "edge"}),
             node("n4", state=NodeState.UNREACHABLE), node("n5", cpus=0.05)]
    agent = svc("agent", mode="global", cpus=0.1, memory=64 * MiB,
                constraints=(Constraint("node.labels.role", "!=", "db"),))
    p = plan([agent], nodes, [])
    assert [(s.key, s.slot) for s in p.starts] == [("agent.n1", 0), ("agent.n3", 0)]
    assert [str(u) for u in p.unschedulable] == ["agent.n5: n5 lacks cpu (free 0.05 < 0.1 cpus)"]
    current = applied(p) + [Replica("agent", 0, 1, "n2", ReplicaState.RUNNING, cpus=0.1, memory=64 * MiB),
                            Replica("agent", 0, 1, "n4", ReplicaState.RUNNING, cpus=0.1, memory=64 * MiB)]
    again = plan([agent], nodes, current)
    assert again.starts == ()
    assert [(s.key, s.reason) for s in again.stops] == [("agent.n4", "n4 is Unreachable")]
    assert again.keeps == ("agent.n1", "agent.n2", "agent.n3")


# --------------------------------------------------------------------------- ports


def test_dynamic_ports_are_distinct_per_node_and_in_range() -> None:
    spec = svc(replicas=6, cpus=0.1, memory=MiB, ports=(PortSpec(target=80), PortSpec(target=81)))
    x = svc("x", cpus=0, memory=0, ports=(PortSpec(target=80),))
    p = plan([spec, x], [node("n1"), node("n2")], [Replica("x", 1, 1, "n1", ReplicaState.RUNNING, ports=(20000,))])
    assert not p.unschedulable and p.keeps == ("x.1",)
    for n in ("n1", "n2"):
        held = [q for s in p.starts if s.node == n for q in s.ports]
        assert len(held) == len(set(held)) == 6
        assert all(20000 <= q <= 32000 for q in held)
    assert 20000 not in [q for s in p.starts if s.node == "n1" for q in s.ports]
    mixed = svc("api", cpus=0.1, memory=MiB, ports=(PortSpec(target=80), PortSpec(target=81, published=9000),
                                                     PortSpec(target=82)))
    assert plan([mixed], [node("n1")], []).starts[0].ports == (20000, 9000, 20001)  # in the service's order


def test_static_port_conflict_and_port_range_exhaustion() -> None:
    spec = svc(replicas=2, cpus=0.1, memory=MiB, ports=(PortSpec(target=80, published=8080),))
    p = plan([spec], [node("n1")], [])
    assert [str(u) for u in p.unschedulable] == ["web.2: no node fits: 1 with port 8080 in use"]
    dyn = svc(replicas=3, cpus=0.1, memory=MiB, ports=(PortSpec(target=80),))
    p = plan([dyn], [node("n1")], [], options=PlacementOptions(port_range=(30000, 30001)))
    assert [s.ports for s in p.starts] == [(30000,), (30001,)]
    assert str(p.unschedulable[0]) == "web.3: no node fits: 1 out of dynamic ports (30000-30001)"


# --------------------------------------------------------------------------- unschedulable reasons


def test_reason_example_from_the_issue() -> None:
    nodes = [
        node("n1", labels={"disk": "ssd"}, reserved=Resources(0, 8 * GiB - int(1.2 * GiB))),
        node("n2", labels={"disk": "ssd"}, reserved=Resources(0, 7 * GiB)),
        node("n3", labels={"disk": "hdd"}),
    ]
    web = svc(replicas=3, memory=2 * GiB, constraints=(Constraint("node.labels.disk", "==", "ssd"),))
    p = place(web, [3], nodes, [])
    assert [str(u) for u in p.unschedulable] == [
        "web.3: no node fits: 2 lack memory (largest free 1.2 GiB < 2 GiB), 1 fails node.labels.disk==ssd"
    ]


@pytest.mark.parametrize(
    ("nodes", "kw", "current", "reason"),
    [
        ([node("n1", state=NodeState.NOT_READY)], {}, [], "1 not ready"),
        ([node("n1", state=NodeState.UNREACHABLE), node("n2", state=NodeState.NO_DOCKER)], {}, [], "2 not ready"),
        ([node("n1", availability=Availability.CORDONED)], {}, [], "1 cordoned"),
        ([node("n1", availability=Availability.DRAINING)], {}, [], "1 draining"),
        ([node("n1")], {"constraints": (Constraint("node.hostname", "==", "n2"),)}, [], "1 fails node.hostname==n2"),
        ([node("n1", labels={"zone": "a"}), node("n2", labels={"zone": "a"})],
         {"constraints": (Constraint("node.labels.zone", "!=", "a"),)}, [], "2 fail node.labels.zone!=a"),
        ([node("n1")], {"cap": 1}, [Replica("web", 1, 1, "n1", ReplicaState.RUNNING)], "1 at max_replicas_per_node 1"),
        ([node("n1")], {"ports": (PortSpec(target=80, published=8080),)},
         [Replica("x", 1, 1, "n1", ReplicaState.RUNNING, ports=(8080,))], "1 with port 8080 in use"),
        ([node("n1", cpus=0.5)], {}, [], "1 lacks cpu (largest free 0.5 < 1 cpus)"),
        ([node("n1", cpus=0.5), node("n2", cpus=0.25)], {}, [], "2 lack cpu (largest free 0.5 < 1 cpus)"),
        ([node("n1", memory=512 * MiB)], {}, [], "1 lacks memory (largest free 512 MiB < 1 GiB)"),
        ([], {}, [], "there are no nodes"),
        ([node("n1", state=NodeState.NOT_READY), node("n2", availability=Availability.CORDONED),
          node("n3", cpus=0.5), node("n4", memory=GiB // 2), node("n5", memory=GiB // 4)], {}, [],
         "2 lack memory (largest free 512 MiB < 1 GiB), 1 not ready, 1 cordoned, "
         "1 lacks cpu (largest free 0.5 < 1 cpus)"),
    ],
)
def test_unschedulable_reason_per_filter(nodes: list[NodeInfo], kw: dict, current: list[Replica], reason: str) -> None:
    p = place(svc(replicas=2, **kw), [2], nodes, current)
    assert p.starts == ()
    assert [str(u) for u in p.unschedulable] == [f"web.2: no node fits: {reason}"]


def test_max_replicas_per_node_is_a_hard_cap() -> None:
    p = plan([svc(replicas=3, cpus=0.1, memory=MiB, cap=2)], [node("n1")], [])
    assert [s.key for s in p.starts] == ["web.1", "web.2"]
    assert [str(u) for u in p.unschedulable] == ["web.3: no node fits: 1 at max_replicas_per_node 2"]


# --------------------------------------------------------------------------- batches, rebalance, describe


def test_batch_places_complementary_replicas_together() -> None:
    nodes = [node(f"n{i}", cpus=4, memory=16 * GiB) for i in range(6)]
    cpu_heavy = [svc(f"c{i}", cpus=1.5, memory=GiB) for i in range(4)]
    mem_heavy = [svc(f"m{i}", cpus=0.5, memory=6 * GiB) for i in range(4)]
    p = plan(cpu_heavy + mem_heavy, nodes, [])
    assert len(p.nodes_used) == 2 and not p.unschedulable


def test_a_second_ordering_is_kept_when_it_packs_better() -> None:
    sizes = [(2, 1), (1.5, 8), (2, 6), (1.5, 6), (1.5, 8), (1, 8), (1, 4)]
    specs = [svc(f"s{i}", cpus=c, memory=m * GiB) for i, (c, m) in enumerate(sizes)]
    nodes = [node(f"n{i}", cpus=4, memory=16 * GiB) for i in range(7)]
    p = plan(specs, nodes, [])
    assert len(p.nodes_used) == 3 and p.notes == ("placed bin by bin: 3 nodes in use instead of 4",)
    single = plan(specs, nodes, [], options=PlacementOptions(retry_limit=0))
    assert len(single.nodes_used) == 4 and single.notes == ()


def test_place_global_replicas_on_given_nodes() -> None:
    agent = svc("agent", mode="global", cpus=0.5, memory=GiB)
    p = place(agent, [], [node("n1"), node("n2", cpus=0.25)], [], on=["n1", "n2"])
    assert [str(s) for s in p.starts] == ["agent.n1 -> n1 (global: cpu 12%, mem 12% after)"]
    assert [str(u) for u in p.unschedulable] == ["agent.n2: n2 lacks cpu (free 0.25 < 0.5 cpus)"]


def test_place_on_given_nodes_checks_their_state_and_the_constraints() -> None:
    """The rollout path of a global service: a node cordoned or down since, or that the new
    revision's constraints exclude, does not get the replica."""
    agent = svc("agent", mode="global", cpus=0.5, memory=GiB, constraints=[Constraint("node.labels.disk", "==", "ssd")])
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "hdd"}),
             node("n3", labels={"disk": "ssd"}, availability=Availability.CORDONED),
             node("n4", labels={"disk": "ssd"}, availability=Availability.DRAINING),
             node("n5", labels={"disk": "ssd"}, state=NodeState.UNREACHABLE)]
    p = place(agent, [], nodes, [], on=["n1", "n2", "n3", "n4", "n5"])
    assert [s.node for s in p.starts] == ["n1"]
    assert [str(u) for u in p.unschedulable] == [
        "agent.n2: n2 fails node.labels.disk==ssd",
        "agent.n3: n3 is cordoned",
        "agent.n4: n4 is draining",
        "agent.n5: n5 is not ready (Unreachable)",
    ]


def test_rebalance_reports_the_nodes_it_frees() -> None:
    nodes = [node("n1"), node("n2"), node("n3"), node("n4", availability=Availability.CORDONED)]
    specs = [svc("a"), svc("b"), svc("c"), svc("d")]
    current = [Replica(s, 1, 1, n, ReplicaState.RUNNING, cpus=1, memory=GiB)
               for s, n in (("a", "n1"), ("b", "n2"), ("c", "n3"), ("d", "n4"))]
    assert plan(specs, nodes, current).empty  # plan never moves to pack better
    r = rebalance(specs, nodes, current)
    assert (r.nodes_before, r.nodes_after, r.frees, r.freed) == (4, 2, 2, ("n1", "n3"))
    # a.1 goes to n2 (the first of equals), which then keeps what it took; c.1 joins it.
    assert [(s.key, s.node) for s in r.plan.stops] == [("a.1", "n1"), ("c.1", "n3")]
    assert {s.node for s in r.plan.starts} == {"n2"}
    assert r.plan.keeps == ("b.1", "d.1")
    assert r.describe().startswith("rebalance frees 2 node(s) (4 -> 2 in use): n1, n3\n")
    assert rebalance(specs, nodes, applied(r.plan, current)).frees == 0


def test_describe_lists_every_move() -> None:
    nodes = [node("n1", state=NodeState.NOT_READY), node("n2")]
    current = [Replica("web", 1, 1, "n1", ReplicaState.RUNNING, cpus=1, memory=GiB)]
    p = plan([svc(replicas=2, memory=5 * GiB)], nodes, current)
    assert p.describe() == (
        "1 to start, 1 to stop, 0 kept, 1 unschedulable\n"
        "web.1 stop on n1 (n1 is NotReady)\n"
        "web.1 -> n2 (replaces web.1 on n1 (n1 is NotReady); best fit: cpu 25%, mem 62% after)\n"
        "web.2: no node fits: 1 not ready, 1 lacks memory (largest free 3 GiB < 5 GiB)"
    )


def test_placer_is_incremental() -> None:
    placer = Placer([node("n1"), node("n2")])
    first, _ = placer.place(svc(), [1])
    second, _ = placer.place(svc(), [2])
    assert (first[0].node, second[0].node) == ("n1", "n2")
    _, failed = placer.place(svc(cpus=4), [3, 4])
    assert [u.key for u in failed] == ["web.3", "web.4"]


def test_ports_bound_on_a_node_are_never_handed_out():
    """Ports bound by anything on a node (NodeInfo.ports_in_use, read by the controller) are
    taken: the replica gets the next free one, and a replica released there does not free them."""
    svc = ServiceSpec(name="web", image="x", ports=(PortSpec(80, None),))
    node = NodeInfo(name="n1", capacity=Resources(1, 1 << 30), ports_in_use=frozenset({20000, 20001}))
    assert plan([svc], [node]).starts[0].ports == (20002,)
    lost = Replica("web", 1, 1, "n1", ReplicaState.LOST, ports=(20000,))
    p = plan([svc], [node], [lost])  # still runs out of reach, holding 20000
    assert [s.ports for s in p.starts] == [(20002,)]


def test_replicas_of_an_ingress_port_share_a_node_on_dynamic_ports() -> None:
    """``"8080:80"`` is served by the edge proxy of every node: each replica binds only a
    dynamic host port, so three fit on one node (in mode host, one per node per port)."""
    from tui_orch.manifest import parse_manifest

    manifest = parse_manifest('services:\n  web:\n    image: nginx\n    ports: ["8080:80"]\n'
                              "    deploy: {replicas: 3, resources: {reservations: {cpus: '0.1', memory: 8m}}}\n",
                              "web.yaml", environ={})
    p = plan(list(manifest.services), [node("n1")], [])
    assert not p.unschedulable
    assert sorted((s.node, s.ports) for s in p.starts) == [("n1", (20000,)), ("n1", (20001,)), ("n1", (20002,))]
    assert p.notes == ("web answers on 8080 (every node) -> 80/tcp through the edge proxy; its replicas bind "
                       "dynamic host ports",)
