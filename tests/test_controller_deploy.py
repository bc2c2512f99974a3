"""Deploys on the lab: two services x 3 replicas across the 3 nodes, found running where
the plan said; re-apply unchanged moves nothing; scale down and up; rm; dry run acts on
nothing."""

from __future__ import annotations

from controller_support import controller, manifest, owned, prefix
from tui_orch.model import ReplicaState
from tui_orch.nodes.base import LABEL_REPLICA

WEB = """
services:
  {name}:
    image: tuiorch/busybox:1
    # each binds its address on the lab network (10.77.0.N+1)
    command: ["sh", "-c", "n=$${{TUI_ORCH_NODE#node}}; exec httpd -f -p 10.77.0.$$((n+1)):$$PORT -h /"]
    network_mode: host
    ports:
      - target: 8080
    stop_grace_period: 1s
    deploy:
      replicas: 3
      resources:
        reservations: {{cpus: "0.1", memory: 16m}}
        limits: {{cpus: "0.5", memory: 64m}}
      placement:
        max_replicas_per_node: 1
"""


def two_services(pre: str):
    return manifest(WEB.format(name=f"{pre}a") + WEB.format(name=f"{pre}b").split("services:", 1)[1])


def running_keys(lab, pre: str) -> dict[str, set[str]]:
    return {node: {c["Labels"][LABEL_REPLICA] for c in found if c["State"] == "running"}
            for node, found in owned(lab, pre).items()}


async def test_deploy_rescale_remove(lab, tmp_path):
    pre = prefix()
    m = two_services(pre)
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        dry = await ctl.apply(m, dry_run=True)
        assert dry.dry_run and "6 to start" in dry.plan, dry.plan
        assert store.services() == [] and store.replicas() == []
        assert all(not found for found in owned(lab, pre).values())

        result = await ctl.apply(m)
        assert result.ok, result
        assert sorted(result.started) == sorted(f"{pre}{s}.{i}" for s in "ab" for i in (1, 2, 3))
        assert result.revisions == {f"{pre}a": 1, f"{pre}b": 1}
        reps = store.replicas()
        assert len(reps) == 6 and all(r.state == ReplicaState.RUNNING for r in reps)
        where = running_keys(lab, pre)
        for r in reps:  # each replica runs on the node the plan (and the store) says
            assert r.key in where[r.node], (r, where)
        assert all(len(keys) == 2 for keys in where.values())  # spread: one of each service per node
        assert all(r.ports and 20000 <= r.ports[0] <= 32000 for r in reps)
        ids = {r.key: r.container_id for r in reps}

        again = await ctl.apply(m)
        assert again.unchanged == [f"{pre}a", f"{pre}b"] and not again.started and not again.stopped
        assert {r.key: r.container_id for r in store.replicas()} == ids

        down = await ctl.scale(f"{pre}a", 1)
        assert sorted(down.stopped) == [f"{pre}a.2", f"{pre}a.3"]
        assert sum(len(k) for k in running_keys(lab, pre).values()) == 4
        up = await ctl.scale(f"{pre}a", 3)
        assert up.ok and sorted(up.started) == [f"{pre}a.2", f"{pre}a.3"]
        assert store.get_replica(f"{pre}a.1").container_id == ids[f"{pre}a.1"]  # untouched
        assert store.get_replica(f"{pre}b.1").container_id == ids[f"{pre}b.1"]

        removed = await ctl.remove(f"{pre}a")
        assert len(removed.stopped) == 3
        assert store.get_service(f"{pre}a") is None and store.replicas(f"{pre}a") == []
        left = running_keys(lab, pre)
        assert all(not k.startswith(f"{pre}a.") for keys in left.values() for k in keys)
        assert sum(len(k) for k in left.values()) == 3
        kinds = {e.kind for e in store.events()}
        assert {"deploy", "start", "stop", "scale", "remove"} <= kinds
