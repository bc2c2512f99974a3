"""Placement with homes: a replica whose named volume holds data on a node is placed only there,
and waits (not stopped, not started elsewhere) while that node is away."""

from __future__ import annotations

import dataclasses

from tui_orch.model import Availability, Mount, NodeState, Replica, ReplicaState, ServiceSpec, VolumeSpec
from tui_orch.placement import place, plan, rebalance
from tui_orch.placement.homes import pinning_volumes

from tests.test_placement import GiB, node, svc

DATA = VolumeSpec("data", "shop_data")


def db(replicas: int = 1, *volumes: VolumeSpec) -> ServiceSpec:
    vols = volumes or (DATA,)
    return dataclasses.replace(svc("db", replicas), mounts=tuple(Mount("volume", f"/v/{v.key}", v.key) for v in vols),
                               volumes=vols)


def rep(slot: int, node_name: str, state: ReplicaState = ReplicaState.RUNNING) -> Replica:
    return Replica("db", slot, 1, node_name, state, cpus=1, memory=GiB)


def test_a_homed_replica_is_placed_on_its_home_not_the_best_fit() -> None:
    nodes = [node("n1"), node("n2", cpus=64, memory=64 * GiB)]
    p = plan([db()], nodes, homes={"db.1": "n2"})
    assert [(s.key, s.node) for s in p.starts] == [("db.1", "n2")]
    assert "its data is on n2" in p.describe()
    assert plan([db()], nodes).starts[0].node == "n1"  # without the home: best fit elsewhere


def test_a_replica_whose_home_is_lost_waits_and_is_not_stopped_or_started_elsewhere() -> None:
    nodes = [node("n1"), node("n2", state=NodeState.UNREACHABLE)]
    p = plan([db()], nodes, [rep(1, "n2", ReplicaState.LOST)], homes={"db.1": "n2"})
    assert p.starts == () and p.stops == ()
    assert [u.key for u in p.unschedulable] == ["db.1"]
    assert ("db.1: waits for n2 (n2 is Unreachable): its volume shop_data holds data there "
            "(move it: tui-orch volume move db NODE)") in p.describe()
    # without the home it is started empty elsewhere (what Swarm does)
    moved = plan([db()], nodes, [rep(1, "n2", ReplicaState.LOST)])
    assert [s.node for s in moved.starts] == ["n1"] and len(moved.stops) == 1


def test_a_homed_replica_of_a_draining_node_waits() -> None:
    nodes = [node("n1"), node("n2", availability=Availability.DRAINING)]
    p = plan([db()], nodes, [rep(1, "n2")], homes={"db.1": "n2"})
    assert p.empty and "waits for n2 (n2 is draining)" in p.describe()


def test_back_home_the_lost_replica_is_started_there_again() -> None:
    nodes = [node("n1"), node("n2")]
    p = plan([db()], nodes, [rep(1, "n2", ReplicaState.LOST)], homes={"db.1": "n2"})
    assert [(s.key, s.node) for s in p.starts] == [("db.1", "n2")]
    assert [s.node for s in p.stops] == ["n2"]


def test_scale_up_again_places_each_slot_on_its_home_or_lets_it_wait() -> None:
    nodes = [node("n1"), node("n2"), node("n3", state=NodeState.NOT_READY)]
    homes = {"db.1": "n1", "db.2": "n1", "db.3": "n3"}
    p = plan([db(4)], nodes, [rep(1, "n1")], homes=homes)
    assert sorted((s.key, s.node) for s in p.starts) == [("db.2", "n1"), ("db.4", "n2")]
    assert [u.key for u in p.unschedulable] == ["db.3"]


def test_a_homed_replica_that_does_not_fit_its_home_is_not_placed_elsewhere() -> None:
    nodes = [node("n1", cpus=0.5), node("n2")]
    p = plan([db()], nodes, homes={"db.1": "n1"})
    assert p.starts == () and [u.key for u in p.unschedulable] == ["db.1"]


def test_place_for_a_rollout_or_a_reschedule_keeps_the_home() -> None:
    nodes = [node("n1"), node("n2", cpus=64, memory=64 * GiB)]
    assert [s.node for s in place(db(), [1], nodes, homes={"db.1": "n1"}).starts] == ["n1"]
    others = [n for n in nodes if n.name != "n1"]  # a reschedule leaves the failed replica's node out
    p = place(db(), [1], others, homes={"db.1": "n1"})
    assert p.starts == () and "waits for n1 (n1 is gone)" in str(p.unschedulable[0])


def test_which_volumes_pin() -> None:
    nfs = VolumeSpec("nfs", "shop_nfs", driver_opts=(("type", "nfs"),))
    plugin = VolumeSpec("cloud", "shop_cloud", driver="rexray")
    ext = VolumeSpec("ext", "olddata", external=True)
    assert pinning_volumes(db(1, DATA, nfs, plugin, ext)) == ("shop_data", "olddata")
    anonymous = dataclasses.replace(svc("db"), mounts=(Mount("volume", "/tmp/x"),))
    assert pinning_volumes(anonymous) == ()


def test_rebalance_leaves_a_node_holding_a_replicas_data_alone() -> None:
    nodes = [node("n1"), node("n2")]
    current = [rep(1, "n1"), Replica("web", 1, 1, "n2", ReplicaState.RUNNING, cpus=1, memory=GiB)]
    specs = [db(), svc("web")]
    assert rebalance(specs, nodes, current).freed == ("n1",)  # db would move
    pinned = rebalance(specs, nodes, current, homes={"db.1": "n1"})
    assert pinned.freed == ("n2",) and [s.key for s in pinned.plan.stops] == ["web.1"]
