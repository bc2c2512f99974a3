"""Traffic on the lab, with real clients on the lab network (tests/lab/labparts/netns.py): a
published port answers on every node through its edge proxy, whichever node runs the
replicas; rolling updates (start-first, then stop-first with parallelism 1) and a rollback
lose no request of a client sending 50 requests/s to one node; a killed replica loses at most
the requests in flight to it."""

from __future__ import annotations

import asyncio
import time

from controller_support import cleanup, controller, manifest, prefix, remove_edges
from nodes_support import direct_client, http_get, wait_for
from traffic_support import LabLoad
from tui_orch.model import ReplicaState

WEB = """
services:
  {name}:
    image: tuiorch/busybox:{version}
    # /cgi-bin/slow answers after 1 s: a request in flight when tui-orch stops a replica
    command: ["sh", "-c", "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\nsleep 1\\ncat /VERSION\\n' > /www/cgi-bin/slow && chmod 755 /www/cgi-bin/slow && exec httpd -f -p 80 -h /www"]
    ports: ["{port}:80"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/VERSION"]
      interval: 300ms
      timeout: 1s
      retries: 1
    stop_grace_period: 2s
    deploy:
      replicas: 3
      placement:
        max_replicas_per_node: 2
      update_config: {{parallelism: 1, order: {order}, monitor: 1s, delay: 0s}}
      rollback_config: {{parallelism: 1, order: {order}, monitor: 1s}}
"""


def edges(lab, owner: str) -> list[str]:
    """The edge proxy containers of ``owner`` on the lab's nodes."""
    from tui_orch.nodes.edge import LABEL_EDGE

    found = []
    for node in lab.nodes:
        client = direct_client(node)
        try:
            found += [c["Id"] for c in client.api.containers(all=True, filters={"label": f"{LABEL_EDGE}={owner}"})]
        finally:
            client.close()
    return found


def web(name: str, port: int, version: str = "1", order: str = "start-first"):
    return manifest(WEB.format(name=name, port=port, version=version, order=order))


def port_for(pre: str) -> int:
    return 18000 + int(pre[1:], 16) % 900  # one per test: a port outside the dynamic range


async def every_node_answers(lab, port: int, want: str, timeout: float = 15) -> None:
    for node in lab.nodes:
        url = f"http://{node.lab_address}:{port}/VERSION"

        def answered() -> bool:
            status, body = http_get(lab, url)
            return status == 200 and body.strip() == want

        await wait_for(answered, timeout=timeout, interval=0.1)


async def test_a_published_port_answers_on_every_node_with_healthy_replicas_anywhere(lab, tmp_path):
    pre = prefix()
    port = port_for(pre)
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        result = await ctl.apply(web(pre, port))
        assert result.ok, result
        reps = store.replicas(pre)
        assert len(reps) == 3 and all(r.state == ReplicaState.RUNNING for r in reps)
        # each replica has a dynamic host port of its own; the published port is the proxy's
        assert all(r.ports and r.ports[0] != port for r in reps), reps
        await every_node_answers(lab, port, "1")
        # the last service with a published port removed: its port closes, the edge proxies go
        await ctl.remove(pre)
        assert http_get(lab, f"http://{lab.node(1).lab_address}:{port}/VERSION")[0] == 0
        assert not edges(lab, ctl.ctx.owner)


async def test_rolling_updates_and_a_rollback_lose_no_request(lab, tmp_path):
    pre = prefix()
    port = port_for(pre)
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        await ctl.start()
        assert (await ctl.apply(web(pre, port, "1"))).ok
        await every_node_answers(lab, port, "1")
        load = LabLoad(f"http://{lab.node(1).lab_address}:{port}/VERSION", rate=50)
        slow = [LabLoad(f"http://{lab.node(1).lab_address}:{port}/cgi-bin/slow", rate=10) for _ in range(4)]
        load.start()
        for s in slow:
            s.start()
        try:
            t0 = time.monotonic()
            first = await ctl.apply(web(pre, port, "2", "start-first"))
            assert first.ok, first
            second = await ctl.apply(web(pre, port, "1", "stop-first"))
            assert second.ok, second
            ro = await ctl.rollout_undo(pre)
            took = time.monotonic() - t0
            await asyncio.sleep(1)
        finally:
            load.stop()
            for s in slow:
                s.stop()
        assert ro is not None
        assert load.sent > 50 * took * 0.8, (load.sent, took)
        assert load.failed == 0, load.failures[:5]
        assert set(load.served) == {"1", "2"}, load.served
        # requests of 1 s in flight on the replicas stopped: drained (finished) before each stop
        sent, failed = sum(s.sent for s in slow), [f for s in slow for f in s.failures]
        assert sent > 4 * took * 0.8 and not failed, (sent, failed[:5])
        print(f"{load.sent} requests in {took:.1f} s over two rolling updates and a rollback: "
              f"{load.failed} failed; served {load.served}; {sent} requests of 1 s: {len(failed)} failed")


async def test_a_killed_replica_loses_at_most_the_requests_in_flight(lab, tmp_path):
    pre = prefix()
    port = port_for(pre)
    async with controller(lab, tmp_path / "state", pre, period=1.0) as (ctl, store, fleet):
        await ctl.start()
        assert (await ctl.apply(web(pre, port))).ok
        await every_node_answers(lab, port, "1")
        load = LabLoad(f"http://{lab.node(2).lab_address}:{port}/VERSION", rate=50)
        load.start()
        try:
            await asyncio.sleep(1)
            victim = store.replicas(pre)[0]
            client = direct_client(lab.node(victim.node))
            try:
                client.api.kill(victim.container_id)
            finally:
                client.close()

            def replaced() -> bool:
                cur = store.get_replica(victim.key)
                return (cur is not None and cur.state == ReplicaState.RUNNING
                        and (cur.container_id != victim.container_id or cur.restarts > victim.restarts))

            await wait_for(replaced, timeout=30, interval=0.2)
            await asyncio.sleep(2)
        finally:
            load.stop()
        # the requests in flight at the kill may fail (each is a few ms long at 50 requests/s)
        assert load.failed <= 1, load.failures
        assert load.served.get("1", 0) >= load.sent - 1


def test_the_commands_alone_open_and_close_the_published_port(lab, tmp_path):
    """`tui-orch apply` then `tui-orch rm` (no console, each its own process): the port answers
    on every node after the apply; after the rm it is closed and no edge proxy is left."""
    from test_cli_rollout_crash import cli
    from tui_orch.controller.context import owner_id
    from tui_orch.store import open_store

    pre = prefix()
    port = port_for(pre)
    state = tmp_path / "state"
    (tmp_path / "web.yaml").write_text(WEB.format(name=pre, port=port, version="1", order="start-first"))
    owner = ""
    try:
        code, out = cli(lab, state, "apply", "-f", str(tmp_path / "web.yaml"))
        assert code == 0, out
        for node in lab.nodes:
            assert http_get(lab, f"http://{node.lab_address}:{port}/VERSION")[1].strip() == "1", node.name
        code, out = cli(lab, state, "rm", pre)
        assert code == 0, out
        store = open_store(state, readonly=True)
        owner = owner_id(store)
        store.close()
        assert http_get(lab, f"http://{lab.node(1).lab_address}:{port}/VERSION")[0] == 0
        assert not edges(lab, owner)
    finally:
        cleanup(lab, pre)
        if owner:
            remove_edges(lab, owner)

