"""Secrets and configs delivered to simulated nodes (fast, no lab): content-addressed files in
the node's tmpfs folder, bound at their targets; a changed secret rolls the service out; files
no replica of a node uses are removed; a later process without the value gets it from a node."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui_orch.controller import delivery
from tui_orch.errors import ManifestError, NodeError
from tui_orch.manifest import load_manifest
from ui_support import sim_controller

PLANTED = "s3cr3t-4f9e21-UNIQUE"
STACK = """\
secrets:
  db_password: {{environment: TEST_DB_PASSWORD}}
configs:
  motd: {{content: "hello"}}
services:
  db:
    image: tuiorch/db:1
    deploy: {{replicas: {n}}}
    secrets: [db_password]
    configs: [{{source: motd, target: /etc/motd, mode: 0440}}]
"""


def load(tmp_path: Path, n: int, value: str = PLANTED):
    (tmp_path / "compose.yaml").write_text(STACK.format(n=n))
    return load_manifest(tmp_path / "compose.yaml", environ={"TEST_DB_PASSWORD": value})


def delivered(ctl) -> dict[str, dict[str, bytes]]:
    return {name: dict(node.files) for name, node in ctl.ctx.fleet.nodes.items() if node.files}


async def test_secrets_reach_the_nodes_and_leave_them(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load(tmp_path, 2))).ok
        reps = ctl.query().replicas("db")
        assert len(reps) == 2
        for rep in reps:
            node = ctl.ctx.fleet.nodes[rep.node]
            binds = dict((t, s) for s, t in node.binds[rep.container_id])
            assert set(binds) == {"/run/secrets/db_password", "/etc/motd"}
            assert node.files[binds["/run/secrets/db_password"]] == PLANTED.encode()
            assert binds["/etc/motd"].startswith(f"/dev/shm/tui-orch/{ctl.ctx.owner}/{rep.node}/")
            assert binds["/etc/motd"].endswith("-0-0-440") and node.files[binds["/etc/motd"]] == b"hello"
        # the value is in no file of the state folder
        for path in (tmp_path / "state").rglob("*"):
            if path.is_file():
                assert PLANTED.encode() not in path.read_bytes(), path
        # a changed secret is a new revision, rolled out; the old copies go
        result = await ctl.apply(load(tmp_path, 2, PLANTED + "-v2"))
        assert result.ok, result
        assert {r.revision for r in ctl.query().replicas("db")} == {2}
        values = [v for files in delivered(ctl).values() for v in files.values()]
        assert sorted(values) == sorted([(PLANTED + "-v2").encode(), b"hello"] * 2)
        # no replica left: no file left
        assert (await ctl.apply(load(tmp_path, 0, PLANTED + "-v2"))).ok
        assert delivered(ctl) == {}


async def test_a_process_without_the_value_copies_it_from_a_node(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load(tmp_path, 1))).ok
        spec = ctl.ctx.store.revision("db", 1).spec
        ctl.ctx.held.clear()  # as in the console that runs after `apply` exited
        has = next(iter(delivered(ctl)))
        other = next(n for name, n in ctl.ctx.fleet.nodes.items() if name != has)
        binds = await delivery.deliver(ctl.ctx, other, spec)
        assert other.files[dict((t, s) for s, t in binds)["/run/secrets/db_password"]] == PLANTED.encode()
        # no node has it and this process lacks it: one line that says what to do
        for node in ctl.ctx.fleet.nodes.values():
            node.files.clear()
        ctl.ctx.held.clear()
        with pytest.raises(NodeError, match="secret db_password: the variable TEST_DB_PASSWORD no longer holds "
                                            "what was applied and no node has a copy; run apply again"):
            await delivery.deliver(ctl.ctx, other, spec)


LOCAL = """\
services:
  web:
    image: tuiorch/web:1
    volumes: ["./site.conf:/etc/site.conf:ro"]
"""


async def test_a_relative_bind_mount_is_copied_and_a_change_rolls_out(tmp_path):
    (tmp_path / "compose.yaml").write_text(LOCAL)
    (tmp_path / "site.conf").write_text("v1\n")
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load_manifest(tmp_path / "compose.yaml"))).ok
        rep = ctl.query().replicas("web")[0]
        node = ctl.ctx.fleet.nodes[rep.node]
        assert [node.files[src] for src, target in node.binds[rep.container_id]
                if target == "/etc/site.conf"] == [b"v1\n"]
        (tmp_path / "site.conf").write_text("v2\n")
        assert (await ctl.apply(load_manifest(tmp_path / "compose.yaml"))).ok
        rep = ctl.query().replicas("web")[0]
        node = ctl.ctx.fleet.nodes[rep.node]
        assert rep.revision == 2
        assert [node.files[src] for src, target in node.binds[rep.container_id]
                if target == "/etc/site.conf"] == [b"v2\n"]
        assert sorted(v for files in delivered(ctl).values() for v in files.values()) == [b"v2\n"]
        (tmp_path / "site.conf").unlink()
        with pytest.raises(ManifestError, match="site.conf not found; create it"):
            await ctl.apply(load_manifest(tmp_path / "compose.yaml"))


FOLDER = """\
services:
  web:
    image: tuiorch/web:1
    deploy: {{replicas: {n}}}
    volumes: ["./site:/usr/share/nginx/html:ro"]
"""


def trees(ctl) -> dict[str, dict[str, bytes]]:
    return {path: files for node in ctl.ctx.fleet.nodes.values() for path, files in node.trees.items()}


async def test_a_relative_folder_is_copied_by_digest_a_change_rolls_out_and_it_leaves(tmp_path):
    (tmp_path / "site/css").mkdir(parents=True)
    (tmp_path / "site/index.html").write_text("v1\n")
    (tmp_path / "site/css/a.css").write_text("body {}\n")

    def load(n: int):
        (tmp_path / "compose.yaml").write_text(FOLDER.format(n=n))
        return load_manifest(tmp_path / "compose.yaml")

    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        assert (await ctl.apply(load(2))).ok
        for rep in ctl.query().replicas("web"):
            node = ctl.ctx.fleet.nodes[rep.node]
            (src,) = [s for s, t in node.binds[rep.container_id] if t == "/usr/share/nginx/html"]
            assert src.startswith(f"/dev/shm/tui-orch/{ctl.ctx.owner}/{rep.node}/tree-")
            assert node.trees[src] == {"index.html": b"v1\n", "css/a.css": b"body {}\n"}
        # unchanged: nothing starts
        again = await ctl.apply(load(2))
        assert again.ok and {r.revision for r in ctl.query().replicas("web")} == {1}
        # a changed file in the folder: a new revision, rolled out; the old trees go
        (tmp_path / "site/css/a.css").write_text("body { color: red }\n")
        assert (await ctl.apply(load(2))).ok
        assert {r.revision for r in ctl.query().replicas("web")} == {2}
        assert [files["css/a.css"] for files in trees(ctl).values()] == [b"body { color: red }\n"] * 2
        # the process that applied is gone: the folder is read again when unchanged
        ctl.ctx.trees.clear()
        other = next(n for n in ctl.ctx.fleet.nodes.values() if not n.trees)
        binds = await delivery.deliver(ctl.ctx, other, ctl.ctx.store.revision("web", 2).spec)
        assert other.trees[binds[0][0]]["index.html"] == b"v1\n"
        ctl.ctx.trees.clear()
        (tmp_path / "site/index.html").write_text("v3\n")
        other.trees.clear()
        with pytest.raises(NodeError, match=r"the folder .*/site no longer holds what was applied; run apply again"):
            await delivery.deliver(ctl.ctx, other, ctl.ctx.store.revision("web", 2).spec)
        # no replica left: no folder left
        assert (await ctl.apply(load(0))).ok
        assert trees(ctl) == {}


async def test_a_folder_apply_refuses_names_the_path(tmp_path):
    (tmp_path / "compose.yaml").write_text(FOLDER.format(n=1))
    (tmp_path / "site").mkdir()
    (tmp_path / "site/ok.txt").write_text("x")
    manifest = load_manifest(tmp_path / "compose.yaml")
    os.mkfifo(tmp_path / "site/pipe")  # appeared after validate: apply refuses it too
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        with pytest.raises(ManifestError, match=r"services.web.volumes: .*/site holds pipe, a named pipe \(FIFO\)"):
            await ctl.apply(manifest)
        assert ctl.query().replicas("web") == []


async def test_pruning_many_nodes_reads_the_records_once(tmp_path):
    """delivery.prune on 60 nodes that each hold a file: one look at the records for all of
    them (it was one per node: 1,000 nodes x 1,000 replicas held the console's loop for a
    second at every full pass), and the files no replica uses are gone."""
    async with sim_controller(tmp_path / "state", count=60) as (ctl, _sim):
        nodes = list(ctl.ctx.fleet.nodes.values())
        for node in nodes:
            await node.put_file(os.path.join(delivery.folder(ctl.ctx.owner, node.name), "stale-0-0-292"),
                                b"x", 0o444, 0, 0)
        reads = 0
        replicas = ctl.ctx.store.replicas

        def counted(*args, **kwargs):
            nonlocal reads
            reads += 1
            return replicas(*args, **kwargs)

        ctl.ctx.store.replicas = counted  # type: ignore[method-assign]
        await delivery.prune(ctl.ctx, nodes)
        assert reads == 1
        for n in nodes:
            assert await n.list_files(delivery.folder(ctl.ctx.owner, n.name)) == [], n.name
