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
from tui_orch.ui import data
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
        reps = ctl.store.replicas("web")
        assert len(reps) == 3 and all(r.state == ReplicaState.RUNNING for r in reps)
        assert [(s.desired, s.running, s.healthy) for s in data.service_rows(ctl)] == [(3, 3, 3)]

        # batch 1 of a start-first rollout: web.1's new replica starts, its old one serves on
        old = reps[0]
        new = dataclasses.replace(old, revision=2, state=ReplicaState.STARTING, health=Health.STARTING,
                                  container_id="new")
        ro = Rollout("web", 1, 2, RolloutState.RUNNING, order="start-first", batch=1, batches=3, total=3,
                     updated=1, retiring=((old.key, json.dumps(to_dict(old), sort_keys=True)),))
        during = [new, *reps[1:]]
        row, = data.service_rows(ctl, during, {"web": ro})
        assert (row.desired, row.running, row.healthy) == (3, 3, 3)

        # stop-first (nothing retiring): the replaced replica is down meanwhile, and it shows
        row, = data.service_rows(ctl, during, {"web": dataclasses.replace(ro, order="stop-first", retiring=())})
        assert (row.desired, row.running, row.healthy) == (3, 2, 2)


def test_a_replica_state_and_its_reason_read_as_one_phrase() -> None:
    assert state_cell(ReplicaState.EXITED, "exited with code 1").plain == "exited with code 1"
    assert state_cell(ReplicaState.PENDING, "no node fits: cpu").plain == "pending no node fits: cpu"
    assert state_cell(ReplicaState.EXITED, "").plain == "exited"
    assert state_cell(ReplicaState.RUNNING, "was restarted").plain == "running"
