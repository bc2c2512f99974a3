"""Two operators on one fleet never overwrite each other silently: a plan shown to one is
deployed only if the services it was made for are as they were (no apply, scale or remove of
another operator since); otherwise nothing is done and the deploy says who changed what."""

from __future__ import annotations

import pytest
from tui_orch.errors import PlanOutdated
from tui_orch.ui.dialogs import ConfirmDialog, DeployDialog
from ui_support import TWO_SERVICES, config, deploy_from_dialog, fleet, manifest, notes, open_console, until  # noqa: F401

CHANGED = TWO_SERVICES.replace("tuiorch/busybox:1\n    deploy:\n      replicas: 3", "tuiorch/busybox:2\n    deploy:\n      replicas: 3")


async def test_a_plan_is_deployed_only_as_it_was_made(fleet):
    ctl, _sim = fleet
    assert (await ctl.apply(manifest())).ok
    mine = await ctl.apply(manifest(CHANGED), dry_run=True)
    assert mine.basis["api"][0] == 1
    theirs = await ctl.apply(manifest(CHANGED.replace("busybox:2", "busybox:3"), "theirs.yaml"))
    assert theirs.ok and theirs.revisions == {"api": 2}
    with pytest.raises(PlanOutdated, match=r"since it was made, api is at revision 2 .*changed at \d\d:\d\d:\d\d"):
        await ctl.apply(manifest(CHANGED), expect=mine.basis)
    assert ctl.query().spec("api").image == "tuiorch/busybox:3"  # theirs stands, mine did nothing
    again = await ctl.apply(manifest(CHANGED), dry_run=True)
    done = await ctl.apply(manifest(CHANGED), expect=again.basis)
    assert done.ok and done.revisions == {"api": 3}


async def test_a_scale_or_a_remove_since_the_plan_is_named(fleet):
    ctl, _sim = fleet
    assert (await ctl.apply(manifest())).ok
    plan = await ctl.apply(manifest(CHANGED), dry_run=True)
    assert (await ctl.scale("api", 5)).ok
    with pytest.raises(PlanOutdated, match="api was scaled"):
        await ctl.apply(manifest(CHANGED), expect=plan.basis)
    plan = await ctl.apply(manifest(CHANGED), dry_run=True)
    assert (await ctl.remove("cache")).ok
    with pytest.raises(PlanOutdated, match="cache was removed"):
        await ctl.apply(manifest(CHANGED), expect=plan.basis)
    fresh = await ctl.apply(manifest(CHANGED), dry_run=True)
    assert (await ctl.apply(manifest(CHANGED), expect=fresh.basis)).ok


async def test_the_console_offers_a_new_plan_when_someone_deployed_first(fleet, tmp_path):
    ctl, sim = fleet
    assert (await ctl.apply(manifest())).ok
    path = tmp_path / "web.yaml"
    path.write_text(CHANGED)
    async with open_console(ctl, sim, config(tmp_path)) as (_ctl, _sim, app, pilot):
        async def another_operator_deploys() -> None:
            assert (await ctl.apply(manifest(CHANGED.replace("busybox:2", "busybox:3"), "theirs.yaml"))).ok

        await deploy_from_dialog(pilot, path, meanwhile=another_operator_deploys)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and "plan is out of date" in str(
            app.screen.query_one("#question").render()), what="the offer of a new plan")
        assert ctl.query().spec("api").image == "tuiorch/busybox:3"  # nothing of the old plan done
        assert not any("deploy web.yaml: done" in n for n in notes(app))
        await pilot.click("#confirm")
        await until(pilot, lambda: isinstance(app.screen, DeployDialog), what="the deploy dialog again")
