"""Host ports on nodes that share one machine: the lab's three nodes run on this machine in
one network namespace, so examples/web.yaml (host networking, httpd on 127.0.0.1:$PORT, three
replicas) only works when each replica gets a port of its own. Each one must answer there."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from controller_support import controller, owned, prefix
from nodes_support import direct_client, wait_for
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


def web(pre: str, replicas: int = 3):
    example = load_manifest(WEB_YAML)
    return dataclasses.replace(example, services=tuple(
        dataclasses.replace(s, name=pre + s.name, replicas=replicas) for s in example.services))


def listen_on(port: int) -> socket.socket | None:
    """A socket of another process's kind listening on ``port`` (None: the port is bound)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do (a GET's TIME_WAIT)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    s.listen()
    return s


def hold_port(start: int = 20000) -> socket.socket:
    """Listen on the lowest free port from ``start``."""
    held = next((s for s in map(listen_on, range(start, start + 200)) if s is not None), None)
    assert held is not None, "no free port to hold"
    return held


async def hold_exact(port: int, timeout: float = 0.8) -> socket.socket | None:
    """Listen on ``port`` as soon as it is free (None: something else took it first)."""
    deadline = time.monotonic() + timeout
    held = listen_on(port)
    while held is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        held = listen_on(port)
    return held


async def test_port_held_by_another_process_is_never_given_to_a_replica(lab, tmp_path):
    pre = prefix()
    held = hold_port()
    port = held.getsockname()[1]
    try:
        async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
            result = await ctl.apply(web(pre))
            assert result.ok, result
            reps = store.replicas()
            assert all(r.state == ReplicaState.RUNNING for r in reps), reps
            assert port not in {p for r in reps for p in r.ports}, (port, reps)
            for r in reps:
                assert "tuiorch/busybox version 1" in await answers(r.ports[0])
    finally:
        held.close()


async def test_replica_whose_port_is_taken_before_its_restart_gets_another_and_runs(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre, period=1.0) as (ctl, store, fleet):
        result = await ctl.apply(web(pre, replicas=1))
        assert result.ok, result
        await ctl.start()
        rep = store.replicas()[0]
        client = direct_client(next(n for n in lab.nodes if n.name == rep.node))
        try:
            client.api.kill(rep.container_id)
        finally:
            client.close()
        held = await hold_exact(rep.ports[0])  # httpd gone: its port is free for a moment
        try:

            def moved() -> bool:
                cur = store.get_replica(rep.key)
                return (cur is not None and cur.container_id != rep.container_id
                        and cur.state == ReplicaState.RUNNING and cur.ports != rep.ports)

            await wait_for(moved, timeout=30, interval=0.2)
            cur = store.get_replica(rep.key)
            assert "tuiorch/busybox version 1" in await answers(cur.ports[0])
            assert cur.restarts <= 2, cur  # no crash-loop on the held port
        finally:
            if held is not None:
                held.close()
