"""Building at apply, on simulated nodes (fast, no lab): where the build runs, the spec the
built image gives (same image: no new revision; new image: a rollout to it), a failed build
changing nothing, and a dry run building nothing. The engine's build itself is replaced by a
stand-in here (what the lab tests do for real: tests/test_build_lab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_orch.controller import building
from tui_orch.errors import BuildFailed, TuiOrchError
from tui_orch.manifest import load_manifest
from ui_support import sim_controller

ID1 = "sha256:" + "1" * 64
ID2 = "sha256:" + "2" * 64


def write(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM tuiorch/busybox:1\n")
    path = tmp_path / "compose.yaml"
    path.write_text("name: shop\nservices:\n  web:\n    build: ./app\n    deploy: {replicas: 2, update_config: {monitor: 0s}}\n")
    return path


class FakeEngine:
    """Stands in for this machine's engine: returns the next image id, or fails."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.image_id = ID1
        self.fail = ""
        self.builds: list[tuple[str, str]] = []

        async def has() -> bool:
            return True

        async def build(service, spec, tag, on_line):  # type: ignore[no-untyped-def]
            self.builds.append((service, tag))
            on_line("Step 1/1 : FROM tuiorch/busybox:1")
            if self.fail:
                raise BuildFailed(f"the build of {service} failed on this machine: {self.fail}", (self.fail,))
            return self.image_id

        monkeypatch.setattr(building.engines, "has_local_engine", has)
        monkeypatch.setattr(building.engines, "build_here", build)


async def test_an_unchanged_image_is_no_new_revision_and_a_new_one_rolls_out(tmp_path: Path, monkeypatch) -> None:
    engine = FakeEngine(monkeypatch)
    m = load_manifest(write(tmp_path), environ={})
    lines: list[str] = []
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        first = await ctl.apply(m, output=lines.append)
        assert first.ok and first.revisions == {"web": 1}
        assert engine.builds == [("web", "shop-web")]
        assert lines == ["building web as shop-web on this machine", "web | Step 1/1 : FROM tuiorch/busybox:1",
                         "built web: shop-web:latest-111111111111"]
        assert ctl.query().spec("web").image == "shop-web:latest-111111111111"
        assert ctl.query().spec("web").build is None
        again = await ctl.apply(m)
        assert again.unchanged == ["web"] and not again.revisions and not again.rollouts
        engine.image_id = ID2
        changed = await ctl.apply(m)
        assert changed.revisions == {"web": 2} and changed.ok, changed
        assert {r.revision for r in ctl.query().replicas("web")} == {2}
        assert ctl.query().spec("web").image == "shop-web:latest-222222222222"


async def test_a_failed_build_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    engine = FakeEngine(monkeypatch)
    m = load_manifest(write(tmp_path), environ={})
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(m)).ok
        before = [(r.key, r.revision, r.container_id) for r in ctl.query().replicas("web")]
        engine.image_id, engine.fail = ID2, "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        with pytest.raises(BuildFailed, match="returned a non-zero code: 3"):
            await ctl.apply(m)
        assert [(r.key, r.revision, r.container_id) for r in ctl.query().replicas("web")] == before
        assert ctl.query().spec("web").image == "shop-web:latest-111111111111"


async def test_a_dry_run_builds_nothing_and_plans_with_the_last_image(tmp_path: Path, monkeypatch) -> None:
    engine = FakeEngine(monkeypatch)
    m = load_manifest(write(tmp_path), environ={})
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        fresh = await ctl.apply(m, dry_run=True)
        assert fresh.unchanged == [] and "2 to start" in fresh.plan and engine.builds == []
        await ctl.apply(m)
        dry = await ctl.apply(m, dry_run=True)
        assert dry.unchanged == ["web"] and len(engine.builds) == 1
        assert f"note: web is built at apply (from {tmp_path / 'app'}); if its image changed, that starts a rollout" in dry.plan


async def test_where_it_builds(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine on this machine
    m = load_manifest(write(tmp_path), environ={})
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        with pytest.raises(TuiOrchError, match=r"^web has build: but this machine has no Docker Engine to build it "
                           r"\(DOCKER_HOST, or /var/run/docker.sock\): start one, or build on a node with "
                           r"--build-on NODE \(or build_on: NODE in the inventory\)$"):
            await ctl.apply(m)
        with pytest.raises(TuiOrchError, match=r"^cannot build on nodeX: there is no such node in the inventory "
                           r"\(nodes: sim-1, sim-2, sim-3\)$"):
            await ctl.apply(m, build_on="nodeX")
        with pytest.raises(BuildFailed, match=r"^the build of web failed: sim-1: cannot build images here"):
            await ctl.apply(m, build_on="sim-1")
        assert ctl.query().spec("web") is None
