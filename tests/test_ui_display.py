"""How the console words what it shows, without the lab: the deploy dialog's plan names the
rolling update (a changed image is no move of the planner: '0 to start, 3 kept'); a
start-first rollout keeps the service's running/healthy counts at the desired number while
the old replica still serves and its replacement starts; a replica's state and the reason
it does not run read as one phrase."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tui_orch.controller.core import ApplyResult
from tui_orch.model import Health, ReplicaState, Rollout, RolloutState, to_dict
from tui_orch.ui.deploy_dialog import plan_text
from tui_orch.ui.views.replicas import state_cell
from ui_support import manifest, sim_controller

WEB = """
services:
  web:
    image: tuiorch/busybox:{version}
    deploy:
      replicas: 3
      update_config: {{order: start-first}}
"""


def test_the_plan_names_the_rolling_update_of_a_changed_service() -> None:
    result = ApplyResult(dry_run=True, plan="0 to start, 0 to stop, 3 kept",
                         rollouts={"web": "rolling update of 3 replica(s) to revision 2: batches of 1, start-first"})
    shown = plan_text(Path("web-v2.yaml"), result).plain.splitlines()
    assert shown[:3] == ["Plan for web-v2.yaml",
                         "web: rolling update of 3 replica(s) to revision 2: batches of 1, start-first",
                         "0 to start, 0 to stop, 3 kept"]


async def test_a_start_first_batch_counts_the_old_replica_that_still_serves(tmp_path: Path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        result = await ctl.apply(manifest(WEB.format(version=1)))
        assert result.ok, result
        reps = ctl.query().replicas("web")
        assert len(reps) == 3 and all(r.state == ReplicaState.RUNNING for r in reps)
        assert [(s.desired, s.running, s.healthy) for s in ctl.query().service_rows()] == [(3, 3, 3)]

        # batch 1 of a start-first rollout: web.1's new replica starts, its old one serves on
        old = reps[0]
        new = dataclasses.replace(old, revision=2, state=ReplicaState.STARTING, health=Health.STARTING,
                                  container_id="new")
        ro = Rollout("web", 1, 2, RolloutState.RUNNING, order="start-first", batch=1, batches=3, total=3,
                     updated=1, retiring=((old.key, json.dumps(to_dict(old), sort_keys=True)),))
        during = [new, *reps[1:]]
        row, = ctl.query().service_rows(during, {"web": ro})
        assert (row.desired, row.running, row.healthy) == (3, 3, 3)

        # stop-first (nothing retiring): the replaced replica is down meanwhile, and it shows
        row, = ctl.query().service_rows(during, {"web": dataclasses.replace(ro, order="stop-first", retiring=())})
        assert (row.desired, row.running, row.healthy) == (3, 2, 2)


def test_a_replica_state_and_its_reason_read_as_one_phrase() -> None:
    assert state_cell(ReplicaState.EXITED, "exited with code 1").plain == "exited with code 1"
    assert state_cell(ReplicaState.PENDING, "no node fits: cpu").plain == "pending no node fits: cpu"
    assert state_cell(ReplicaState.EXITED, "").plain == "exited"
    assert state_cell(ReplicaState.RUNNING, "was restarted").plain == "running"


async def test_counts_leave_out_a_not_ready_node_and_a_global_service_wants_one_per_node(tmp_path: Path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest())).ok
        rows = {r.name: r for r in ctl.query().service_rows()}
        assert (rows["agent"].desired, rows["agent"].running) == (3, 3)
        on_1 = sum(1 for r in ctl.query().replicas("api") if r.node == "sim-1")
        ctl.query().node("sim-1").fail()
        rows = {r.name: r for r in ctl.query().service_rows()}
        assert (rows["agent"].desired, rows["agent"].running) == (2, 2)
        assert rows["api"].running == 3 - on_1  # their containers are not known to run


async def test_a_paused_rollout_is_counted_and_drain_says_the_global_replica_stops(tmp_path: Path) -> None:
    from tui_orch.ui.actions import drain_question

    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest())).ok
        ro = Rollout("api", 1, 2, RolloutState.PAUSED, batch=1, batches=3, total=3, updated=1)
        ctl.ctx.store.put_rollout("api", to_dict(ro))
        assert ctl.query().summary(0).rollouts_active == 1
        on_1 = [r for r in ctl.query().replicas() if r.node == "sim-1"]
        moving = sum(1 for r in on_1 if r.service != "agent")
        assert drain_question(ctl.query(), "sim-1") == (
            f"Drain sim-1: it gets nothing new, {moving} replica{'s' if moving != 1 else ''} move to other "
            "nodes and 1 of global service agent stops?")


def test_removing_a_service_without_replicas_is_not_nothing_to_do() -> None:
    from tui_orch.ui.actions import result_sentence

    assert result_sentence("remove api", ApplyResult(), empty="removed (it had no replicas)")[0] == \
        "remove api: removed (it had no replicas)"


def test_rollout_status_json_holds_the_retiring_replicas_as_objects() -> None:
    from tui_orch.cli_rollout import status_json

    ro = Rollout("web", 1, 2, RolloutState.RUNNING, order="start-first", batch=1, batches=3, total=3,
                 retiring=(("web.1.sim-1", json.dumps({"service": "web", "slot": 1})),))
    out = status_json(ro, "web")
    assert out["retiring"] == [{"key": "web.1.sim-1", "replica": {"service": "web", "slot": 1}}]
    assert json.loads(json.dumps(out))["state"] == "running"
