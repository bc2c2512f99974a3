"""Bringing images never holds the controller's lock: an apply first brings the images to
the nodes its plan (and its rollouts) will use, then starts replicas; meanwhile restarts and
other commands go on. Simulated nodes, with image copies replaced by a slow stand-in that
records whether the lock was held."""

from __future__ import annotations

import asyncio

from tui_orch.controller import deploy
from ui_support import manifest, sim_controller

ONE = """
services:
  {name}:
    image: {image}
    deploy:
      replicas: 3
      update_config: {{monitor: 0s, parallelism: 3}}
"""


async def test_image_copies_happen_outside_the_lock(tmp_path, monkeypatch):
    present: set[tuple[str, str]] = set()
    copies: list[tuple[str, str, bool]] = []  # node, image, lock held

    async def slow_bring(ctl, node, image):  # type: ignore[no-untyped-def]
        if (node.name, image) in present:
            return "present"
        copies.append((node.name, image, ctl.lock.locked()))
        await asyncio.sleep(0.5)
        present.add((node.name, image))
        return "copied"

    monkeypatch.setattr(deploy, "bring_image", slow_bring)
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        other = await ctl.apply(manifest(ONE.format(name="other", image="tuiorch/busybox:1")))
        assert other.ok
        copies.clear()
        # a new service and its image: copied to 3 nodes while the lock is free
        job = asyncio.create_task(ctl.apply(manifest(ONE.format(name="web", image="tuiorch/web:1"))))
        await asyncio.sleep(0.2)
        assert copies and not ctl.lock.locked()
        scaled = await asyncio.wait_for(ctl.scale("other", 2), 0.3)  # not held up by the copies
        assert scaled.ok
        assert (await job).ok
        assert sorted(node for node, _, _ in copies) == ["sim-1", "sim-2", "sim-3"]
        assert not any(held for _, _, held in copies), copies
        # a rolling update to a new image: brought to the nodes of the running replicas first
        copies.clear()
        result = await ctl.apply(manifest(ONE.format(name="web", image="tuiorch/web:2")))
        assert result.ok, result
        assert len(copies) == 3 and not any(held for _, _, held in copies), copies
        assert {r.revision for r in ctl.query().replicas("web")} == {2}
