"""Cordon, drain and uncordon on the lab: a cordoned node keeps its replicas and gets no new
one; a drained node's replicas run on other nodes and none is left on it; uncordoned, it gets
replicas again. The CLI verbs print one line; an unknown node is one sentence."""

from __future__ import annotations

import json

from controller_support import controller, manifest, owned, prefix
from tui_orch.cli import main
from tui_orch.errors import TuiOrchError
from tui_orch.controller.availability import drain_plan
from tui_orch.model import Availability, ReplicaState
from tui_orch.placement import Plan
from tui_orch.placement.result import Start, Stop, Unschedulable
from tui_orch.store import open_store

import pytest

SERVICE = """
services:
  {pre}:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    network_mode: host
    stop_grace_period: 1s
    deploy:
      replicas: 3
      placement:
        max_replicas_per_node: 2
"""


def where(store, service: str) -> dict[str, str]:
    return {r.key: r.node for r in store.replicas(service) if r.state == ReplicaState.RUNNING}


def containers_on(lab, pre: str, node: str) -> list[dict]:
    return [c for c in owned(lab, pre)[node] if c["State"] in ("running", "restarting", "created")]


def test_drain_plan_keeps_only_the_moves_off_the_node():
    start = Start("web", 2, "b", (), 0.1, 0, 1.0, 0.1, 0.1, "replaces web.2 on a (a is draining)")
    other = Start("api", 1, "c", (), 0.1, 0, 1.0, 0.1, 0.1)
    full = Plan(starts=(start, other), stops=(Stop("web.2", "a", "a is draining"), Stop("api.3", "c", "scale down")),
                unschedulable=(Unschedulable("web", 3, "no node fits"), Unschedulable("api", 2, "no node fits")))
    p = drain_plan(full, "a")
    assert p.stops == (Stop("web.2", "a", "a is draining"),) and p.starts == (start,)
    assert p.unschedulable == ()
    full = Plan(stops=(Stop("web.3", "a", "a is draining"),), unschedulable=(Unschedulable("web", 3, "no node fits"),))
    assert drain_plan(full, "a").unschedulable == (Unschedulable("web", 3, "no node fits"),)


async def test_cordon_drain_uncordon(lab, tmp_path, capsys):
    pre = prefix()
    state = tmp_path / "state"
    async with controller(lab, state, pre) as (ctl, store, fleet):
        assert (await ctl.apply(manifest(SERVICE.format(pre=pre)))).ok
        await ctl.start()
        target = where(store, pre)[f"{pre}.1"]
        before = where(store, pre)

        said = await ctl.cordon(target)
        assert said.startswith(f"{target} cordoned") and "keeps its 1 replica" in said
        assert store.availability()[target] == Availability.CORDONED
        assert where(store, pre) == before  # nothing moved
        assert (await ctl.scale(pre, 4)).ok
        now = where(store, pre)
        assert now[f"{pre}.4"] != target and [k for k, n in now.items() if n == target] == [f"{pre}.1"]

        result = await ctl.drain(target)
        assert result.ok, result
        assert result.stopped == [f"{pre}.1"] and result.started == [f"{pre}.1"]
        moves = [e.kind for e in store.events(service=pre) if e.replica == f"{pre}.1" and e.kind in ("start", "stop")]
        assert moves[-2:] == ["stop", "start"]  # stop-first: stopped on the node, then started elsewhere
        assert store.availability()[target] == Availability.DRAINING
        now = where(store, pre)
        assert len(now) == 4 and target not in now.values()
        assert not containers_on(lab, pre, target)
        await ctl.reconciler.full_pass()  # the loop agrees: nothing goes back, nothing duplicated
        assert where(store, pre) == now
        assert sum(len(found) for found in owned(lab, pre).values()) == 4

        assert main(["get", "replicas", "-o", "json", "--state", str(state)]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert len(rows) == 4 and all(r["node"] != target for r in rows)

        said = await ctl.uncordon(target)
        assert said.startswith(f"{target} uncordoned")
        assert store.availability()[target] == Availability.ACTIVE
        assert (await ctl.scale(pre, 5)).ok  # the others hold 2 each (the maximum): it goes there
        assert where(store, pre)[f"{pre}.5"] == target
        kinds = [e.message.split(":")[0] for e in store.events() if e.kind == "node" and e.node == target]
        assert kinds == [f"{target} cordoned", f"{target} draining", f"{target} uncordoned"]


def test_cli_node_verbs(lab, tmp_path, capsys):
    state = str(tmp_path / "state")
    common = ["--state", state, "--inventory", str(lab.inventory)]
    assert main(["node", "cordon", "node2", *common]) == 0
    assert capsys.readouterr().out == "node2 cordoned: it keeps its 0 replicas and gets no new ones\n"
    with open_store(state, readonly=True) as store:
        assert store.availability() == {"node2": Availability.CORDONED}

    assert main(["node", "drain", "node2", *common]) == 0
    assert capsys.readouterr().out == "node2 drained: 0 replicas stopped there, 0 started on other nodes\n"

    assert main(["node", "uncordon", "node2", *common]) == 0
    assert capsys.readouterr().out == "node2 uncordoned: new replicas may be placed there again\n"
    with open_store(state, readonly=True) as store:
        assert store.availability() == {"node2": Availability.ACTIVE}
        assert [e.message.split(":")[0] for e in store.events() if e.kind == "node"] == [
            "node2 cordoned", "node2 draining", "node2 uncordoned"]

    assert main(["node", "drain", "node9", *common]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "tui-orch: there is no node node9 in the inventory; known nodes: node1, node2, node3\n"


@pytest.mark.parametrize("verb", ["cordon", "drain", "uncordon"])
def test_node_verbs_need_a_node(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["node", verb])
    assert exc.value.code == 2 and "NODE" in capsys.readouterr().err


async def test_drain_needs_a_known_node(lab, tmp_path):
    pre = prefix()
    async with controller(lab, tmp_path / "state", pre) as (ctl, store, fleet):
        for verb in (ctl.cordon, ctl.drain, ctl.uncordon):
            with pytest.raises(TuiOrchError, match="^there is no node nodeX in the inventory; known nodes: node1, "):
                await verb("nodeX")
        assert store.availability() == {}
