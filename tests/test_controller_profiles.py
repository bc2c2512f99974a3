"""Profiles on apply, on simulated nodes: a service left out by the active profiles is not
deployed, and an apply without its profile leaves it alone once deployed (as compose up)."""

from __future__ import annotations

from textwrap import dedent

from tui_orch.manifest import parse_manifest
from ui_support import sim_controller

STACK = dedent("""
    services:
      web: {image: tuiorch/api:1}
      debug: {image: tuiorch/api:1, profiles: [debug]}
""")


async def test_profiles_choose_what_apply_deploys_and_leave_earlier_ones_alone(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        plain = parse_manifest(STACK, "app.yaml", environ={})
        assert plain.left_out == (("debug", ("debug",)),)
        assert (await ctl.apply(plain)).started == ["web.1"]
        assert [r.service for r in ctl.query().replicas()] == ["web"]
        with_debug = parse_manifest(STACK, "app.yaml", environ={}, profiles=["debug"])
        assert (await ctl.apply(with_debug)).started == ["debug.1"]
        result = await ctl.apply(plain)  # without the profile: debug keeps running
        assert result.ok and result.stopped == [] and result.unchanged == ["web"]
        assert sorted(r.service for r in ctl.query().replicas()) == ["debug", "web"]
