"""Placement on nodes that share a host (same ``NodeInfo.host_id``): they share its host ports."""

from __future__ import annotations

from test_placement import GiB, MiB, node, svc
from tui_orch.model import PortSpec, Replica, ReplicaState
from tui_orch.placement import NodePool, PlacementOptions, Placer, place, plan, rebalance

HOST = "b00t-1d/net:4026531833"
WEB = dict(cpus=0.1, memory=32 * MiB, ports=(PortSpec(target=8080),))


def lab(*more: object, host: str = HOST) -> list:
    """Three nodes on one machine and one network namespace, as in the test lab."""
    return [node(f"node{k}", host_id=host) for k in (1, 2, 3)] + list(more)


def test_three_replicas_on_one_host_get_three_ports() -> None:
    p = plan([svc(replicas=3, **WEB)], lab(), [])
    assert sorted((s.node, s.ports) for s in p.starts) == [
        ("node1", (20000,)), ("node2", (20001,)), ("node3", (20002,))]
    assert not p.unschedulable
    assert p.notes == ("node1, node2, node3 share one host: a host port in use on one is in use on all",)


def test_without_a_shared_host_every_node_starts_at_the_same_port() -> None:
    for nodes in (lab(host=""), [node("node1", host_id="a"), node("node2", host_id="b"), node("node3")]):
        p = plan([svc(replicas=3, **WEB)], nodes, [])
        assert sorted((s.node, s.ports) for s in p.starts) == [
            ("node1", (20000,)), ("node2", (20000,)), ("node3", (20000,))]
        assert p.notes == ()


def test_a_port_held_on_one_node_is_held_on_its_whole_host() -> None:
    other = node("other")  # a host of its own: 20000 is free there
    held = Replica("db", 1, 1, "node1", ReplicaState.RUNNING, ports=(20000, 20001))
    p = plan([svc(replicas=4, cap=1, **WEB), svc("db", cpus=0, memory=0)], lab(other), [held])
    got = {s.node: s.ports for s in p.starts}
    assert got == {"node1": (20002,), "node2": (20003,), "node3": (20004,), "other": (20000,)}


def test_a_static_port_fits_once_per_host_and_says_where_it_is_used() -> None:
    p = plan([svc("dns", mode="global", cpus=0.1, memory=MiB, ports=(PortSpec(target=53, published=53),))],
             lab(node("solo")), [])
    assert sorted(s.node for s in p.starts) == ["node1", "solo"]
    assert [str(u) for u in p.unschedulable] == [
        "dns.node2: node2 shares a host with node1, where port 53 is in use",
        "dns.node3: node3 shares a host with node1, where port 53 is in use",
    ]
    p = plan([svc("api", replicas=3, cpus=0.1, memory=MiB, ports=(PortSpec(target=80, published=8080),))],
             lab(), [Replica("x", 1, 1, "node2", ReplicaState.STOPPING, ports=(8080,))])
    assert [str(u) for u in p.unschedulable] == [
        f"api.{k}: no node fits: 2 share a host with node2, where port 8080 is in use, 1 with port 8080 in use"
        for k in (1, 2, 3)]


def test_rounds_of_one_service_never_put_two_replicas_of_a_static_port_on_one_host() -> None:
    nodes = lab(node("a1", host_id="A"), node("a2", host_id="A"), node("solo"))
    p = plan([svc(replicas=6, cpus=0.1, memory=MiB, ports=(PortSpec(target=80, published=8080),))], nodes, [])
    assert sorted(s.node for s in p.starts) == ["a1", "node1", "solo"]  # one per host, first names
    assert len(p.unschedulable) == 3


def test_a_host_runs_out_of_dynamic_ports_as_a_whole() -> None:
    opts = PlacementOptions(port_range=(30000, 30002))
    p = plan([svc(replicas=5, **WEB)], lab(), [], options=opts)
    assert sorted(q for s in p.starts for q in s.ports) == [30000, 30001, 30002]
    assert {u.reason for u in p.unschedulable} == {"no node fits: 3 out of dynamic ports (30000-30002)"}


def test_a_port_is_free_again_only_when_no_node_of_the_host_holds_it() -> None:
    # Replicas placed before the host was known may hold one port on two of its nodes.
    twice = [Replica("old", k, 1, f"node{k}", ReplicaState.RUNNING, ports=(20000,)) for k in (1, 2)]
    placer = Placer(lab(), twice)
    placer.release(twice[0])
    starts, _ = placer.place(svc(replicas=1, **WEB), [1])
    assert starts[0].ports == (20001,)  # node2 still holds 20000
    placer.release(twice[1])
    starts, _ = placer.place(svc(replicas=1, **WEB), [2])
    assert starts[0].ports == (20000,)


def test_a_copy_keeps_the_host_shared_and_the_original_untouched() -> None:
    fleet = NodePool(lab(node("solo")))
    copy = fleet.copy()
    Placer(copy).place(svc(replicas=1, **WEB), [1])
    assert copy.ports[0] is copy.ports[1] is copy.ports[2] and copy.ports[3] is not copy.ports[0]
    assert copy.ports[0] == {20000} and fleet.ports[0] == set()
    assert list(copy.dyn_free[:3]) == [12000] * 3 and copy.dyn_free[3] == 12001


def test_a_start_first_replacement_gets_another_port_on_the_same_host() -> None:
    spec = svc(replicas=1, **WEB)
    old = Replica("web", 1, 1, "node1", ReplicaState.RUNNING, cpus=0.1, memory=32 * MiB, ports=(20000,))
    new = place(spec, [1], lab(), [old])
    assert new.starts[0].ports == (20001,)


def test_rebalance_moves_onto_a_shared_host_without_a_port_clash() -> None:
    heavy = dict(cpus=3, memory=GiB)
    current = [Replica("web", 1, 1, "node1", ReplicaState.RUNNING, cpus=0.1, memory=32 * MiB, ports=(20001,)),
               Replica("big", 1, 1, "node2", ReplicaState.RUNNING, **heavy),  # type: ignore[arg-type]
               Replica("db", 1, 1, "node3", ReplicaState.RUNNING, ports=(20000,), **heavy)]  # type: ignore[arg-type]
    specs = [svc(replicas=1, **WEB), svc("big", **heavy), svc("db", ports=(PortSpec(target=5432),), **heavy)]
    r = rebalance(specs, lab(), current)
    assert r.freed == ("node1",)
    assert [(s.node, s.ports) for s in r.plan.starts] == [("node2", (20001,))]  # 20000 is db's, on node3

