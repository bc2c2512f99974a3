"""Data stays where it is, on the lab: a replica with a named volume whose node is cut off (its
sshd killed) past the grace period waits for it (not started empty on another node: a replica
without a volume is), and once the node is back it runs there again; after a power loss of its
node it runs there again with the data it wrote."""

from __future__ import annotations

import time

from controller_support import controller, manifest, owned, prefix
from nodes_support import direct_client, remove_volumes, wait_for
from tui_orch.model import NodeState, ReplicaState

STACK = """
volumes:
  data: {{}}
services:
  {pre}db:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    volumes: [data:/data]
"""


async def test_a_replica_waits_for_the_node_of_its_data_and_runs_there_when_it_is_back(lab, tmp_path):
    pre = prefix()
    volumes: list[str] = []
    try:
        async with controller(lab, tmp_path / "state", pre, grace=2.0, period=1.0) as (ctl, store, fleet):
            m = manifest(STACK.format(pre=pre))
            volumes = [v.name for v in m.volumes]
            result = await ctl.apply(m)
            assert result.ok, result
            await ctl.start()
            db = store.get_replica(f"{pre}db.1")
            assert [h.node for h in store.volume_homes(f"{pre}db")] == [db.node]
            since = time.time()
            lab.kill_sshd(db.node)
            try:
                await wait_for(lambda: store.get_replica(db.key).state == ReplicaState.LOST, timeout=30, interval=0.1)
                await ctl.reconciler.full_pass()  # one more pass: nothing is started elsewhere
                rec = store.get_replica(db.key)
                assert (rec.node, rec.message) == (db.node, f"waiting for {db.node} (its data)")
                elsewhere = {n: [c for c in found if c["State"] == "running"]
                             for n, found in owned(lab, pre).items() if n != db.node}
                assert elsewhere == {n: [] for n in elsewhere}
                lost = [e for e in store.events(service=f"{pre}db") if e.kind == "lost" and e.time >= since]
                assert len(lost) == 1 and lost[0].level == "warning" and "waits for" in lost[0].message
            finally:
                lab.start_sshd(db.node)
            node = fleet[db.node]
            await node.reconnect()
            await node.wait_state(NodeState.READY, timeout=60)

            def back() -> bool:
                rep = store.get_replica(db.key)
                return rep is not None and rep.node == db.node and rep.state == ReplicaState.RUNNING

            await wait_for(back, timeout=30, interval=0.2)
            # its container ran on through the cut (sshd only): kept, not restarted
            assert store.get_replica(db.key).container_id == db.container_id
            running = {n: sum(1 for c in found if c["State"] == "running") for n, found in owned(lab, pre).items()}
            assert running[db.node] == 1 and sum(running.values()) == 1, running
    finally:
        remove_volumes(lab, *volumes)


def read_id(lab, node: str, container_id: str) -> str:
    client = direct_client(next(n for n in lab.nodes if n.name == node))
    try:
        code, out = client.containers.get(container_id).exec_run(["cat", "/data/id"])
        return out.decode() if code == 0 else ""  # "" until the replica wrote it
    finally:
        client.close()


async def test_a_database_keeps_its_data_across_a_restart_of_its_node(lab, tmp_path):
    """A power loss of the node (engine, containerd, sshd and the containers killed): the
    replica waits for it, and once the node is started again it runs there with the data it
    wrote before (issue 12: "keeps its data across ... a node restart")."""
    pre = prefix()
    m = manifest(STACK.format(pre=pre).replace(
        '["sleep", "3600"]', '["sh", "-c", "test -f /data/id || cat /proc/sys/kernel/random/uuid > /data/id; sleep 3600"]'))
    try:
        async with controller(lab, tmp_path / "state", pre, grace=2.0, period=1.0) as (ctl, store, fleet):
            assert (await ctl.apply(m)).ok
            await ctl.start()
            db = store.get_replica(f"{pre}db.1")
            await wait_for(lambda: read_id(lab, db.node, db.container_id) != "", timeout=10)
            first = read_id(lab, db.node, db.container_id)
            assert len(first) > 30
            lab.kill_node(db.node)
            try:
                await wait_for(lambda: store.get_replica(db.key).state == ReplicaState.LOST, timeout=30, interval=0.1)
                await ctl.reconciler.full_pass()
                assert store.get_replica(db.key).message == f"waiting for {db.node} (its data)"
            finally:
                lab.start_node(db.node)
            node = fleet[db.node]
            await node.reconnect()
            await node.wait_state(NodeState.READY, timeout=60)

            def back() -> bool:
                rep = store.get_replica(db.key)
                return rep is not None and rep.node == db.node and rep.state == ReplicaState.RUNNING

            await wait_for(back, timeout=45, interval=0.2)
            now = store.get_replica(db.key)
            assert read_id(lab, now.node, now.container_id) == first
            running = {n: sum(1 for c in found if c["State"] == "running") for n, found in owned(lab, pre).items()}
            assert running[db.node] == 1 and sum(running.values()) == 1, running
    finally:
        remove_volumes(lab, *(v.name for v in m.volumes))
