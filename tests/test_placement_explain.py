"""Why a replica sits on its node (placement/explain.py): the filters the node meets, in the
node's own values, its free resources without and with the replica, and the spread."""

from __future__ import annotations

from tui_orch.model import (Availability, Constraint, NodeInfo, Placement, ResourceSpec, Resources, ServiceSpec,
                            pairs)
from tui_orch.placement.explain import explain

GIB = 1 << 30
SPEC = ServiceSpec("web", "nginx", replicas=3, resources=ResourceSpec(reservations=Resources(1.0, GIB)),
                   placement=Placement(constraints=(Constraint("node.labels.disk", "==", "ssd"),),
                                       preferences=("spread=node.labels.zone",), max_replicas_per_node=2))


def node(name: str, zone: str, disk: str = "ssd", **kw) -> NodeInfo:  # type: ignore[no-untyped-def]
    return NodeInfo(name, Resources(4.0, 8 * GIB), Resources(0.5, GIB), pairs({"zone": zone, "disk": disk}), **kw)


NODES = [node("n1", "a"), node("n2", "a"), node("n3", "b"), node("n4", "b", disk="hdd"),
         node("n5", "c", availability=Availability.CORDONED)]


def test_the_filters_met_free_resources_and_spread() -> None:
    fit = explain(SPEC, NODES[0], Resources(1.5, 2 * GIB), {"n1": 2, "n3": 1}, NODES)
    assert fit.lines() == [
        "met  node Ready: Ready",
        "met  node active: active",
        "met  node.labels.disk==ssd: node.labels.disk is ssd",
        "met  max_replicas_per_node 2: 2 of the service here",
        "cpu: 2 of 3.5 free without it, 1 with it (it reserves 1)",
        "memory: 5 GiB of 7 GiB free without it, 4 GiB with it (it reserves 1 GiB)",
        "spread: 2 replica(s) of web here; 0-1 on each of the 2 other node(s) passing the filters",
        "spread over node.labels.zone: this node's is a; replicas per value: a: 2, b: 1",
        "rule: the filters, then the fewest replicas of the service (spread), then the best fit, then the first name",
    ]


def test_a_node_that_no_longer_passes_says_which_filter() -> None:
    fit = explain(SPEC, NODES[3], Resources(), {"n4": 3}, NODES)
    assert "NOT met  node.labels.disk==ssd: node.labels.disk is hdd" in fit.lines()
    assert "NOT met  max_replicas_per_node 2: 3 of the service here" in fit.lines()
    cordoned = explain(SPEC, NODES[4], Resources(), {}, NODES)
    assert cordoned.lines()[1] == "NOT met  node active: cordoned"
