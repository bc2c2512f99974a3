"""`tui-orch state export` / `import`: a real state (a deploy on simulated nodes: services,
revisions, replicas, events) goes out as one JSON document and comes back whole; a file that
is not an export, or a folder that is in use or holds another state, gets one clear message
and the target is left as it was."""

from __future__ import annotations

import json
import os
import stat

import pytest

from tui_orch.cli import main
from tui_orch.errors import StoreError, StoreLocked
from tui_orch.store import open_store
from tui_orch.store.portable import export_state, import_state
from ui_support import manifest, sim_controller


async def deployed_state(folder):
    async with sim_controller(folder) as (ctl, _sim):
        assert (await ctl.apply(manifest())).ok
        assert (await ctl.scale("api", 3)).ok


def summary(folder) -> tuple:
    store = open_store(folder, readonly=True)
    try:
        return (sorted((s.name, s.revision, s.replicas) for s in store.services()),
                sorted((r.key, r.node, r.container_id, r.state.value) for r in store.replicas()),
                [(e.time, e.kind, e.message) for e in store.events(limit=None)],
                {s.name: [r.number for r in store.revisions(s.name)] for s in store.services()})
    finally:
        store.close()


def files_of(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != "lock"}


async def test_a_state_goes_out_and_comes_back_whole(tmp_path, capsys):
    await deployed_state(tmp_path / "a")
    out = tmp_path / "backup.json"
    assert main(["state", "export", "-o", str(out), "--state", str(tmp_path / "a")]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    said = capsys.readouterr().out
    assert said.startswith("exported 3 services, 8 replicas,") and str(out) in said, said
    assert main(["state", "import", str(out), "--state", str(tmp_path / "b")]) == 0
    assert "imported 3 services, 8 replicas" in capsys.readouterr().out
    assert summary(tmp_path / "b") == summary(tmp_path / "a")
    assert summary(tmp_path / "a")[1]  # not two empty states
    for p in (tmp_path / "b").iterdir():
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    store = open_store(tmp_path / "b")  # an owner can take it over and write
    store.close()


async def test_export_to_stdout_is_json(tmp_path, capsys):
    await deployed_state(tmp_path / "a")
    assert main(["state", "export", "--state", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["format"] == "tui-orch-state" and "services" in document["desired"]
    assert "exported 3 services" in captured.err


async def test_a_folder_that_holds_a_state_is_replaced_only_when_forced(tmp_path):
    await deployed_state(tmp_path / "a")
    document = export_state(str(tmp_path / "a"))[0]
    await deployed_state(tmp_path / "b")
    before = files_of(tmp_path / "b")
    with pytest.raises(StoreError, match="already holds a state .* add --force"):
        import_state(document, str(tmp_path / "b"), source="backup.json")
    assert files_of(tmp_path / "b") == before
    aside = import_state(document, str(tmp_path / "b"), source="backup.json", force=True)
    assert sorted(os.path.basename(p).split(".corrupt-")[0] for p in aside) == ["desired.json", "events.jsonl", "observed.json"]
    assert all(open(p, "rb").read() == before[os.path.basename(p).split(".corrupt-")[0]] for p in aside)
    assert summary(tmp_path / "b") == summary(tmp_path / "a")


async def test_a_folder_in_use_is_refused(tmp_path):
    await deployed_state(tmp_path / "a")
    document = export_state(str(tmp_path / "a"))[0]
    owner = open_store(tmp_path / "b")
    try:
        with pytest.raises(StoreLocked, match=f"in use by process {os.getpid()}"):
            import_state(document, str(tmp_path / "b"), source="backup.json")
    finally:
        owner.close()
    assert summary(tmp_path / "b")[0] == []


def hostile(tmp_path, real):
    """(name, make the file, message) triples: what users and accidents hand to import;
    ``real``: a real export, edited into the cases that a shape check alone lets through."""
    good = {"format": "tui-orch-state", "schema": 1, "desired": {}, "observed": {}, "events": []}

    def edited(change):
        document = json.loads(json.dumps(real))
        change(document)
        return document

    def write(name, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        return path

    def fifo(name):
        path = tmp_path / name
        os.mkfifo(path)
        return path

    def huge(name):
        path = tmp_path / name
        with open(path, "wb") as f:
            f.truncate(2 << 30)  # sparse: 2 GiB of nothing
        return path

    return [
        ("not json", lambda: write("a.json", b"services:\n  web: {}\n"), "cannot be read as JSON"),
        ("binary", lambda: write("b.json", os.urandom(4096)), "cannot be read as JSON"),
        ("a compose file's json", lambda: write("c.json", b'{"services": {"web": {}}}'), "not a tui-orch state export"),
        ("newer", lambda: write("d.json", json.dumps({**good, "schema": 99}).encode()), "newer tui-orch"),
        ("events not a list", lambda: write("e.json", json.dumps({**good, "events": {}}).encode()), '"events" is not a list'),
        ("an event that is not one", lambda: write("f.json", json.dumps({**good, "events": [{"x": 1}]}).encode()),
         "not an event"),
        ("tables not objects", lambda: write("g.json", json.dumps({**good, "desired": {"services": [1, 2]}}).encode()),
         '"desired" cannot be a state file'),
        ("control characters", lambda: write("h.json", json.dumps({**good, "format": "\x1b[2J\r"}).encode()),
         "not a tui-orch state export"),
        ("deep nesting", lambda: write("i.json", b"[" * 100_000 + b"]" * 100_000), "cannot be read as JSON"),
        ("a fifo", lambda: fifo("j.json"), "not a file"),
        ("huge", lambda: huge("k.json"), "more than a state export can be"),
        ("missing", lambda: tmp_path / "nope.json", "no such file"),
        ("an image that is a number", lambda: write("l.json", json.dumps(edited(lambda d: d["desired"][
            "revisions:api"]["1"]["spec"].update(image=12345))).encode()), "expected a string, got 12345"),
        ("a revision that is not there", lambda: write("m.json", json.dumps(edited(lambda d: d["desired"][
            "services"]["1"].update(revision=99))).encode()), "at revision 99, which the export does not hold"),
        ("scaled below zero", lambda: write("n.json", json.dumps(edited(lambda d: d["desired"][
            "services"]["1"].update(replicas=-5))).encode()), "scaled to -5 replicas"),
        ("a revision number that is text", lambda: write("o.json", json.dumps(edited(lambda d: d["desired"][
            "services"]["1"].update(revision="seven"))).encode()), "its desired state is damaged"),
    ]


@pytest.mark.parametrize("case", range(16))
async def test_a_file_that_is_not_an_export_gets_one_message_and_changes_nothing(tmp_path, capsys, case):
    await deployed_state(tmp_path / "real")
    real = export_state(str(tmp_path / "real"))[0]
    assert real["desired"]["services"]["1"]["name"] == "api" and "revisions:api" in real["desired"]
    name, make, message = hostile(tmp_path, real)[case]
    path = make()
    target = tmp_path / "state"
    code = main(["state", "import", str(path), "--state", str(target)])
    err = capsys.readouterr().err
    assert code == 1, name
    assert err.startswith("tui-orch: ") and message in err and "Traceback" not in err, (name, err)
    assert len(err.strip().splitlines()) == 1, (name, err)
    assert "\x1b" not in err, err
    assert not target.exists(), name  # not even the folder or its lock
