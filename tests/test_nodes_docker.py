"""Container operations through a RemoteNode (Docker API over SSH) on the lab: lifecycle,
ownership by label, events and their latency, health, logs, hostile input."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from nodes_support import IMAGE, containers, direct_client, next_event, node1  # noqa: F401  (fixtures)
from tui_orch.errors import ContainerNotFound, ImageNotFound, NodeError
from tui_orch.nodes.base import LABEL_SERVICE, ContainerRequest
from tui_orch.nodes.docker_api import parse_event, parse_time


async def test_lifecycle_with_labels_and_resources(node1, containers, lab):
    request = containers.request(
        ["sleep", "300"], labels=containers.labels("web", **{"tui-orch.slot": "1"}),
        environment=(("PORT", "8123"),), nano_cpus=250_000_000, mem_limit=64 * 2**20,
        mem_reservation=32 * 2**20, stop_signal="SIGTERM", stop_timeout=3, working_dir="/tmp",
        restart_policy={"Name": "no"},
    )
    info = await node1.run_container(request)
    assert (info.status, info.node, info.name, info.image) == ("running", "node1", request.name, IMAGE)
    assert info.label(LABEL_SERVICE) == "web" and info.label("tui-orch.slot") == "1"
    assert info.started_at and abs(info.started_at - time.time()) < 60 and info.exit_code is None
    listed = {c.id: c for c in await node1.list_owned()}
    assert listed[info.id].labels == info.labels
    attrs = direct_client(lab.node(1)).api.inspect_container(info.id)
    host = attrs["HostConfig"]
    assert (host["NanoCpus"], host["Memory"], host["MemoryReservation"]) == (250_000_000, 64 * 2**20, 32 * 2**20)
    assert (attrs["Config"]["StopSignal"], attrs["Config"]["StopTimeout"]) == ("SIGTERM", 3)
    assert "PORT=8123" in attrs["Config"]["Env"] and attrs["Config"]["WorkingDir"] == "/tmp"

    await node1.stop_container(info.id, timeout=2)
    stopped = await node1.inspect(info.id)
    assert stopped.status == "exited" and stopped.exit_code is not None and stopped.finished_at
    await node1.remove_container(info.id)
    assert info.id not in {c.id for c in await node1.list_owned()}
    with pytest.raises(ContainerNotFound):
        await node1.inspect(info.id)
    await node1.remove_container(info.id)  # already gone: not an error


async def test_unlabelled_containers_are_never_listed_or_touched(node1, containers, lab):
    client = direct_client(lab.node(1))
    foreign = client.containers.run(IMAGE, ["sleep", "300"], name=containers.name(), network_mode="host",
                                    detach=True, labels={"other": "app"})
    try:
        owned = await node1.run_container(containers.request(["sleep", "300"]))
        ids = {c.id for c in await node1.list_owned()}
        assert owned.id in ids and foreign.id not in ids
        for op in (node1.inspect(foreign.id), node1.stop_container(foreign.id, 1),
                   node1.remove_container(foreign.id)):
            with pytest.raises(ContainerNotFound, match="not managed by tui-orch"):
                await op
        with pytest.raises(ContainerNotFound, match="not managed"):
            async for _ in node1.logs(foreign.id):
                pass
        foreign.reload()
        assert foreign.status == "running"
    finally:
        foreign.remove(force=True)


async def test_refuses_to_create_an_unlabelled_container(node1, containers):
    with pytest.raises(NodeError, match="without the tui-orch.service label"):
        await node1.run_container(ContainerRequest(name=containers.name(), image=IMAGE, labels=()))


async def test_missing_image_and_name_conflict_are_clear(node1, containers):
    with pytest.raises(ImageNotFound, match="tuiorch/nonexistent:9 is not on this node"):
        await node1.run_container(containers.request(image="tuiorch/nonexistent:9"))
    first = await node1.run_container(containers.request(["sleep", "300"]))
    with pytest.raises(NodeError, match="conflict"):
        await node1.run_container(containers.request(["sleep", "300"], name=first.name))


async def test_a_failing_start_leaves_no_container(node1, containers):
    request = containers.request(["/no/such/program"])
    with pytest.raises(NodeError):
        await node1.run_container(request)
    assert request.name not in {c.name for c in await node1.list_owned()}


async def test_die_event_with_exit_code_arrives_within_a_second_of_docker_kill(node1, containers, lab):
    info = await node1.run_container(containers.request(["sleep", "300"]))
    await next_event(node1, info.id, "start")
    client = direct_client(lab.node(1))
    latencies = []
    t0 = time.monotonic()
    await asyncio.to_thread(client.api.kill, info.id)
    event = await next_event(node1, info.id, "die", timeout=5)
    latencies.append(time.monotonic() - t0)
    assert event.exit_code == 137 and event.node == "node1" and event.name == info.name
    assert dict(event.labels)[LABEL_SERVICE] == "svc"
    crash = await node1.run_container(containers.request(["sh", "-c", "exit 3"]))
    event = await next_event(node1, crash.id, "die", timeout=5)
    assert event.exit_code == 3
    assert (await node1.inspect(crash.id)).exit_code == 3
    for _ in range(4):  # a few more kills for a steadier figure
        again = await node1.run_container(containers.request(["sleep", "300"]))
        await next_event(node1, again.id, "start")
        t0 = time.monotonic()
        await asyncio.to_thread(client.api.kill, again.id)
        await next_event(node1, again.id, "die", timeout=5)
        latencies.append(time.monotonic() - t0)
    print(f"\ndie event latency after docker kill: max {max(latencies) * 1000:.0f} ms, "
          f"median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms")
    assert max(latencies) < 1.0


async def test_oom_kill_is_reported(node1, containers):
    """A replica that outgrows its memory limit: an oom event, then die with 137 and OOMKilled."""
    hog = ["sh", "-c", "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done"]
    info = await node1.run_container(containers.request(hog, mem_limit=8 * 1024 * 1024))
    oom = await next_event(node1, info.id, "oom", timeout=30)
    assert oom.node == "node1"
    died = await next_event(node1, info.id, "die", timeout=10)
    assert died.exit_code == 137
    inspected = await node1.inspect(info.id)
    assert inspected.oom_killed and inspected.exit_code == 137


async def test_health_status_events(node1, containers):
    healthcheck = {"test": ["CMD-SHELL", "test -f /tmp/ok"], "interval": 200_000_000,
                   "timeout": 1_000_000_000, "retries": 1}
    info = await node1.run_container(containers.request(
        ["sh", "-c", "sleep 2; touch /tmp/ok; sleep 300"], healthcheck=healthcheck))
    unhealthy = await next_event(node1, info.id, "health_status", timeout=10)
    assert unhealthy.health == "unhealthy"
    healthy = await next_event(node1, info.id, "health_status", timeout=10)
    assert healthy.health == "healthy"
    assert (await node1.inspect(info.id)).health == "healthy"


async def test_logs_tail_follow_and_timestamps(node1, containers):
    info = await node1.run_container(containers.request(["sh", "-c", "echo one; echo two; sleep 0.3; echo three >&2; sleep 300"]))
    await asyncio.sleep(1)
    assert [line async for line in node1.logs(info.id, tail=2)] == ["two", "three"]
    stamped = [line async for line in node1.logs(info.id, tail=1, timestamps=True)]
    assert len(stamped) == 1 and stamped[0].endswith(" three") and parse_time(stamped[0].split()[0])

    ticker = await node1.run_container(containers.request(
        ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"]))
    got = []
    stream = node1.logs(ticker.id, follow=True, tail=0)
    async with asyncio.timeout(10):
        async for line in stream:
            got.append(line)
            if len(got) == 3:
                break
    await stream.aclose()
    assert got[0].startswith("tick ") and len(got) == 3


async def test_hostile_values_are_data_not_commands(node1, containers):
    marker = f"/tmp/pwned-{uuid.uuid4().hex[:8]}"
    value = f"$(touch {marker}); touch {marker}; rm -rf /nonexistent `touch {marker}` 'q\" \nline2"
    info = await node1.run_container(containers.request(
        ["sh", "-c", 'printf "%s" "$V"'], environment=(("V", value),),
        labels=containers.labels(f"svc; touch {marker}", **{"tui-orch.note": value})))
    await next_event(node1, info.id, "die", timeout=10)
    assert "\n".join([line async for line in node1.logs(info.id, tail=None)]) == value
    assert (await node1.inspect(info.id)).label("tui-orch.note") == value
    for name in (f"x$(touch {marker})", f"x; touch {marker}", "x'\"\n"):
        with pytest.raises(NodeError):
            await node1.run_container(containers.request(["true"], name=name))
    assert not os.path.exists(marker)


def test_parse_event_and_times():
    raw = {"Type": "container", "Action": "health_status: unhealthy", "timeNano": 1_700_000_000_500_000_000,
           "Actor": {"ID": "abc", "Attributes": {LABEL_SERVICE: "web", "name": "web.1", "image": IMAGE}}}
    event = parse_event("n", raw)
    assert event is not None
    assert (event.action, event.health, event.container_id, event.time) == ("health_status", "unhealthy", "abc", 1.7e9 + 0.5)
    assert event.labels == ((LABEL_SERVICE, "web"),)
    assert parse_event("n", {**raw, "Actor": {"ID": "x", "Attributes": {"name": "other"}}}) is None
    assert parse_event("n", {**raw, "Action": "exec_start: sh -c true"}) is None
    die = parse_event("n", {**raw, "Action": "die", "Actor": {"ID": "a", "Attributes": {LABEL_SERVICE: "w", "exitCode": "137"}}})
    assert die is not None and die.exit_code == 137 and die.health is None
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("2023-11-14T22:13:20.123456789Z") == pytest.approx(1_700_000_000.123456789)
    assert parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000
