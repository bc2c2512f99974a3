"""The state store on real files: round trips, persistence, permissions, the owner lock,
read-only opens, schema and corruption handling, the event log, retention, transactions."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import platformdirs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_orch.errors import StoreError, StoreLocked
from tui_orch.model import (
    Availability,
    Constraint,
    Event,
    Health,
    Healthcheck,
    Placement,
    PortSpec,
    Replica,
    ReplicaState,
    Resources,
    ResourceSpec,
    Revision,
    ServiceSpec,
    pairs,
)
from tui_orch.store import Store, default_state_dir, open_store
from tui_orch.store import storage as storage_module

ROOT = Path(__file__).resolve().parent.parent
CHILD_ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def spec(name: str = "web", image: str = "nginx:1.25", **kw: object) -> ServiceSpec:
    base: dict[str, object] = dict(
        command=("nginx", "-g", "daemon off;"),
        environment=pairs({"A": "1", "B": "two"}),
        ports=(PortSpec(target=80, published=8080), PortSpec(target=9090)),
        labels=pairs({"tier": "front"}),
        healthcheck=Healthcheck(test=("CMD", "curl", "-f", "http://localhost/"), interval=5.0),
        replicas=3,
        resources=ResourceSpec(limits=Resources(1.0, 512 << 20), reservations=Resources(0.5, 256 << 20)),
        placement=Placement(constraints=(Constraint("node.labels.zone", "==", "a"),), max_replicas_per_node=2),
    )
    base.update(kw)
    return ServiceSpec(name=name, image=image, **base)  # type: ignore[arg-type]


def rev(service: str = "web", number: int = 0, image: str = "nginx:1.25", cause: str = "apply") -> Revision:
    return Revision(service, number, spec(service, image), 1700000000.5, cause)


def replica(service: str = "web", slot: int = 1, revision: int = 1, **kw: object) -> Replica:
    base: dict[str, object] = dict(
        node="node1",
        state=ReplicaState.RUNNING,
        health=Health.HEALTHY,
        container_id="c0ffee" * 10,
        cpus=0.5,
        memory=256 << 20,
        ports=(30001, 30002),
        restarts=2,
        exit_code=None,
        started_at=1700000001.25,
        message="ok",
    )
    base.update(kw)
    return Replica(service, slot, revision, **base)  # type: ignore[arg-type]


def event(i: int, service: str | None = "web", t: float | None = None) -> Event:
    return Event(
        time=float(i) if t is None else t,
        kind="start",
        message=f"event {i}",
        service=service,
        replica=f"{service}.1" if service else None,
        node="node1",
        level="warning",
        data=pairs({"i": i}),
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(folder: Path):
    with open_store(folder) as s:
        yield s


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def count_file_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every atomic rewrite of a TinyDB state file (by file name)."""
    written: list[str] = []
    real = storage_module.atomic_write

    def spy(path: str, data: bytes, dir_fd: int) -> None:
        written.append(os.path.basename(path))
        real(path, data, dir_fd)

    monkeypatch.setattr(storage_module, "atomic_write", spy)
    return written


# --------------------------------------------------------------------------- round trips


def test_service_records_round_trip(store: Store) -> None:
    assert store.get_service("web") is None and store.services() == []
    rec = store.put_service("web", 3, 5, paused=True)
    assert (rec.name, rec.revision, rec.replicas, rec.paused, rec.removed) == ("web", 3, 5, True, False)
    assert store.get_service("web") == rec
    store.put_service("api", 1)
    assert [s.name for s in store.services()] == ["api", "web"]
    changed = store.update_service("web", removed=True)
    assert (changed.revision, changed.replicas, changed.paused, changed.removed) == (3, 5, True, True)
    with pytest.raises(StoreError, match="no service nope"):
        store.update_service("nope", paused=True)
    assert store.remove_service("web") is True
    assert store.remove_service("web") is False
    assert [s.name for s in store.services()] == ["api"]
    for bad in (("", 1), ("web", -1), ("web", True), ("web", 1, -2)):
        with pytest.raises(ValueError):
            store.put_service(*bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.update_service("api", name="other")
    assert [(s.name, s.revision) for s in store.services()] == [("api", 1)]


def test_revisions_round_trip_and_numbering(store: Store) -> None:
    first = store.add_revision(rev(image="nginx:1"))
    second = store.add_revision(rev(image="nginx:2", cause="apply web.yaml"))
    assert (first.number, second.number) == (1, 2)
    assert store.revisions("web") == [first, second]
    assert store.revision("web", 2) == second and store.revision("web", 9) is None
    assert store.revision("web", 2).spec == spec("web", "nginx:2")  # type: ignore[union-attr]
    assert store.add_revision(rev(number=7)).number == 7
    assert store.add_revision(rev()).number == 8
    assert store.add_revision(rev(number=7)) == store.revision("web", 7)  # same again: no-op
    with pytest.raises(StoreError, match="already exists"):
        store.add_revision(rev(number=7, image="other"))
    store.put_service("web", 2)
    assert store.current_revision("web") == second
    assert store.revisions("api") == [] and store.current_revision("api") is None
    store.remove_service("web")
    assert store.revisions("web") == []


def test_rollouts_round_trip(store: Store) -> None:
    data = {"from_revision": 1, "to_revision": 2, "state": "running", "batch": 1, "done": ["web.1"]}
    store.put_rollout("web", data)
    got = store.get_rollout("web")
    assert got == data
    got["batch"] = 99  # type: ignore[index]  # a copy: the store is not changed through it
    assert store.get_rollout("web") == data
    assert store.rollouts() == {"web": data}
    with pytest.raises(TypeError):
        store.put_rollout("web", {"bad": object()})
    assert store.get_rollout("web") == data
    assert store.delete_rollout("web") is True and store.delete_rollout("web") is False
    assert store.get_rollout("web") is None and store.rollouts() == {}


def test_availability_round_trip(store: Store) -> None:
    store.set_availability("node1", Availability.CORDONED)
    store.set_availability("node2", "draining")
    store.set_availability("node3", Availability.ACTIVE)
    assert store.availability() == {
        "node1": Availability.CORDONED,
        "node2": Availability.DRAINING,
        "node3": Availability.ACTIVE,
    }
    with pytest.raises(ValueError):
        store.set_availability("node1", "asleep")


def test_replicas_round_trip(store: Store) -> None:
    a, b = replica(slot=1), replica(slot=2, state=ReplicaState.EXITED, exit_code=137, health=Health.NONE)
    g = replica("agent", 0, node="node7", ports=())
    store.put_replicas([a, b, g])
    assert store.replicas() == [g, a, b]
    assert store.replicas("web") == [a, b]
    assert store.get_replica("agent.node7") == g and store.get_replica("web.9") is None
    moved = replica(slot=1, node="node2", state=ReplicaState.STARTING, restarts=3)
    store.put_replica(moved)
    assert store.get_replica("web.1") == moved and len(store.replicas()) == 3
    assert store.remove_replica("web.1") is True and store.remove_replica("web.1") is False
    assert store.remove_replicas(["web.2", "agent.node7", "nope"]) == 2
    assert store.replicas() == []


def test_lost_copies_persist_across_reopen_until_taken(folder: Path) -> None:
    """The record of a replica lost with its node outlives the process that kept it."""
    a = replica(slot=1, container_id="c1", state=ReplicaState.LOST, ports=(20001,))
    with open_store(folder) as s:
        s.put_lost_copy(a)
        s.put_lost_copy(replica(slot=2, container_id=None))  # no container: nothing to keep
    with open_store(folder) as s:
        assert s.lost_copies() == {"c1": a}
        assert s.take_lost_copy("c1") == a and s.take_lost_copy("c1") is None
    with open_store(folder) as s:
        assert s.lost_copies() == {}


def test_changes_counts_the_writes_that_changed_something(store: Store) -> None:
    """``changes`` tells a reader (the reconcile loop) whether anything changed since it looked."""
    n = store.changes
    store.put_replica(replica(slot=1))
    assert store.changes == n + 1
    store.put_replica(replica(slot=1))  # the same again: nothing changed
    assert store.changes == n + 1
    store.put_replica(replica(slot=1, restarts=1))
    assert store.changes == n + 2
    store.remove_replica("web.1")
    assert store.changes == n + 3


def test_put_replicas_is_one_write(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_replicas([replica("web", i) for i in range(1, 6)])
    written = count_file_writes(monkeypatch)
    batch = [replica("web", i, revision=2) for i in range(1, 9)] + [replica("api", i) for i in range(1, 4)]
    store.put_replicas(batch)
    assert written == ["observed.json"]
    store.put_replicas(batch)  # nothing changes: nothing written
    assert written == ["observed.json"]


def test_node_status_round_trip(store: Store) -> None:
    status = {"state": "Ready", "cpus": 8, "memory": 1 << 34, "cpu_used": 0.25, "labels": {"zone": "a"}}
    store.put_node_status("node1", status)
    store.put_node_status("node2", {"state": "Unreachable", "error": "timed out"})
    assert store.get_node_status("node1") == status
    assert list(store.node_status()) == ["node1", "node2"]
    assert store.remove_node_status("node2") is True and store.get_node_status("node2") is None


def test_events_round_trip_and_filters(store: Store) -> None:
    store.append_event(event(1))
    store.append_events([event(2, "api"), event(3), event(4, None)])
    assert store.events() == [event(1), event(2, "api"), event(3), event(4, None)]
    assert store.events(limit=2) == [event(3), event(4, None)]
    assert store.events(service="web") == [event(1), event(3)]
    assert store.events(since=3.0) == [event(3), event(4, None)]
    assert store.events(limit=1, service="web", since=0) == [event(3)]
    assert store.events(limit=0) == []


def test_everything_persists_across_reopen(folder: Path) -> None:
    with open_store(folder) as s:
        s.add_revision(rev())
        s.add_revision(rev(image="nginx:2"))
        s.put_service("web", 2, 4, paused=True)
        s.put_rollout("web", {"from_revision": 1, "to_revision": 2})
        s.set_availability("node1", Availability.DRAINING)
        s.put_replicas([replica(slot=1), replica(slot=2)])
        s.put_node_status("node1", {"state": "Ready"})
        s.append_events([event(1), event(2)])
        before = snapshot(s)
    with open_store(folder) as s:
        assert snapshot(s) == before
    with open_store(folder, readonly=True) as s:
        assert snapshot(s) == before


def snapshot(s: Store) -> dict[str, object]:
    return {
        "services": s.services(),
        "revisions": {r.name: s.revisions(r.name) for r in s.services()},
        "rollouts": s.rollouts(),
        "availability": s.availability(),
        "replicas": s.replicas(),
        "nodes": s.node_status(),
        "events": s.events(),
    }


def test_file_always_equals_memory(folder: Path) -> None:
    """The per-table JSON reuse of the storage never writes a stale table."""
    with open_store(folder) as s:
        for i in range(1, 30):
            s.put_service(f"s{i % 4}", i)
            s.add_revision(rev(f"s{i % 4}", image=f"img:{i}"))
            s.put_replicas([replica(f"s{i % 3}", i % 5 + 1, revision=i)])
            if i % 4 == 0:
                s.remove_replica(f"s{i % 3}.{i % 5 + 1}")
                s.remove_service(f"s{i % 4}")
            if i % 5 == 0:
                s.set_availability("n1", "cordoned" if i % 2 else "active")
                s.put_rollout("s1", {"i": i})
                s.put_node_status("n1", {"i": i})
            for file in (s._desired, s._observed):
                assert Path(file.path).read_bytes() == file.storage.serialized()


# --------------------------------------------------------------------------- transactions


def test_transaction_is_one_write_per_file(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    written = count_file_writes(monkeypatch)
    with store.transaction():
        r = store.add_revision(rev())
        store.put_service("web", r.number)
        store.put_rollout("web", {"to_revision": r.number})
        store.set_availability("node1", "cordoned")
        store.put_replica(replica())
        store.append_event(event(1))
        assert written == []
    assert written == ["desired.json", "observed.json"]
    assert store.events() == [event(1)]


def test_failed_transaction_writes_nothing(folder: Path) -> None:
    with open_store(folder) as s:
        s.put_service("web", 1)
        s.put_replica(replica())
        before = snapshot(s)
        with pytest.raises(RuntimeError):
            with s.transaction():
                s.put_service("web", 2)
                s.remove_service("web")
                s.add_revision(rev("api"))
                s.put_replica(replica(slot=2))
                s.append_event(event(1))
                raise RuntimeError("boom")
        assert snapshot(s) == before
        with pytest.raises(StoreError, match="nothing was written"):
            with s.transaction():
                s.put_service("web", 3)
                try:
                    with s.transaction():
                        s.put_service("web", 4)
                        raise KeyError("inner")
                except KeyError:
                    pass
        assert snapshot(s) == before
        s.put_service("web", 5)  # still usable
    with open_store(folder) as s:
        assert s.get_service("web").revision == 5  # type: ignore[union-attr]
        assert s.replicas() == before["replicas"] and s.events() == []


def test_failed_write_keeps_old_state(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_service("web", 1)

    def disk_full(path: str, data: bytes, dir_fd: int) -> None:
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(storage_module, "atomic_write", disk_full)
    with pytest.raises(StoreError, match=r"desired\.json: No space left on device; nothing was saved"):
        store.put_service("web", 2)
    assert store.get_service("web").revision == 1  # type: ignore[union-attr]
    monkeypatch.undo()
    store.put_service("web", 3)
    assert store.get_service("web").revision == 3  # type: ignore[union-attr]


def test_threads_can_share_a_store(store: Store) -> None:
    def work(t: int) -> None:
        for i in range(1, 26):
            store.put_replica(replica(f"s{t}", i))
            store.append_event(event(i, f"s{t}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.replicas()) == 100 and len(store.events()) == 100


def test_closed_store_refuses_use(folder: Path) -> None:
    s = open_store(folder)
    with s.transaction():
        with pytest.raises(StoreError, match="inside a transaction"):
            s.close()
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.services()
    with pytest.raises(StoreError, match="closed"):
        s.put_service("web", 1)


# --------------------------------------------------------------------------- permissions


def test_new_state_is_owner_only(folder: Path) -> None:
    old = os.umask(0)
    try:
        with open_store(folder) as s:
            s.put_service("web", 1)
            s.append_event(event(1))
    finally:
        os.umask(old)
    assert mode(folder) == 0o700
    for name in ("desired.json", "observed.json", "events.jsonl", "lock"):
        assert mode(folder / name) == 0o600, name


def test_looser_permissions_are_tightened(folder: Path) -> None:
    with open_store(folder) as s:
        s.put_service("web", 1)
    folder.chmod(0o755)
    for name in ("desired.json", "observed.json", "events.jsonl", "lock"):
        (folder / name).chmod(0o644)
    with open_store(folder, readonly=True):
        assert mode(folder) == 0o755  # a read-only open changes nothing
    with open_store(folder) as s:
        assert mode(folder) == 0o700
        for name in ("desired.json", "observed.json", "events.jsonl", "lock"):
            assert mode(folder / name) == 0o600, name
        assert s.get_service("web") is not None


# --------------------------------------------------------------------------- the owner lock


def test_second_owner_in_process_is_refused(folder: Path) -> None:
    with open_store(folder):
        with pytest.raises(StoreLocked) as info:
            open_store(folder)
        assert info.value.pid == os.getpid()
        assert f"process {os.getpid()}" in str(info.value) and str(folder) in str(info.value)
    with open_store(folder) as s:  # released on close
        s.put_service("web", 1)


def test_second_owner_in_another_process_is_refused(folder: Path) -> None:
    with open_store(folder):
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from tui_orch.store import open_store; open_store(sys.argv[1])", str(folder)],
            env=CHILD_ENV, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode != 0
    assert "StoreLocked" in result.stderr and f"process {os.getpid()}" in result.stderr


def test_owner_in_another_process_is_named_and_its_death_frees_the_folder(folder: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from tui_orch.store import open_store; s = open_store(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(folder)],
        env=CHILD_ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked, match=f"in use by process {child.pid} "):
            open_store(folder)
        with open_store(folder, readonly=True) as ro:
            assert ro.services() == []
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    with open_store(folder) as s:
        s.put_service("web", 1)


# --------------------------------------------------------------------------- read-only opens


def test_readonly_open_reads_while_locked_and_refuses_writes(folder: Path) -> None:
    with open_store(folder) as owner:
        owner.put_service("web", 1)
        owner.append_event(event(1))
        with open_store(folder, readonly=True) as ro:
            assert ro.get_service("web").revision == 1  # type: ignore[union-attr]
            assert ro.events() == [event(1)]
            for write in (
                lambda: ro.put_service("web", 2),
                lambda: ro.put_replica(replica()),
                lambda: ro.append_event(event(2)),
                lambda: ro.set_availability("n", "cordoned"),
                lambda: ro.transaction().__enter__(),
            ):
                with pytest.raises(StoreError, match="open read-only"):
                    write()
            owner.put_service("web", 2)
            owner.append_event(event(2))
            assert ro.get_service("web").revision == 1  # type: ignore[union-attr]  # a snapshot
            ro.refresh()
            assert ro.get_service("web").revision == 2  # type: ignore[union-attr]
            assert ro.events() == [event(1), event(2)]


def test_readonly_open_of_a_missing_folder_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "nothing-here"
    with open_store(folder, readonly=True) as ro:
        assert ro.services() == [] and ro.replicas() == [] and ro.events() == []
    assert not folder.exists()


# --------------------------------------------------------------------------- schema, corruption, temp files


def newer_message(folder: Path) -> str:
    return (
        f"state in {folder} was written by a newer tui-orch (schema 2 > 1); "
        f"upgrade tui-orch or use --state"
    )


@pytest.mark.parametrize("name", ["desired.json", "observed.json", "events.jsonl"])
def test_newer_schema_is_refused_and_left_alone(folder: Path, name: str) -> None:
    with open_store(folder) as s:
        s.put_service("web", 1)
    path = folder / name
    if name == "events.jsonl":
        content = b'{"schema":2}\n{"new":"format"}\n'
    else:
        content = json.dumps({"meta": {"1": {"schema": 2}}, "whatever": []}).encode()
    path.write_bytes(content)
    for readonly in (True, False):
        with pytest.raises(StoreError) as info:
            open_store(folder, readonly=readonly)
        assert str(info.value) == newer_message(folder)
    assert path.read_bytes() == content
    assert not list(folder.glob("*.corrupt-*"))
    with open_store(folder / "other") as s:  # --state elsewhere works
        s.put_service("web", 1)


CORRUPT = {
    "invalid JSON": b'{"services": {"1": {"name": "web"',
    "not an object": b"[1, 2, 3]",
    "table not an object": b'{"meta": {"1": {"schema": 1}}, "services": []}',
    "no schema": b'{"services": {"1": {"name": "web", "revision": 1}}}',
    "bad record": b'{"meta": {"1": {"schema": 1}}, "services": {"1": {"name": 5, "revision": 1}}}',
    "bad doc id": b'{"meta": {"1": {"schema": 1}}, "services": {"x": {}}}',
    "bad schema": b'{"meta": {"1": {"schema": "one"}}}',
    "empty": b"",
    "blank": b"\n",
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_desired_file_is_moved_aside_and_reported(folder: Path, case: str) -> None:
    with open_store(folder) as s:
        s.put_service("web", 1)
        s.put_replica(replica())
    path = folder / "desired.json"
    path.write_bytes(CORRUPT[case])
    with pytest.raises(StoreError, match="corrupt") as ro_info:
        open_store(folder, readonly=True)
    assert path.read_bytes() == CORRUPT[case]  # read-only: nothing moved
    assert str(path) in str(ro_info.value)
    with pytest.raises(StoreError) as info:
        open_store(folder)
    asides = list(folder.glob("desired.json.corrupt-*"))
    assert len(asides) == 1 and asides[0].read_bytes() == CORRUPT[case]
    message = str(info.value)
    assert str(path) in message and str(asides[0]) in message and "corrupt" in message
    with open_store(folder) as s:  # the next open starts that file afresh; others are kept
        assert s.services() == [] and s.replicas() == [replica()]
    assert mode(asides[0]) == 0o600


def test_corrupt_event_log_and_observed_file_are_both_reported(folder: Path) -> None:
    with open_store(folder) as s:
        s.append_events([event(1), event(2)])
    events = folder / "events.jsonl"
    lines = events.read_bytes().split(b"\n")
    events.write_bytes(b"\n".join([lines[0], b"not json", *lines[1:]]))
    (folder / "observed.json").write_bytes(b"garbage")
    with pytest.raises(StoreError) as info:
        open_store(folder)
    message = str(info.value)
    assert "events.jsonl is corrupt (line 2 is not valid JSON)" in message
    assert "observed.json is corrupt (not valid JSON" in message
    assert len(list(folder.glob("*.corrupt-*"))) == 2
    with open_store(folder) as s:
        assert s.events() == [] and s.replicas() == []


def test_a_second_corrupt_copy_does_not_overwrite_the_first(folder: Path) -> None:
    for content in (b"one", b"two"):
        with open_store(folder):
            pass
        (folder / "desired.json").write_bytes(content)
        with pytest.raises(StoreError):
            open_store(folder)
    assert sorted(p.read_bytes() for p in folder.glob("desired.json.corrupt-*")) == [b"one", b"two"]


def test_an_empty_event_log_is_an_empty_log(folder: Path) -> None:
    folder.mkdir(mode=0o700)
    (folder / "events.jsonl").write_bytes(b"")
    with open_store(folder) as s:
        assert s.services() == [] and s.events() == []
        s.append_event(event(1))
    with open_store(folder) as s:
        assert s.events() == [event(1)]


@pytest.mark.parametrize("name", ["desired.json", "observed.json"])
def test_an_empty_state_file_is_corrupt_never_an_empty_state(folder: Path, name: str) -> None:
    with open_store(folder) as s:
        s.put_service("web", 1)
        s.put_replica(replica())
    (folder / name).write_bytes(b"")
    with pytest.raises(StoreError) as info:
        open_store(folder, readonly=True)
    assert str(info.value).startswith(f"state file {folder / name} is corrupt (it is empty (0 bytes))")
    assert (folder / name).read_bytes() == b""  # read-only: nothing touched


def test_a_removal_is_recorded_until_the_service_is_deployed_again(folder: Path) -> None:
    with open_store(folder) as s:
        s.put_service("web", 1)
        assert s.known("web") and s.removal("web") is None and not s.known("db")
        s.remove_service("web", reason="tui-orch rm web")
        assert s.get_service("web") is None and s.known("web")
    with open_store(folder, readonly=True) as s:
        when, why = s.removal("web")  # type: ignore[misc]
        assert why == "tui-orch rm web" and when > 0
    with open_store(folder) as s:
        s.put_service("web", 2)
        assert s.removal("web") is None
    with open_store(folder) as s:
        assert s.removal("web") is None and s.known("web")


def test_stale_temp_files_are_removed_by_the_owner_only(folder: Path) -> None:
    with open_store(folder) as s:
        s.put_service("web", 1)
    stale = [folder / ".desired.json.tmp-999-1", folder / ".events.jsonl.tmp-999-7"]
    mine = folder / "notes.txt"
    for p in [*stale, mine]:
        p.write_bytes(b"half a write")
    with open_store(folder, readonly=True):
        assert all(p.exists() for p in stale)
    with open_store(folder) as s:
        assert not any(p.exists() for p in stale) and mine.exists()
        assert s.get_service("web") is not None


# --------------------------------------------------------------------------- the event log


def test_torn_last_event_line_is_ignored_and_cut(folder: Path) -> None:
    with open_store(folder) as s:
        s.append_events([event(1), event(2)])
    path = folder / "events.jsonl"
    good = path.read_bytes()
    for torn in (b'{"time":3.0,"kind":"sta', b'{"time":3.0,"kind":"start","message":"complete but no newline"}'):
        path.write_bytes(good + torn)
        with open_store(folder, readonly=True) as ro:
            assert ro.events() == [event(1), event(2)]
        assert path.read_bytes() == good + torn
        with open_store(folder) as s:
            assert s.events() == [event(1), event(2)]
            assert path.read_bytes() == good  # the owner cut the torn line
            s.append_event(event(3))
        with open_store(folder) as s:
            assert s.events() == [event(1), event(2), event(3)]
        path.write_bytes(good)


def test_event_retention_keeps_the_newest_and_trims_in_chunks(folder: Path) -> None:
    limit = 50
    with open_store(folder, event_limit=limit) as s:
        for i in range(1, 201):
            s.append_event(event(i))
            lines = (folder / "events.jsonl").read_bytes().count(b"\n") - 1
            assert lines <= limit + limit // 10
            assert len(s.events()) == min(i, limit)
        assert s.events() == [event(i) for i in range(151, 201)]
    with open_store(folder, event_limit=limit) as s:
        assert s.events() == [event(i) for i in range(151, 201)]
    with open_store(folder, event_limit=10) as s:  # a lower limit applies at once
        assert s.events() == [event(i) for i in range(191, 201)]
        assert (folder / "events.jsonl").read_bytes().count(b"\n") - 1 <= 11


def test_event_log_trims_rarely(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_orch.store import events as events_module

    rewrites: list[str] = []
    real = events_module.atomic_write
    monkeypatch.setattr(events_module, "atomic_write", lambda p, d, f: (rewrites.append(p), real(p, d, f)))
    with open_store(folder, event_limit=100) as s:
        for i in range(1, 301):
            s.append_event(event(i))
    # the log's creation, then one trim per 11 appends (at events 111, 122, ..., 298)
    assert len(rewrites) == 1 + len(range(111, 301, 11))


# --------------------------------------------------------------------------- revision retention


def test_revision_retention_keeps_the_newest_and_the_current(folder: Path) -> None:
    with open_store(folder, revision_limit=3) as s:
        for i in range(1, 7):
            s.add_revision(rev(image=f"img:{i}"))
        assert [r.number for r in s.revisions("web")] == [4, 5, 6]
        s.put_service("web", 4)  # a rollback to 4: it stays while it is current
        s.put_rollout("web", {"from_revision": 5, "to_revision": 4})
        for i in range(7, 10):
            s.add_revision(rev(image=f"img:{i}"))
        assert [r.number for r in s.revisions("web")] == [4, 5, 7, 8, 9]
        s.add_revision(rev("api"))
        assert [r.number for r in s.revisions("api")] == [1]
    with open_store(folder, revision_limit=3) as s:
        assert [r.number for r in s.revisions("web")] == [4, 5, 7, 8, 9]
        assert s.current_revision("web").spec.image == "img:4"  # type: ignore[union-attr]


def test_default_limits(folder: Path) -> None:
    with open_store(folder) as s:
        assert (s.event_limit, s.revision_limit) == (10_000, 10)
        for i in range(12):
            s.add_revision(rev(image=f"img:{i}"))
        assert [r.number for r in s.revisions("web")] == list(range(3, 13))


# --------------------------------------------------------------------------- location


def test_default_state_dir_honours_tui_orch_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUI_ORCH_STATE", str(tmp_path / "from-env"))
    assert default_state_dir() == tmp_path / "from-env"
    monkeypatch.setenv("TUI_ORCH_STATE", "~/st")
    assert default_state_dir() == Path.home() / "st"
    monkeypatch.setenv("TUI_ORCH_STATE", str(tmp_path / "from-env"))
    with open_store() as s:
        s.put_service("web", 1)
    assert (tmp_path / "from-env" / "desired.json").exists()
    monkeypatch.delenv("TUI_ORCH_STATE")
    assert default_state_dir() == Path(platformdirs.user_state_dir("tui-orch"))


# --------------------------------------------------------------------------- property: replicas


keys = st.tuples(st.sampled_from(["web", "api", "db"]), st.integers(min_value=0, max_value=4))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(st.tuples(keys, st.integers(1, 9)), min_size=1, max_size=4)),
        st.tuples(st.just("remove"), st.lists(keys, min_size=1, max_size=3)),
    ),
    max_size=12,
)


def make(key: tuple[str, int], revision: int) -> Replica:
    service, slot = key
    return replica(service, slot, revision=revision, node=f"node{slot}")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_replica_writes_match_a_dict_model(program: list[tuple[str, list]]) -> None:
    model: dict[str, Replica] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with open_store(tmp) as s:
            for op, args in program:
                if op == "put":
                    reps = [make(k, r) for k, r in args]
                    s.put_replicas(reps)
                    model.update((r.key, r) for r in reps)
                else:
                    names = [make(k, 1).key for k in args]
                    s.remove_replicas(names)
                    for name in names:
                        model.pop(name, None)
                assert {r.key: r for r in s.replicas()} == model
                # in order (service, slot, node), all and per service, as writes come and go
                ordered = sorted(model.values(), key=lambda r: (r.service, r.slot, r.node))
                assert s.replicas() == ordered
                assert s.replicas("web") == [r for r in ordered if r.service == "web"]
                # the file, written by reusing the unchanged records' text, is the memory's dump
                assert Path(s._observed.path).read_bytes() == s._observed.storage.serialized()
        with open_store(tmp, readonly=True) as s:
            assert {r.key: r for r in s.replicas()} == model
