"""``volume ls`` / ``volume rm`` on simulated nodes: a volume shows the replica that uses it
(or whose data it holds); rm refuses both, removes a free one and forgets its home."""

from __future__ import annotations

import pytest

from tui_orch.controller.volume_ops import listing
from tui_orch.errors import TuiOrchError
from tui_orch.model import VolumeHome
from ui_support import manifest, sim_controller
from volume_support import DB, give_data


async def test_ls_and_rm(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(DB.format(n=1)))).ok
        node, volume = give_data(ctl, "db.1")
        other = next(n for n in ctl.ctx.fleet.nodes if n != node)
        ctl.ctx.fleet.nodes[other].volumes.create(volume)  # a stale copy elsewhere
        rows, trouble = await listing(ctl.ctx.fleet, homes=ctl.ctx.store.volume_homes())
        assert trouble == {}
        assert [(r.name, r.node, r.replicas, r.in_use, r.simulated) for r in rows] == sorted(
            [(volume, node, ("db.1",), True, True), (volume, other, (), False, True)], key=lambda r: r[1])
        with pytest.raises(TuiOrchError, match=f"volume {volume} is on .*; name one with --node NODE"):
            await ctl.volume_remove(volume)
        with pytest.raises(TuiOrchError, match=f"volume {volume} on {node} is used by replica db.1; "):
            await ctl.volume_remove(volume, node)
        # the data of a replica that waits (no container mounts it now) is refused too
        ctl.ctx.store.set_volume_home(VolumeHome("db.1", "db", volume, other))
        with pytest.raises(TuiOrchError, match=f"holds the data of replica db.1 \\(not running now\\)"):
            await ctl.volume_remove(volume, other)
        ctl.ctx.store.forget_volume_home("db.1")
        assert await ctl.volume_remove(volume, other) == f"volume {volume} removed from {other}"
        assert volume not in ctl.ctx.fleet.nodes[other].volumes.volumes
        with pytest.raises(TuiOrchError, match=f"there is no tui-orch volume {volume} on {other}"):
            await ctl.volume_remove(volume, other)
