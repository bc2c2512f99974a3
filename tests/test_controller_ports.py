"""Host ports on nodes that share one machine: the lab's three nodes run on this machine in
one network namespace, so examples/web.yaml (host networking, httpd on 127.0.0.1:$PORT, three
replicas) only works when each replica gets a port of its own. Each one must answer there."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import urllib.error
import urllib.request
from pathlib import Path

from controller_support import controller, owned, prefix
from nodes_support import direct_client
from tui_orch.manifest import load_manifest
from tui_orch.model import ReplicaState
from tui_orch.nodes.base import LABEL_REPLICA

WEB_YAML = Path(__file__).parent.parent / "examples" / "web.yaml"


def get(port: int) -> tuple[int, str]:
    """GET / on the loopback address, as a user checking the service would."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def env_of(lab, node: str, container_id: str) -> list[str]:
    client = direct_client(next(n for n in lab.nodes if n.name == node))
    try:
        return client.api.inspect_container(container_id)["Config"]["Env"]
    finally:
        client.close()


async def answers(port: int, timeout: float = 30) -> str:
    """The body served on ``port`` once it answers 200; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    status, body = await asyncio.to_thread(get, port)
    while status != 200:
        assert time.monotonic() < deadline, f"nothing answers 200 on 127.0.0.1:{port} ({status} {body})"
        await asyncio.sleep(0.2)
        status, body = await asyncio.to_thread(get, port)
    return body


async def test_web_example_runs_three_replicas_each_on_its_own_port(lab, tmp_path):
    pre = prefix()
    example = load_manifest(WEB_YAML)
    m = dataclasses.replace(example, services=tuple(
        dataclasses.replace(s, name=pre + s.name) for s in example.services))
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        hosts = {info.host_id for info in fleet.node_infos()}
        assert len(hosts) == 1 and "" not in hosts  # the lab: one machine, one namespace

        result = await ctl.apply(m)
        assert result.ok, result
        reps = store.replicas()
        assert len(reps) == 3 and all(r.state == ReplicaState.RUNNING for r in reps), reps
        assert sorted(r.node for r in reps) == ["node1", "node2", "node3"]
        ports = [r.ports[0] for r in reps]
        assert len(set(ports)) == 3, f"replicas of one host share a port: {ports}"

        running = {node: {c["Labels"][LABEL_REPLICA]: c for c in found if c["State"] == "running"}
                   for node, found in owned(lab, pre).items()}
        for r in reps:
            assert r.key in running[r.node], (r, running)
            assert running[r.node][r.key]["Id"] == r.container_id
            assert f"PORT={r.ports[0]}" in env_of(lab, r.node, r.container_id)
            assert "tuiorch/busybox version 1" in await answers(r.ports[0])
