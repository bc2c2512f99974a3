"""`apply` to a controller on another machine (control/shipping.py), on simulated nodes: the
manifest is read where the operator is, shipped with the bytes it needs, and the controller
deploys it without reading any path of the operator's. What a user checks: secrets, configs
and bound files and folders reach the nodes byte for byte, even when the operator's folder
is gone by the time the controller works; what was tampered with on the way is refused; a
build context cannot be shipped and says what to do instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_orch.control.shipping import ship, unship
from tui_orch.errors import TuiOrchError
from tui_orch.manifest import load_manifest
from ui_support import sim_controller

PLANTED = "s3cr3t-ship-7c1d"
STACK = """\
secrets:
  token: {file: ./token.txt}
configs:
  motd: {content: "hello from afar"}
services:
  app:
    image: tuiorch/app:1
    deploy: {replicas: 2}
    secrets: [token]
    configs: [{source: motd, target: /etc/motd}]
    volumes:
      - ./conf/app.conf:/etc/app.conf:ro
      - ./site:/srv/site:ro
"""


def operator_folder(root: Path) -> Path:
    app = root / "app"
    (app / "conf").mkdir(parents=True)
    (app / "site" / "img").mkdir(parents=True)
    (app / "compose.yaml").write_text(STACK)
    (app / "token.txt").write_text(PLANTED)
    (app / "conf" / "app.conf").write_text("listen 8080\n")
    (app / "site" / "index.html").write_text("<h1>hi</h1>\n")
    (app / "site" / "img" / "logo.svg").write_text("<svg/>\n")
    return app


async def test_a_shipped_manifest_deploys_without_the_operators_files(tmp_path):
    app = operator_folder(tmp_path)
    payload = json.loads(json.dumps(ship(load_manifest(app / "compose.yaml"))))  # as it travels
    app.rename(tmp_path / "gone")  # nothing of the operator's machine is left to read
    manifest, files, trees = unship(payload)
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        result = await ctl.apply(manifest, shipped=(files, trees))
        assert result.ok, result
        reps = ctl.query().replicas("app")
        assert len(reps) == 2
        # the service's part of the Compose file travels too: the console's `y` shows it as applied
        assert ctl.query().current_revision("app").compose.startswith("services:\n  app:\n")
        for rep in reps:
            node = ctl.ctx.fleet.nodes[rep.node]
            binds = dict((t, s) for s, t in node.binds[rep.container_id])
            assert node.files[binds["/run/secrets/token"]] == PLANTED.encode()
            assert node.files[binds["/etc/motd"]] == b"hello from afar"
            assert node.files[binds["/etc/app.conf"]] == b"listen 8080\n"
            assert node.trees[binds["/srv/site"]] == {"index.html": b"<h1>hi</h1>\n", "img/logo.svg": b"<svg/>\n"}
        # the same manifest shipped again is no change; a changed file is a new revision
        again, files, trees = unship(payload)
        assert (await ctl.apply(again, shipped=(files, trees))).unchanged == ["app"]
        (tmp_path / "gone").rename(app)
        (app / "conf" / "app.conf").write_text("listen 9090\n")
        changed, files, trees = unship(json.loads(json.dumps(ship(load_manifest(app / "compose.yaml")))))
        result = await ctl.apply(changed, shipped=(files, trees))
        assert result.ok and result.revisions == {"app": 2}, result
    for path in (tmp_path / "state").rglob("*"):  # the secret is in no state file
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


def test_what_was_changed_on_the_way_is_refused(tmp_path):
    app = operator_folder(tmp_path)
    payload = ship(load_manifest(app / "compose.yaml"))
    for part in ("files", "values"):
        bad = json.loads(json.dumps(payload))
        digest = next(iter(bad[part]))
        bad[part][digest] = "aGFja2Vk"  # base64 of "hacked"
        with pytest.raises(TuiOrchError, match="does not match its digest"):
            unship(bad)
    bad = json.loads(json.dumps(payload))
    tree = next(iter(bad["trees"].values()))
    tree[-1][3] = "aGFja2Vk"
    with pytest.raises(TuiOrchError, match="does not match its digest"):
        unship(bad)
    for garbled in ({}, {"services": "x"}, {**payload, "services": [{"name": 3}]}):
        with pytest.raises(TuiOrchError, match="cannot be read"):
            unship(garbled)


def test_a_build_context_is_not_shipped(tmp_path):
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    build: ./ctx\n")
    with pytest.raises(TuiOrchError, match="push the image to a registry"):
        ship(load_manifest(tmp_path / "compose.yaml"))
