"""Service mounts reach the container (issue 12): named volumes, binds of node paths, tmpfs and
volumes_from go into the create call's HostConfig (pure), named volumes are created on the
replica's node with tui-orch's labels before it starts, an external one must be there, and
volumes_from is honoured on the same node only (simulated nodes). The lab tests
(test_controller_volumes_lab.py) check the same with real engines."""

from __future__ import annotations

import textwrap

from tui_orch.controller.containers import LABEL_OWNER, container_request
from tui_orch.manifest import parse_manifest
from tui_orch.model import NodeInfo, ReplicaState, Resources
from tui_orch.nodes.base import LABEL_VOLUME
from tui_orch.nodes.mounts import host_config_mounts, missing_bind
from tui_orch.placement import plan
from ui_support import manifest, sim_controller
from volume_support import DB as SHOP_DB

GiB = 1 << 30

STACK = """
name: shop
services:
  db:
    image: tuiorch/busybox:1
    volumes:
      - data:/var/lib/db
      - data:/relabelled:ro,Z
      - /srv/backups:/backups:ro,rshared
      - type: bind
        source: /etc/ssl/certs
        target: /certs
        read_only: true
        bind: {propagation: rslave}
      - type: bind
        source: /srv/made
        target: /made
        bind: {create_host_path: true}
      - type: volume
        source: logs
        target: /logs
        volume: {nocopy: true, subpath: db}
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 64m, mode: 1777}
      - ./db.conf:/etc/db.conf:ro
      - /cache
    tmpfs: ["/run:size=16m"]
volumes:
  data: {}
  logs: {name: shop-logs}
"""


def test_the_create_call_gets_every_mount(tmp_path) -> None:
    (tmp_path / "db.conf").write_text("x")
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(STACK))
    spec = parse_manifest(textwrap.dedent(STACK), str(tmp_path / "compose.yaml"), environ={}).services[0]
    req = container_request(spec, slot=1, node="n1", revision=1, volumes_from=("abc123:ro",))
    assert host_config_mounts(req.mounts, req.tmpfs, req.volumes_from) == {
        # short syntax and create_host_path: Binds, for which the engine makes a missing folder
        # a named volume to relabel for SELinux (z/Z) too: only the Binds form says it
        "Binds": ["shop_data:/relabelled:ro,Z", "/srv/backups:/backups:ro,rshared", "/srv/made:/made"],
        "Mounts": [
            {"Type": "volume", "Target": "/var/lib/db", "ReadOnly": False, "Source": "shop_data"},
            {"Type": "bind", "Target": "/certs", "ReadOnly": True, "Source": "/etc/ssl/certs",
             "BindOptions": {"Propagation": "rslave"}},
            {"Type": "volume", "Target": "/logs", "ReadOnly": False, "Source": "shop-logs",
             "VolumeOptions": {"NoCopy": True, "Subpath": "db"}},
            {"Type": "tmpfs", "Target": "/scratch", "ReadOnly": False,
             "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1777}},
            {"Type": "volume", "Target": "/cache", "ReadOnly": False},  # anonymous
        ],
        "Tmpfs": {"/run": "size=16m"},
        "VolumesFrom": ["abc123:ro"],
    }
    # the file of the operator's machine is delivered, not bound from a path on the node
    assert all(m.source != str(tmp_path / "db.conf") for m in req.mounts)


def test_a_missing_bind_path_is_one_clear_line() -> None:
    engine = 'invalid mount config for type "bind": bind source path does not exist: /srv/nope'
    assert missing_bind(engine) == ("the bind source /srv/nope does not exist on this node; create it there, "
                                    "or set bind.create_host_path: true (or use the short syntax) to have it created")
    assert missing_bind("something else") is None


def test_the_plan_warns_about_the_docker_socket() -> None:
    text = "services:\n  proxy:\n    image: traefik\n    volumes: ['/var/run/docker.sock:/var/run/docker.sock:ro']\n"
    spec = parse_manifest(text, "proxy.yaml", environ={}).services[0]
    p = plan([spec], [NodeInfo("n1", Resources(2, 4 * GiB))])
    notes = [line for line in p.describe().splitlines() if "Docker socket" in line]
    assert notes == ["note: proxy mounts the Docker socket (/var/run/docker.sock): its containers control the Docker "
                     "engine of the node they run on"]  # once


DB = SHOP_DB.format(n=1).replace("data: {}", "data: {driver: local, driver_opts: {type: tmpfs, device: tmpfs}, "
                                                  "labels: {team: data}}")


async def test_a_named_volume_is_made_on_the_replicas_node_and_mounted(tmp_path) -> None:
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(manifest(DB))).ok
        rep = ctl.query().replica("db.1")
        nodes = ctl.ctx.fleet.nodes
        made = nodes[rep.node].volumes.volumes["shop_data"]
        assert made.labels == {"team": "data", LABEL_VOLUME: "data", LABEL_OWNER: ctl.ctx.owner}
        assert [name for name, n in nodes.items() if "shop_data" in n.volumes.volumes] == [rep.node]
        [v] = await nodes[rep.node].list_volumes()
        assert (v.name, v.users) == ("shop_data", (nodes[rep.node].containers[rep.container_id].name,))
        # a restart on the same node uses the same volume (its data), never a new one
        await nodes[rep.node].remove_container(rep.container_id)
        assert (await ctl.apply(manifest(DB))).ok
        again = ctl.query().replica("db.1")
        assert again.node == rep.node and nodes[rep.node].volumes.volumes["shop_data"] is made


async def test_a_missing_external_volume_fails_the_start_in_one_line(tmp_path) -> None:
    async with sim_controller(tmp_path / "state", count=1) as (ctl, _sim):
        await ctl.apply(manifest(DB.replace("{driver: local, driver_opts: {type: tmpfs, device: tmpfs}, "
                                            "labels: {team: data}}", "{external: true, name: pgdata}")))
        rep = ctl.query().replica("db.1")
        assert rep.state == ReplicaState.EXITED
        assert rep.message == ("sim-1: external volume pgdata (volumes.data) does not exist on this node; create it "
                               "there (docker volume create pgdata), or drop external: true to let tui-orch create it")
        assert "pgdata" not in ctl.ctx.fleet.nodes["sim-1"].volumes.volumes


SIDECAR = """
services:
  app:
    image: tuiorch/busybox:1
    volumes: ["/srv/app:/app"]
    deploy: {{placement: {{constraints: ["node.hostname == {app}.sim"]}}}}
  backup:
    image: tuiorch/busybox:1
    volumes_from: ["app:ro"]
    deploy: {{placement: {{constraints: ["node.hostname == {backup}.sim"]}}}}
    depends_on: [app]
"""


async def test_volumes_from_is_honoured_on_the_same_node(tmp_path) -> None:
    async with sim_controller(tmp_path / "state", count=2) as (ctl, _sim):
        assert (await ctl.apply(manifest(SIDECAR.format(app="sim-2", backup="sim-2")))).ok
        app, backup = ctl.query().replica("app.1"), ctl.query().replica("backup.1")
        assert (app.node, backup.node, backup.state) == ("sim-2", "sim-2", ReplicaState.RUNNING)
        assert ctl.ctx.fleet.nodes["sim-2"].mounted[backup.container_id].volumes_from == (f"{app.container_id}:ro",)


async def test_volumes_from_another_node_fails_the_start_in_one_line(tmp_path) -> None:
    async with sim_controller(tmp_path / "state", count=2) as (ctl, _sim):
        result = await ctl.apply(manifest(SIDECAR.format(app="sim-1", backup="sim-2")))
        assert ("note: backup mounts the volumes of app (volumes_from): a replica starts only on a node where app "
                "has one") in result.plan.splitlines()
        assert ctl.query().replica("app.1").state == ReplicaState.RUNNING
        backup = ctl.query().replica("backup.1")
        assert (backup.node, backup.state) == ("sim-2", ReplicaState.EXITED)
        assert backup.message == (
            "sim-2: backup mounts the volumes of app (volumes_from), which has no replica on this node; "
            "volumes_from works on the same node only: run app there (e.g. deploy.mode: global) or share a "
            "named volume instead")
