"""Data stays where it is (simulated nodes, no lab): a replica whose named volume holds data on
a node has that node recorded as its home; when the node is lost the replica waits for it (not
started empty elsewhere), an event and the replica's row say so, and when the node is back the
replica starts there again. A replica without such a volume moves, as before."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

from tui_orch.controller import Controller, binds, planning
from tui_orch.manifest import load_manifest
from tui_orch.model import PortSpec, ReplicaState
from tui_orch.nodes.base import LABEL_SERVICE
from tui_orch.ui.views.replicas import state_cell
from ui_support import sim_controller

STACK = """\
volumes:
  data: {}
services:
  db:
    image: tuiorch/db:1
    volumes: [data:/var/lib/db]
  web:
    image: tuiorch/web:1
"""


@contextlib.asynccontextmanager
async def deployed(tmp_path: Path, grace: float | None = None) -> AsyncIterator[Controller]:
    """STACK applied (folder shop: volume shop_data) on three simulated nodes."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "compose.yaml").write_text(STACK)
    async with sim_controller(tmp_path / "state", grace=grace) as (ctl, _sim):
        result = await ctl.apply(load_manifest(tmp_path / "shop" / "compose.yaml"))
        assert result.ok, result
        yield ctl


def where(ctl: Controller, service: str) -> list[tuple[str, str]]:
    return [(r.node, r.state.value) for r in ctl.query().replicas(service)]


def running_elsewhere(ctl: Controller, service: str, node: str) -> list[str]:
    """Nodes other than ``node`` that run a container of ``service``."""
    return [name for name, n in ctl.ctx.fleet.nodes.items() if name != node
            for c in n.containers.values() if dict(c.labels).get(LABEL_SERVICE) == service and c.status == "running"]


async def test_a_replica_waits_for_the_node_of_its_data_and_starts_there_again(tmp_path):
    async with deployed(tmp_path, grace=0.0) as ctl:
        [home] = ctl.ctx.store.volume_homes("db")
        assert (home.replica, home.volume) == ("db.1", "shop_data")
        node = home.node
        assert where(ctl, "db") == [(node, "running")]
        web_node = ctl.query().replicas("web")[0].node
        since = time.time()

        ctl.ctx.fleet.nodes[node].fail("network cut")
        if web_node != node:
            ctl.ctx.fleet.nodes[web_node].fail("network cut")
        await ctl.reconciler.full_pass()
        # db waits on its node, lost; web (no volume) is started on another node
        [db] = ctl.query().replicas("db")
        assert (db.node, db.state) == (node, ReplicaState.LOST)
        assert db.message == f"waiting for {node} (its data)"
        assert not running_elsewhere(ctl, "db", node)
        assert ctl.query().replicas("web")[0].node not in (node, web_node)
        assert running_elsewhere(ctl, "web", node)  # the check sees a container that moved
        # the console's replica row says it
        [row] = [r for r in ctl.query().replica_rows(time.time()) if r.service == "db"]
        assert state_cell(row.state, row.message).plain == f"lost waiting for {node} (its data)"
        # the event, a warning, says why and what to do
        said = [e for e in ctl.query().events(since=since) if e.replica == "db.1"]
        assert [(e.level, e.message) for e in said] == [(
            "warning", f"db.1 lost with node {node}; it waits for {node} ({node} is not Ready): its volume "
                       "shop_data holds data there (move it: tui-orch volume move db NODE)")]
        # the plan says it too, and more passes change nothing
        p = planning.plan_for(ctl.ctx, planning.desired(ctl.ctx))
        assert p.empty
        assert [str(u) for u in p.unschedulable] == [
            f"db.1: waits for {node} ({node} is NotReady): its volume shop_data holds data there "
            "(move it: tui-orch volume move db NODE)"]
        await ctl.reconciler.full_pass()
        assert where(ctl, "db") == [(node, "lost")]

        ctl.ctx.fleet.nodes[node].recover()
        await ctl.reconciler.full_pass()
        # its container ran on through the network cut: it is kept, not restarted
        [back] = ctl.query().replicas("db")
        assert (back.node, back.state, back.container_id) == (node, ReplicaState.RUNNING, db.container_id)
        assert [h.node for h in ctl.ctx.store.volume_homes("db")] == [node]
        assert any(e.message == f"db.1 is back with {node}, where its data is: its container still runs there, kept"
                   for e in ctl.query().events(since=since))


async def test_a_replica_whose_node_lost_power_starts_there_again_when_it_is_back(tmp_path):
    async with deployed(tmp_path, grace=0.0) as ctl:
        [db] = ctl.query().replicas("db")
        ctl.ctx.fleet.nodes[db.node].fail("power cut", power_off=True)
        await ctl.reconciler.full_pass()
        assert where(ctl, "db") == [(db.node, "lost")] and not running_elsewhere(ctl, "db", db.node)
        ctl.ctx.fleet.nodes[db.node].recover()
        await ctl.reconciler.full_pass()
        [again] = ctl.query().replicas("db")
        assert again.node == db.node and again.container_id != db.container_id
        assert again.state in (ReplicaState.STARTING, ReplicaState.RUNNING)


async def test_removing_the_service_forgets_its_homes(tmp_path):
    async with deployed(tmp_path, grace=0.0) as ctl:
        assert ctl.ctx.store.volume_homes("db")
        await ctl.remove("db")
        assert ctl.ctx.store.volume_homes() == []


async def test_draining_the_node_of_its_data_leaves_the_replica_there_and_says_so(tmp_path):
    async with deployed(tmp_path) as ctl:
        node = ctl.query().replicas("db")[0].node
        result = await ctl.drain(node)
        assert where(ctl, "db") == [(node, "running")] and not running_elsewhere(ctl, "db", node)
        assert result.unschedulable == [f"db.1: waits for {node} ({node} is draining): its volume shop_data holds "
                                        "data there (move it: tui-orch volume move db NODE)"]
        assert [e.message for e in ctl.query().events() if e.level == "warning" and e.replica == "db.1"] == [
            f"db.1 stays on draining {node}: it waits for {node} ({node} is draining): its volume shop_data "
            "holds data there (move it: tui-orch volume move db NODE)"]


async def test_a_failed_replica_with_its_data_is_not_rescheduled_elsewhere(tmp_path):
    async with deployed(tmp_path) as ctl:
        [db] = ctl.query().replicas("db")
        ctl.ctx.fleet.nodes[db.node].crash(db.container_id)
        await ctl.reconciler._reschedule(db)  # what the loop does once its restarts ran out
        assert not running_elsewhere(ctl, "db", db.node)
        assert [e.message for e in ctl.query().events() if e.kind == "reschedule"] == [
            f"db.1 stays failed on {db.node}: its volume shop_data holds data there "
            "(move it: tui-orch volume move db NODE)"]


async def test_after_a_move_a_rolling_update_starts_the_new_revision_on_the_node_of_its_data(tmp_path):
    (tmp_path / "shop").mkdir()
    compose = tmp_path / "shop" / "compose.yaml"
    compose.write_text(STACK)
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load_manifest(compose))).ok
        [db] = ctl.query().replicas("db")
        ctl.ctx.fleet.nodes[db.node].volumes.create("shop_data")  # as its start does once volumes mount
        # moved to the last node: the best fit for a new replica would be the first free one
        await ctl.volume_move("db.1", "sim-3")
        assert [h.node for h in ctl.ctx.store.volume_homes("db")] == ["sim-3"]
        compose.write_text(STACK.replace("tuiorch/db:1", "tuiorch/db:2"))
        assert (await ctl.apply(load_manifest(compose))).ok
        assert [(r.node, r.revision) for r in ctl.query().replicas("db")] == [("sim-3", 2)]
        assert [h.node for h in ctl.ctx.store.volume_homes("db")] == ["sim-3"]


async def test_a_command_run_when_the_node_is_back_keeps_the_waiting_replica_as_it_runs(tmp_path):
    async with deployed(tmp_path, grace=0.0) as ctl:
        [db] = ctl.query().replicas("db")
        ctl.ctx.fleet.nodes[db.node].fail("network cut")
        await ctl.reconciler.full_pass()
        ctl.ctx.fleet.nodes[db.node].recover()
        assert await ctl.catch_up() == {}  # what each CLI command does first
        assert (await ctl.scale("db", 1)).ok
        [kept] = ctl.query().replicas("db")
        assert (kept.node, kept.state, kept.container_id) == (db.node, ReplicaState.RUNNING, db.container_id)


async def test_a_replica_with_its_data_that_cannot_bind_its_static_port_stays_on_its_node(tmp_path):
    async with deployed(tmp_path) as ctl:
        spec = ctl.query().spec("db")
        spec = dataclasses.replace(spec, ports=(PortSpec(80, 8080),))
        [db] = ctl.query().replicas("db")
        ended = dataclasses.replace(db, ports=(8080,), state=ReplicaState.EXITED,
                                    message="driver failed programming external connectivity: address already in use")
        assert await binds.next_start(ctl.ctx, ended, spec) == (db.node, (8080,))
        assert [e.message for e in ctl.query().events() if e.replica == "db.1" and e.level == "error"] == [
            f"db.1 could not bind static host port(s) 8080 on {db.node} and stays there: its volume shop_data "
            "holds data there (move it: tui-orch volume move db NODE)"]
