"""``Controller.volume_move`` on simulated nodes (fast, no lab): the replica moves with its
data and its volume home; everything that can be checked is checked before anything
changes; a failed copy puts everything back. The lab tests (test_cli_volume.py) do the same
with real engines."""

from __future__ import annotations

import pytest

from tui_orch.controller.volume_move import MoveFailed, named_volumes, parse_replica
from tui_orch.errors import NodeError, TuiOrchError
from tui_orch.model import ReplicaState
from ui_support import manifest, sim_controller
from volume_support import DB, FILES, give_data

def test_parse_replica_and_named_volumes() -> None:
    assert parse_replica("db") == ("db", None) and parse_replica("db.2") == ("db", 2)
    assert parse_replica("my.app") == ("my.app", None)
    spec = manifest(DB.format(n=1)).services[0]
    assert named_volumes(spec) == ("shop_data",)
    external = manifest(DB.format(n=1).replace("data: {}", "data: {external: true}")).services[0]
    with pytest.raises(TuiOrchError, match="external"):
        named_volumes(external)


async def test_a_replica_moves_with_its_data_and_home(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(DB.format(n=1)))).ok
        old, volume = give_data(ctl, "db.1")
        target = next(n for n in ctl.ctx.fleet.nodes if n != old)
        seen = []
        result = await ctl.volume_move("db", target, lambda *a: seen.append(a))
        rep = ctl.query().replica("db.1")
        assert (rep.node, rep.state) == (target, ReplicaState.RUNNING)
        nodes = ctl.ctx.fleet.nodes
        assert nodes[target].volumes.volumes[volume].files == FILES
        assert volume not in nodes[old].volumes.volumes  # removed only after the start
        assert [(h.replica, h.volume, h.node) for h in ctl.ctx.store.volume_homes()] == [("db.1", volume, target)]
        copy = result.copies[0]
        assert copy.source_checksum == copy.target_checksum and copy.files == 2
        assert seen and seen[0][:2] == (volume, "copy")
        assert f"db.1 moved from {old} to {target}" in result.sentence()


async def test_refusals_change_nothing(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(DB.format(n=2)))).ok
        with pytest.raises(TuiOrchError, match=r"has 2 replicas \(slots 1, 2\); name one"):
            await ctl.volume_move("db", "sim-1")
        with pytest.raises(TuiOrchError, match="no node nowhere"):
            await ctl.volume_move("db.1", "nowhere")
        with pytest.raises(TuiOrchError, match="there is no service web"):
            await ctl.volume_move("web", "sim-1")
        rep = ctl.query().replica("db.1")
        with pytest.raises(TuiOrchError, match=f"already runs on {rep.node}"):
            await ctl.volume_move("db.1", rep.node)
        other = next(n for n in ctl.ctx.fleet.nodes if n != rep.node)
        del ctl.ctx.fleet.nodes[rep.node].volumes.volumes["shop_data"]  # removed behind tui-orch's back
        with pytest.raises(TuiOrchError, match="volume shop_data of db.1 is not on"):
            await ctl.volume_move("db.1", other)
        ctl.ctx.fleet.nodes[other].fail("network cut")
        with pytest.raises(TuiOrchError, match=f"node {other} \\(the destination\\) is NotReady"):
            await ctl.volume_move("db.1", other)
        assert ctl.query().replica("db.1") == rep  # untouched


def everything_back(ctl, old: str, target: str, volume: str) -> None:
    """As before the move: the replica runs on its old node with its data; nothing on the target."""
    nodes = ctl.ctx.fleet.nodes
    rep = ctl.query().replica("db.1")
    assert (rep.node, rep.state) == (old, ReplicaState.RUNNING)
    assert nodes[old].volumes.volumes[volume].files == FILES
    assert volume not in nodes[target].volumes.volumes
    assert [(h.volume, h.node) for h in ctl.ctx.store.volume_homes()] == [(volume, old)]


@pytest.mark.parametrize("fault", ["copy", "start"])
async def test_a_failure_puts_the_replica_back_with_its_data(tmp_path, fault: str) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(DB.format(n=1)))).ok
        old, volume = give_data(ctl, "db.1")
        target = next(n for n in ctl.ctx.fleet.nodes if n != old)

        async def broken(*_args, **_kw):
            raise NodeError(target, "the disk is full")
        if fault == "copy":
            ctl.ctx.fleet.nodes[target].copy_volume_from = broken  # type: ignore[method-assign]
            why = f"copying the data failed: {target}: the disk is full"
        else:  # the copy is made, the replica cannot start there
            ctl.ctx.fleet.nodes[target].run_container = broken  # type: ignore[method-assign]
            why = f"it did not pass its health gate on {target} \\(.*the disk is full\\)"
        with pytest.raises(MoveFailed, match=f"volume move of db.1 to {target} failed: {why}; "
                           f"db.1 runs on {old} again with its data there"):
            await ctl.volume_move("db.1", target)
        everything_back(ctl, old, target, volume)
