"""Service mounts on the lab (issue 12): a busybox "database" writes an id into its named volume
once; the id is still there after its container is killed and restarted and after a rolling
update to a new revision; the volume is on the replica's node with the Compose name and
tui-orch's labels; an absolute bind (its folder created) and tmpfs mounts are in the container;
a long-syntax bind of a missing path fails the start in one line."""

from __future__ import annotations

import asyncio

import pytest

from controller_support import controller, manifest, prefix
from nodes_support import direct_client, remove_volumes, wait_for
from tui_orch.controller.containers import LABEL_OWNER
from tui_orch.model import ReplicaState
from tui_orch.nodes.base import LABEL_VOLUME

pytestmark = pytest.mark.lab

NODE = "node2"
DB = """
name: {pre}
services:
  {pre}:
    image: tuiorch/busybox:1
    command: ["sh", "-c", "test -f /data/id || cat /proc/sys/kernel/random/uuid > /data/id; sleep 3600"]
    network_mode: host
    stop_grace_period: 1s
    environment: {{REV: "{rev}"}}
    volumes:
      - data:/data
      - {host}:/host
      - type: tmpfs
        target: /scratch
        tmpfs: {{size: 8m}}
    tmpfs: ["/run/x:size=4m"]
    deploy:
      restart_policy: {{condition: any, delay: 0.2s}}
      placement: {{constraints: ["node.id == {node}"]}}
{extra}
volumes:
  data: {{labels: {{team: db}}}}
"""
MISSING = """
  {pre}b:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    network_mode: host
    volumes: [{{type: bind, source: {missing}, target: /m}}]
"""


def lab_node(lab, name: str):
    return next(n for n in lab.nodes if n.name == name)


def run_in(lab, container_id: str, *cmd: str) -> str:
    client = direct_client(lab_node(lab, NODE))
    try:
        code, out = client.containers.get(container_id).exec_run(list(cmd))
        assert code == 0, out
        return out.decode()
    finally:
        client.close()


def inspect_volume(lab, name: str) -> dict:
    client = direct_client(lab_node(lab, NODE))
    try:
        return client.api.inspect_volume(name)
    finally:
        client.close()


async def test_a_named_volume_keeps_the_data_and_mounts_reach_the_container(lab, tmp_path) -> None:
    pre, host = prefix(), tmp_path / "host"
    missing = tmp_path / "nowhere"

    def db(rev: int, extra: str = ""):
        return manifest(DB.format(pre=pre, host=host, node=NODE, rev=rev, extra=extra))
    try:
        async with controller(lab, tmp_path / "state", pre) as (ctl, store, _fleet):
            await ctl.start()
            assert (await ctl.apply(db(1))).ok
            rep = store.get_replica(f"{pre}.1")
            assert rep.node == NODE
            first = run_in(lab, rep.container_id, "cat", "/data/id")
            # (c) the volume: on the replica's node, the Compose name, tui-orch's labels
            labels = inspect_volume(lab, f"{pre}_data")["Labels"]
            assert labels == {"team": "db", LABEL_VOLUME: "data", LABEL_OWNER: ctl.ctx.owner}
            # (d) the bind (its folder made by the engine) and both tmpfs mounts are in the container
            assert host.is_dir()
            mounts = {line.split()[1]: line.split()[2] for line in run_in(lab, rep.container_id, "cat",
                                                                          "/proc/mounts").splitlines()}
            assert mounts["/scratch"] == "tmpfs" and mounts["/run/x"] == "tmpfs" and "/host" in mounts
            # (a) killed, restarted by the controller: the same data
            client = direct_client(lab_node(lab, NODE))
            try:
                await asyncio.to_thread(client.api.kill, rep.container_id)
            finally:
                client.close()
            await wait_for(lambda: (now := store.get_replica(rep.key)) is not None and now.container_id != rep.container_id
                           and now.state == ReplicaState.RUNNING, timeout=10)
            again = store.get_replica(rep.key)
            assert run_in(lab, again.container_id, "cat", "/data/id") == first
            # (b) a rolling update to revision 2: the same data
            assert (await ctl.apply(db(2))).ok
            new = store.get_replica(rep.key)
            assert new.revision == 2 and new.container_id != again.container_id
            assert run_in(lab, new.container_id, "cat", "/data/id") == first
            # a long-syntax bind of a missing path: the start fails in one line
            await ctl.apply(db(2, MISSING.format(pre=pre, missing=missing)))
            failed = store.get_replica(f"{pre}b.1")
            assert failed.state == ReplicaState.EXITED and failed.message.endswith(
                f"the bind source {missing} does not exist on this node; create it there, or set "
                f"bind.create_host_path: true (or use the short syntax) to have it created"), failed.message
            assert not missing.exists()
    finally:
        remove_volumes(lab, f"{pre}_data")
