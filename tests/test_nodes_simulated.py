"""Simulated nodes: the Node interface in memory, one shared ticker, faults, determinism, scale."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from tui_orch.errors import ContainerNotFound, NodeError, NodeUnavailable
from tui_orch.inventory import Inventory
from tui_orch.model import NodeSpec, NodeState, Resources
from tui_orch.nodes.base import LABEL_REPLICA, LABEL_SERVICE, ContainerRequest, DockerEvent, Node, NodeStatus
from tui_orch.nodes.fleet import Fleet, NodeChange
from tui_orch.nodes.sim.node import SimulatedNode
from tui_orch.nodes.sim.simulator import Chaos, Simulator, set_default_simulator

GIB = 1 << 30
T0 = 1_767_225_600.0  # a fixed start for frozen simulators


def request(name: str, service: str = "web", cpus: float = 0.0, memory: int = 0,
            healthcheck: dict[str, object] | None = None,
            ports: tuple[tuple[int, int, str, str | None], ...] = ()) -> ContainerRequest:
    return ContainerRequest(name=name, image="nginx:1.27", labels=((LABEL_SERVICE, service), (LABEL_REPLICA, name)),
                            nano_cpus=int(cpus * 1e9), mem_limit=memory, healthcheck=healthcheck, ports=ports)


def drain(node: Node) -> list[DockerEvent]:
    out = []
    while not node.events.empty():
        out.append(node.events.get_nowait())
    return out


async def frozen_node(name: str = "sim-1", seed: int = 7, noise: bool = True,
                      capacity: Resources | None = None) -> tuple[Simulator, SimulatedNode]:
    sim = Simulator(seed, frozen=True, noise=noise, start_time=T0)
    node = SimulatedNode(NodeSpec(name=name, simulated=True, capacity=capacity), sim)
    await node.start()
    return sim, node


@pytest.fixture
def default_sim():
    sim = Simulator(seed=3)
    old = set_default_simulator(sim)
    yield sim
    set_default_simulator(old)


async def test_a_fleet_of_simulated_nodes_starts_ready_and_runs_containers(default_sim: Simulator) -> None:
    inventory = Inventory(nodes=tuple(NodeSpec(name=f"sim-{i}", simulated=True) for i in range(3)))
    async with Fleet(inventory) as fleet:
        assert [n.status.state for n in fleet.nodes.values()] == [NodeState.READY] * 3
        node = fleet["sim-0"]
        assert isinstance(node, SimulatedNode) and node.sim is default_sim
        assert node.status.simulated and "simulated" in node.status.reason
        assert node.capacity is not None and node.capacity.cpus >= 2 and node.capacity.memory >= 4 * GIB
        assert node.metrics is not None and len(node.metrics.per_core) == node.metrics.cores
        infos = fleet.node_infos()
        assert all(i.capacity.cpus > 0 and i.cpu_used is not None for i in infos)

        queue = fleet.subscribe()
        info = await node.run_container(request("web-1"))
        assert info.status == "running" and info.health == "none" and info.node == "sim-0"
        owned = await node.list_owned()
        assert [c.id for c in owned] == [info.id]
        assert owned[0].label(LABEL_SERVICE) == "web" and owned[0].label(LABEL_REPLICA) == "web-1"
        got = [await asyncio.wait_for(queue.get(), 2) for _ in range(2)]
        assert all(isinstance(e, DockerEvent) for e in got)
        assert [(e.action, e.container_id, e.node) for e in got if isinstance(e, DockerEvent)] == [
            ("create", info.id, "sim-0"), ("start", info.id, "sim-0")]
        assert isinstance(got[1], DockerEvent) and dict(got[1].labels)[LABEL_SERVICE] == "web"
        assert await node.has_image("anything:latest")
        assert (await node.inspect(info.id[:12])).id == info.id  # a prefix, as docker accepts
    assert default_sim.nodes == {}  # closed nodes leave the ticker


async def test_the_shared_ticker_updates_metrics_and_history_in_real_time() -> None:
    sim = Simulator(seed=1, interval=0.1)
    nodes = [SimulatedNode(NodeSpec(name=f"n{i}", simulated=True), sim) for i in range(3)]
    for node in nodes:
        await node.start()
    await asyncio.sleep(0.55)
    for node in nodes:
        assert len(node.history.samples) >= 4
        assert node.metrics is not None and node.metrics.time > node.history.samples[0].time
    assert sim.ticks >= 4
    for node in nodes:
        await node.close()
    await asyncio.sleep(0.15)
    assert sim._task is None  # no nodes: the ticker stops


async def test_utilisation_follows_the_replicas_placed() -> None:
    sim, node = await frozen_node(capacity=Resources(4.0, 8 * GIB))
    await sim.advance(3)
    assert node.metrics is not None
    idle_cpu, idle_mem = node.metrics.cpu_percent, node.metrics.mem_used
    assert 0 < idle_cpu < 10 and node.metrics.containers == 0
    busy = [await node.run_container(request(f"busy-{i}", cpus=2.0, memory=GIB)) for i in range(2)]
    await sim.advance(3)
    m = node.metrics
    assert m.cpu_percent > idle_cpu + 30  # two replicas keep ~1 core each busy of 4
    assert m.mem_used > idle_mem + GIB // 2
    assert m.containers == 2 and m.mem_used + m.mem_available == m.mem_total
    assert m.load[0] > 0 and m.uptime > 3600 and m.disk_used < m.disk_total and m.net_rx_bps > 0
    assert set(node.container_metrics) == {c.id for c in busy}
    assert all(40 < cm.cpu_percent <= 200 and cm.mem_used > 0 for cm in node.container_metrics.values())
    node.set_load(busy[0].id, cpus=2.0)  # capped at its 2-core limit, with noise
    await node.stop_container(busy[1].id)
    await sim.advance(2)
    assert set(node.container_metrics) == {busy[0].id} and node.metrics.containers == 1
    assert len(node.history.series("cpu_percent")) == 9  # start + 3 + 3 + 2 ticks


async def test_container_lifecycle_events_like_the_engine() -> None:
    sim, node = await frozen_node()
    a = await node.run_container(request("a"))
    b = await node.run_container(request("b"))
    drain(node)
    node.crash(a.id, exit_code=3)
    crashed = await node.inspect(a.id)
    assert crashed.status == "exited" and crashed.exit_code == 3 and crashed.finished_at is not None
    node.crash(b.id, exit_code=137, oom=True)
    await node.stop_container(a.id)  # already exited: nothing happens
    c = await node.run_container(request("c"))
    drain(node)
    await node.stop_container(c.id)
    await node.remove_container(c.id)
    await node.remove_container(c.id)  # already gone: not an error
    events = [(e.action, e.exit_code) for e in drain(node)]
    assert events == [("kill", None), ("die", 0), ("stop", None), ("destroy", None)]
    assert (await node.inspect(b.id)).oom_killed
    with pytest.raises(ContainerNotFound):
        await node.inspect("f" * 64)
    with pytest.raises(NodeError, match="label"):
        await node.run_container(ContainerRequest(name="x", image="nginx", labels=()))
    with pytest.raises(NodeError, match="in use"):
        await node.run_container(request("a"))
    await node.run_container(request("p1", ports=((8080, 80, "tcp", None),)))
    with pytest.raises(NodeError, match="already allocated"):
        await node.run_container(request("p2", ports=((8080, 80, "tcp", None),)))


async def test_crash_emits_die_with_the_exit_code() -> None:
    sim, node = await frozen_node()
    info = await node.run_container(request("web-1"))
    drain(node)
    node.crash(info.id, exit_code=42)
    events = drain(node)
    assert [(e.action, e.exit_code, e.container_id) for e in events] == [("die", 42, info.id)]
    node.crash(info.id)  # a dead container does not die twice
    assert drain(node) == []


async def test_the_engine_restart_policy_restarts_a_crash_like_the_engine() -> None:
    sim, node = await frozen_node()
    held = await node.run_container(request("held"))  # no policy: the engine leaves it down
    node.crash(held.id, exit_code=1)
    assert (await node.inspect(held.id)).status == "exited"

    info = await node.run_container(dataclasses.replace(request("web-1"), restart_policy={"Name": "unless-stopped"}))
    drain(node)
    node.crash(info.id, exit_code=3)
    again = await node.inspect(info.id)
    assert again.status == "running" and again.restart_count == 1 and again.exit_code is None
    assert [e.action for e in drain(node)] == ["die", "start"]  # same container, as the engine does

    await node.set_restart_policy(info.id, "no")  # a controller takes the baton
    node.crash(info.id, exit_code=3)
    assert (await node.inspect(info.id)).status == "exited"

    job = await node.run_container(request("job"))
    await node.set_restart_policy(job.id, "on-failure", max_retries=2)
    node.crash(job.id, exit_code=0)  # a clean exit is not a failure
    assert (await node.inspect(job.id)).status == "exited"
    flaky = await node.run_container(request("flaky"))
    await node.set_restart_policy(flaky.id, "on-failure", max_retries=2)
    for _ in range(3):
        node.crash(flaky.id, exit_code=1)
    last = await node.inspect(flaky.id)
    assert last.status == "exited" and last.restart_count == 2  # MaximumRetryCount reached

    always = await node.run_container(request("always"))
    await node.set_restart_policy(always.id, "always")
    await node.stop_container(always.id)  # stopped through the API: never brought back
    assert (await node.inspect(always.id)).status == "exited"
    with pytest.raises(NodeError, match="invalid restart policy"):
        await node.set_restart_policy(flaky.id, "sometimes")
    with pytest.raises(ContainerNotFound):
        await node.set_restart_policy("f" * 64, "no")
    node.fail()
    with pytest.raises(NodeUnavailable):
        await node.set_restart_policy(flaky.id, "no")


async def test_fail_goes_not_ready_and_recover_replays_what_was_missed() -> None:
    sim, node = await frozen_node()
    info = await node.run_container(request("web-1"))
    drain(node)
    changes: list[tuple[NodeState, NodeState]] = []

    def listener(_node: Node, old: NodeStatus, new: NodeStatus) -> None:
        changes.append((old.state, new.state))

    node.on_state_change(listener)
    await sim.advance(1)
    last = node.metrics
    node.fail()
    assert node.status.state == NodeState.NOT_READY and "simulated" in node.status.reason
    assert changes == [(NodeState.READY, NodeState.NOT_READY)]
    for op in (node.list_owned(), node.inspect(info.id), node.run_container(request("x")), node.has_image("a")):
        with pytest.raises(NodeUnavailable):
            await op
    node.crash(info.id, exit_code=9)  # happens on the host meanwhile
    await sim.advance(3)
    assert node.metrics is last and drain(node) == []  # metrics and events stop
    node.recover()
    assert node.status.state == NodeState.READY and changes[-1] == (NodeState.NOT_READY, NodeState.READY)
    assert [(e.action, e.exit_code) for e in drain(node)] == [("die", 9)]
    other = await node.run_container(request("web-2"))
    node.fail("switch died")
    await asyncio.sleep(0)
    node.recover()
    assert (await node.inspect(other.id)).status == "running"  # a network cut: it kept running
    node.fail(power_off=True)
    node.recover()
    assert (await node.inspect(other.id)).exit_code == 255


async def test_wait_state_sees_a_simulated_failure(default_sim: Simulator) -> None:
    inventory = Inventory(nodes=(NodeSpec(name="sim-a", simulated=True),))
    async with Fleet(inventory) as fleet:
        queue = fleet.subscribe()
        node = fleet["sim-a"]
        assert isinstance(node, SimulatedNode)
        asyncio.get_running_loop().call_later(0.05, node.fail)
        assert await node.wait_state(NodeState.NOT_READY, timeout=2) == NodeState.NOT_READY
        change = await asyncio.wait_for(queue.get(), 2)
        assert isinstance(change, NodeChange) and change.new.state == NodeState.NOT_READY
        node.recover()
        assert await node.wait_state(NodeState.READY, timeout=2) == NodeState.READY


async def test_health_goes_starting_healthy_unhealthy() -> None:
    sim, node = await frozen_node()
    hc = {"test": ["CMD", "curl", "-f", "http://localhost/"], "interval": 2_000_000_000,
          "timeout": 1_000_000_000, "retries": 2, "start_period": 3_000_000_000}
    info = await node.run_container(request("web-1", healthcheck=hc))
    plain = await node.run_container(request("web-2", healthcheck={"test": ["NONE"]}))
    assert info.health == "starting" and plain.health == "none"
    drain(node)
    await sim.advance(3)
    assert (await node.inspect(info.id)).health == "starting"  # first probe at 4 s
    await sim.advance(1)
    assert (await node.inspect(info.id)).health == "healthy"
    assert [(e.action, e.health) for e in drain(node)] == [("health_status", "healthy")]
    node.make_unhealthy(info.id)
    await sim.advance(2)
    assert (await node.inspect(info.id)).health == "healthy"  # one failed probe of 2
    await sim.advance(2)
    assert (await node.inspect(info.id)).health == "unhealthy"
    assert [(e.action, e.health, e.container_id) for e in drain(node)] == [("health_status", "unhealthy", info.id)]
    node.make_healthy(info.id)
    await sim.advance(2)
    assert [e.health for e in drain(node)] == ["healthy"]


async def test_logs_tail_and_follow() -> None:
    sim, node = await frozen_node()
    info = await node.run_container(request("web-1"))
    await sim.advance(10)
    lines = [line async for line in node.logs(info.id, tail=5)]
    assert len(lines) == 5 and all(lines)
    everything = [line async for line in node.logs(info.id, tail=None, timestamps=True)]
    assert len(everything) == 21 and everything[0].endswith("starting (simulated replica)")
    assert everything[0].startswith("2026-01-01T00:00:00")
    assert lines == [line.split(" ", 1)[1] for line in everything[-5:]]

    followed: list[str] = []

    async def follow() -> None:
        async for line in node.logs(info.id, follow=True, tail=0):
            followed.append(line)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    await sim.advance(2)
    await asyncio.sleep(0.35)
    assert len(followed) == 4  # two lines a second
    node.crash(info.id, exit_code=2)
    await asyncio.wait_for(task, 2)  # a followed container that dies ends the stream
    assert followed[-1] == "INFO shutting down (exit code 2)"


async def scenario(seed: int) -> tuple[list[object], list[tuple[object, ...]], list[NodeState]]:
    sim = Simulator(seed, frozen=True, start_time=T0, chaos=Chaos(crash_rate=0.2, failure_rate=0.05))
    nodes = [SimulatedNode(NodeSpec(name=f"n{i}", simulated=True), sim) for i in range(4)]
    for node in nodes:
        await node.start()
        for k in range(3):
            await node.run_container(request(f"{node.name}-{k}", cpus=1.0, memory=256 << 20))
    await sim.advance(30)
    metrics: list[object] = [(n.name, n.capacity, [s.cpu_percent for s in n.history.samples], n.metrics)
                             for n in nodes]
    events: list[tuple[object, ...]] = [(e.node, e.action, e.container_id, e.exit_code, e.time)
                                        for n in nodes for e in drain(n)]
    return metrics, events, [n.status.state for n in nodes]


async def test_everything_is_deterministic_given_a_seed() -> None:
    first, second, other = await scenario(11), await scenario(11), await scenario(12)
    assert first == second
    assert first[0] != other[0]
    assert any(e[1] == "die" for e in first[1])  # chaos crashed replicas ...
    assert any(e[1] == "die" and e[3] == 137 for e in first[1])  # ... some of them OOM-killed


async def test_noise_can_be_turned_off() -> None:
    sim, node = await frozen_node(noise=False, capacity=Resources(4.0, 8 * GIB))
    await node.run_container(request("busy", cpus=2.0))
    await sim.advance(5)
    series = node.history.series("cpu_percent")
    assert len(set(series[1:])) == 1  # flat: no noise


async def test_a_thousand_nodes_cost_little_cpu() -> None:
    sim = Simulator(seed=5)
    inventory = Inventory(nodes=tuple(NodeSpec(name=f"n{i:04d}", simulated=True) for i in range(1000)))
    fleet = Fleet(inventory, factory=lambda spec: SimulatedNode(spec, sim))
    await fleet.start()
    try:
        for node in list(fleet.nodes.values())[:500]:
            for k in range(2):
                await node.run_container(request(f"r{k}", cpus=0.5, memory=128 << 20))
        await asyncio.sleep(1.1)  # let the first tick after the setup pass
        ticks = sim.ticks
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(5.0)
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        share = cpu / wall
        print(f"\n1,000 simulated nodes (1,000 replicas), {sim.ticks - ticks} ticks in {wall:.1f} s: "
              f"{100 * share:.2f}% of a core ({1000 * sim.tick_cpu / sim.ticks:.1f} ms per tick)")
        assert sim.ticks - ticks >= 4
        assert share < 0.15
    finally:
        await fleet.close()


async def test_the_ready_nodes_given_as_image_sources_are_listed_when_read(default_sim: Simulator) -> None:
    """A replica start hands its node the fleet's ready nodes as image sources; they are
    listed when the node reads them (an image is missing), not at every start: a deploy of
    1,000 replicas on 1,000 nodes listed them 1,000 times in one event-loop turn."""
    inventory = Inventory(nodes=tuple(NodeSpec(name=f"sim-{i}", simulated=True) for i in range(3)))
    async with Fleet(inventory) as fleet:
        sources = fleet.ready_when_read()
        node = fleet["sim-1"]
        assert isinstance(node, SimulatedNode)
        node.fail()  # after the view was taken: it is listed when read, so sim-1 is left out
        assert [n.name for n in sources] == ["sim-0", "sim-2"] == [n.name for n in fleet.ready()]
        assert len(sources) == 2 and sources[-1].name == "sim-2"
        node.recover()
        assert [n.name for n in sources] == ["sim-0", "sim-2"]  # read once: one list per start
