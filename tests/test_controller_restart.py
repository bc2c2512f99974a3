"""Restarts on the lab: a killed replica comes back within 2 s with a restart event; an
unhealthy one is replaced; a crash loop backs off with growing intervals."""

from __future__ import annotations

import asyncio
import time

from controller_support import controller, manifest, prefix
from nodes_support import direct_client, wait_for
from tui_orch.model import Health, ReplicaState

SERVICE = """
services:
  {name}:
    image: tuiorch/busybox:1
    command: {command}
    network_mode: host
    stop_grace_period: 1s
{extra}
    deploy:
      replicas: 1
      restart_policy:
        condition: any
        delay: {delay}
"""


def one(pre: str, command: str, delay: str = "0.2s", extra: str = ""):
    return manifest(SERVICE.format(name=pre, command=command, delay=delay, extra=extra))


def lab_node(lab, name: str):
    return next(n for n in lab.nodes if n.name == name)


async def test_killed_replica_restarts_within_2s(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        result = await ctl.apply(one(pre, '["sleep", "3600"]'))
        assert result.ok, result
        await ctl.start()
        events = ctl.bus.subscribe()
        rep = store.get_replica(f"{pre}.1")
        client = direct_client(lab_node(lab, rep.node))
        try:
            t0 = time.monotonic()
            await asyncio.to_thread(client.api.kill, rep.container_id)
        finally:
            client.close()

        def back() -> bool:
            now = store.get_replica(rep.key)
            return now.container_id != rep.container_id and now.state == ReplicaState.RUNNING

        await wait_for(back, timeout=2)
        latency = time.monotonic() - t0
        now = store.get_replica(rep.key)
        assert now.restarts == 1 and now.node == rep.node
        seen = []
        while not events.empty():
            seen.append(events.get_nowait())
        restart = next(e for e in seen if e.kind == "restart")
        data = dict(restart.data)
        assert restart.replica == rep.key and restart.node == rep.node
        assert data["exit_code"] == "137" and data["attempt"] == "1" and data["delay"] == "0.2"
        print(f"kill -> running again: {latency:.2f} s")


async def test_unhealthy_replica_is_restarted(lab, tmp_path):
    pre = prefix()
    health = """    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ok"]
      interval: 0.5s
      timeout: 1s
      retries: 1"""
    command = '["sh", "-c", "touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 3600"]'
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        result = await ctl.apply(one(pre, command, extra=health))
        assert result.ok, result
        rep = store.get_replica(f"{pre}.1")
        assert rep.health == Health.HEALTHY
        await ctl.start()
        await wait_for(lambda: store.get_replica(rep.key).restarts >= 1, timeout=15)
        restart = next(e for e in store.events(service=pre) if e.kind == "restart")
        assert dict(restart.data)["unhealthy"] == "True" and "unhealthy" in restart.message
        await wait_for(lambda: store.get_replica(rep.key).health == Health.HEALTHY, timeout=10)


async def test_crash_loop_backs_off(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        await ctl.apply(one(pre, '["sh", "-c", "exit 3"]'))
        await ctl.start()
        await wait_for(lambda: len([e for e in store.events(service=pre) if e.kind == "restart"]) >= 4, timeout=20)
        restarts = [e for e in store.events(service=pre) if e.kind == "restart"]
        delays = [float(dict(e.data)["delay"]) for e in restarts]
        assert delays[:4] == [0.2, 0.4, 0.8, 1.6]
        assert all(dict(e.data)["exit_code"] == "3" for e in restarts)
        gaps = [b.time - a.time for a, b in zip(restarts, restarts[1:4])]
        assert gaps[0] < gaps[1] < gaps[2], gaps  # the intervals grow
        assert [dict(e.data)["attempt"] for e in restarts[:4]] == ["1", "2", "3", "4"]
