"""Host ports on the lab's nodes (each in a network namespace of its own, as separate hosts):
examples/web.yaml (host networking, httpd on 127.0.0.1:$PORT, three replicas) answers on each
node; a port another process of the node holds is never given to a replica, and a replica
whose port is taken before its restart gets another one and runs."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from pathlib import Path

from controller_support import controller, owned, prefix
from nodes_support import direct_client, http_get, inside, wait_for
from tui_orch.manifest import load_manifest
from tui_orch.model import ReplicaState
from tui_orch.nodes.base import LABEL_REPLICA

WEB_YAML = Path(__file__).parent.parent / "examples" / "web.yaml"


def env_of(lab, node: str, container_id: str) -> list[str]:
    client = direct_client(next(n for n in lab.nodes if n.name == node))
    try:
        return client.api.inspect_container(container_id)["Config"]["Env"]
    finally:
        client.close()


async def answers(lab, node: str, port: int, timeout: float = 30) -> str:
    """The body served on the node's 127.0.0.1:``port`` (a user on the node checking the service)
    once it answers 200; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/"
    status, body = await asyncio.to_thread(http_get, lab, url, node)
    while status != 200:
        assert time.monotonic() < deadline, f"nothing answers 200 on {node}'s {url} ({status} {body})"
        await asyncio.sleep(0.2)
        status, body = await asyncio.to_thread(http_get, lab, url, node)
    return body


async def test_web_example_runs_three_replicas_one_per_node_each_answering_there(lab, tmp_path):
    pre = prefix()
    example = load_manifest(WEB_YAML)
    m = dataclasses.replace(example, services=tuple(
        dataclasses.replace(s, name=pre + s.name) for s in example.services))
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        hosts = {info.host_id for info in fleet.node_infos()}
        assert len(hosts) == 3 and "" not in hosts  # the lab: three network namespaces, three port spaces

        result = await ctl.apply(m)
        assert result.ok, result
        reps = store.replicas()
        assert len(reps) == 3 and all(r.state == ReplicaState.RUNNING for r in reps), reps
        assert sorted(r.node for r in reps) == ["node1", "node2", "node3"]

        running = {node: {c["Labels"][LABEL_REPLICA]: c for c in found if c["State"] == "running"}
                   for node, found in owned(lab, pre).items()}
        for r in reps:
            assert r.key in running[r.node], (r, running)
            assert running[r.node][r.key]["Id"] == r.container_id
            assert f"PORT={r.ports[0]}" in env_of(lab, r.node, r.container_id)
            assert "tuiorch/busybox version 1" in await answers(lab, r.node, r.ports[0])


def web(pre: str, replicas: int = 3):
    example = load_manifest(WEB_YAML)
    return dataclasses.replace(example, services=tuple(
        dataclasses.replace(s, name=pre + s.name, replicas=replicas) for s in example.services))


def _listen_on(port: int) -> socket.socket | None:
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


def listen_on(lab, node: str, port: int) -> socket.socket | None:
    """A socket of another process's kind listening on ``port`` of ``node`` (None: the port is bound)."""
    return inside(lab, node).call(_listen_on, port)


def hold_port(lab, start: int = 20000) -> list[socket.socket]:
    """Listen on the lowest port free on every node, on every node."""
    for port in range(start, start + 200):
        held = [listen_on(lab, n.name, port) for n in lab.nodes]
        if all(s is not None for s in held):
            return held
        for s in held:
            if s is not None:
                s.close()
    raise AssertionError("no free port to hold")


async def hold_exact(lab, node: str, port: int, timeout: float = 0.8) -> socket.socket | None:
    """Listen on ``port`` of ``node`` as soon as it is free (None: something else took it first)."""
    deadline = time.monotonic() + timeout
    held = listen_on(lab, node, port)
    while held is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        held = listen_on(lab, node, port)
    return held


async def test_port_held_by_another_process_is_never_given_to_a_replica(lab, tmp_path):
    pre = prefix()
    held = hold_port(lab)
    port = held[0].getsockname()[1]
    try:
        async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
            result = await ctl.apply(web(pre))
            assert result.ok, result
            reps = store.replicas()
            assert all(r.state == ReplicaState.RUNNING for r in reps), reps
            assert port not in {p for r in reps for p in r.ports}, (port, reps)
            for r in reps:
                assert "tuiorch/busybox version 1" in await answers(lab, r.node, r.ports[0])
    finally:
        for s in held:
            s.close()


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
        held = await hold_exact(lab, rep.node, rep.ports[0])  # httpd gone: its port is free for a moment
        try:

            def moved() -> bool:
                cur = store.get_replica(rep.key)
                return (cur is not None and cur.container_id != rep.container_id
                        and cur.state == ReplicaState.RUNNING and cur.ports != rep.ports)

            await wait_for(moved, timeout=30, interval=0.2)
            cur = store.get_replica(rep.key)
            assert "tuiorch/busybox version 1" in await answers(lab, cur.node, cur.ports[0])
            assert cur.restarts <= 2, cur  # no crash-loop on the held port
        finally:
            if held is not None:
                held.close()
