"""The CLI's read verbs (get, events, rollout status) on a state folder a simulated fleet
wrote: they read it through the controller's read side (controller/query.py), as the
console does, and agree with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_orch.cli import main as run
from ui_support import manifest, sim_controller

INVENTORY = """
nodes:
  - {name: sim-1, address: 127.0.0.9}
  - {name: sim-2, address: 127.0.0.9}
  - {name: sim-3, address: 127.0.0.9}
"""


@pytest.fixture
async def state(tmp_path: Path) -> tuple[str, str]:
    """(state folder, inventory) of three services deployed on 3 simulated nodes."""
    async with sim_controller(tmp_path / "state") as (ctl, sim):
        result = await ctl.apply(manifest())
        assert result.ok, result
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    return str(tmp_path / "state"), str(tmp_path / "inventory.yaml")


def test_get_services_counts_a_global_service_per_node(state, capsys):
    folder, inventory = state
    assert run(["get", "services", "--cached", "-o", "json", "--state", folder, "--inventory", inventory]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["agent"]["mode"], rows["agent"]["desired"], rows["agent"]["running"]) == ("global", 3, 3)
    assert (rows["api"]["desired"], rows["api"]["running"]) == (3, 3)
    assert run(["get", "services", "--cached", "--state", folder, "--inventory", inventory]) == 0
    agent = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("agent"))
    assert agent.split()[3:5] == ["3", "3"], agent  # NAME REVISION IMAGE DESIRED RUNNING


def test_events_json_is_one_object_per_line(state, capsys):
    folder, _ = state
    assert run(["events", "-o", "json", "--state", folder]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert events and all({"kind", "message", "time"} <= set(e) for e in events)
    assert any(e["kind"] == "deploy" and e["service"] == "api" for e in events)


def test_rollout_status_json_without_a_rollout_is_an_object(state, capsys):
    folder, _ = state
    assert run(["rollout", "status", "api", "-o", "json", "--state", folder]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"service": "api", "state": "none", "message": "api: no rollout yet"}


async def test_get_services_does_not_count_a_draining_node_for_a_global_service(tmp_path, capsys):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest())).ok
        await ctl.drain("sim-3")
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    common = ["--state", str(tmp_path / "state"), "--inventory", str(tmp_path / "inventory.yaml")]
    assert run(["get", "services", "--cached", "-o", "json", *common]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["agent"]["desired"], rows["agent"]["running"]) == (2, 2)


def test_rollout_history_says_who_applied_each_revision_and_what_changed(state, capsys):
    from tui_orch.controller.context import applier

    folder, inventory = state
    assert run(["rollout", "history", "api", "-o", "json", "--state", folder, "--inventory", inventory]) == 0
    [rev] = json.loads(capsys.readouterr().out)
    assert (rev["revision"], rev["current"], rev["applied_by"]) == (1, True, applier())
    assert rev["change"] == "first kept: tuiorch/busybox:1" and rev["cause"] == "apply test.yaml"
    assert run(["rollout", "history", "api", "--state", folder, "--inventory", inventory]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("*    1") and applier() in line and "tuiorch/busybox:1" in line, line
