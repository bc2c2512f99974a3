"""The state kept in etcd (store/etcdstore.py), on the lab's three-member cluster, through the
same Store API the controller and console use. What a user checks: what one process writes,
another reads (a read-only console sees it within 1 s, through its watch); a second writer is
refused naming the leader; a writer whose lead was taken writes nothing; big changes and
the event log's trim work; a damaged or newer state is refused with what to do; a read-only
view survives the loss of quorum and says so; state export/import moves a fleet between a
folder and etcd."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tui_orch.errors import NotLeading, StoreError, StoreLocked
from tui_orch.model import Event, Replica, ReplicaState
from tui_orch.store import open_store
from tui_orch.store.etcdv3 import EtcdClient, b64, prefix_end

TUI_ORCH = str(Path(sys.executable).parent / "tui-orch")


@pytest.fixture
def url(lab, tmp_path, monkeypatch):
    from labparts import etcd as lab_etcd

    lab_etcd.launch(lab.dir)
    lab_etcd.wait_healthy(lab.dir)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    hosts = ",".join(e.split("://", 1)[1] for e in lab.etcd_endpoints)
    prefix = f"/tui-orch-test/{uuid.uuid4().hex[:8]}"
    yield f"etcd://{hosts}{prefix}?ttl=2"
    lab_etcd.launch(lab.dir)  # a test may have killed members
    lab_etcd.wait_healthy(lab.dir)
    EtcdClient(lab.etcd_endpoints).call("kv/deleterange", {"key": b64(prefix + "/"), "range_end": b64(prefix_end(prefix + "/"))})


def replica(service: str, slot: int) -> Replica:
    return Replica(service, slot, 1, f"node{slot % 3 + 1}", ReplicaState.RUNNING, container_id=f"{slot:064x}")


def ev(message: str, service: str | None = None) -> Event:
    return Event(time=time.time(), kind="test", message=message, service=service)


def test_what_one_writes_a_read_only_view_sees_within_a_second(url):
    writer = open_store(url)
    reader = open_store(url, readonly=True)
    try:
        writer.set_availability("node2", "cordoned")
        with writer.transaction():
            for slot in range(1, 4):
                writer.put_replica(replica("web", slot))
            writer.append_events([ev("one", "web"), ev("two", "web")])
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            reader.refresh()
            if len(reader.replicas()) == 3 and len(reader.events()) == 2:
                break
            time.sleep(0.02)
        assert [r.key for r in reader.replicas()] == ["web.1", "web.2", "web.3"]
        assert reader.availability()["node2"].value == "cordoned"
        assert [e.message for e in reader.events()] == ["one", "two"]  # in order
        writer.remove_replica("web.2")
        writer.append_event(ev("three"))
        t0 = time.monotonic()  # two writes: the removal, then the event (each seen when its own change comes)
        while time.monotonic() - t0 < 1.0 and (len(reader.replicas()) != 2 or len(reader.events()) != 3):
            reader.refresh()
            time.sleep(0.02)
        assert [r.key for r in reader.replicas()] == ["web.1", "web.3"]
        assert [e.message for e in reader.events()] == ["one", "two", "three"]
        assert reader.problem is None
        with pytest.raises(StoreError, match="read-only"):
            reader.set_availability("node1", "cordoned")
    finally:
        writer.close()
        reader.close()
    again = open_store(url)  # the next leader reads what was written
    try:
        assert [r.key for r in again.replicas()] == ["web.1", "web.3"] and len(again.events()) == 3
    finally:
        again.close()


def test_a_second_writer_is_refused_naming_the_leader_and_leads_after_it(url):
    import os

    first = open_store(url)
    try:
        with pytest.raises(StoreLocked) as refused:
            open_store(url)
        assert f"pid {os.getpid()}" in str(refused.value) and url.split("?")[0] in str(refused.value)
        assert "Traceback" not in str(refused.value)
    finally:
        first.close()  # resigns: the next one leads at once
    second = open_store(url)
    second.close()


def test_a_writer_whose_lead_was_taken_writes_nothing(url, lab):
    old = open_store(url)
    try:
        old.set_availability("node1", "cordoned")
        lost = []
        old.on_lost.append(lost.append)
        old.leadership._stop.set()  # as if paused: no more renewals ...
        EtcdClient(lab.etcd_endpoints).revoke(old.leadership.lease)  # ... and its lease lapsed
        new = open_store(url)
        try:
            with pytest.raises(NotLeading, match="no longer|took the lead"):
                old.set_availability("node1", "active")
            assert not old.acting() and lost
            assert new.availability()["node1"].value == "cordoned"  # the old leader's write did not land
            new.set_availability("node3", "draining")
        finally:
            new.close()
    finally:
        old.close()


def test_big_transactions_and_the_event_log_trim(url, lab):
    store = open_store(url, event_limit=30)
    try:
        with store.transaction():  # more operations than etcd takes in one transaction
            for slot in range(1, 301):
                store.put_replica(replica("big", slot))
        for i in range(80):
            store.append_event(ev(f"e{i}"))
        assert len(store.events(limit=None)) == 30
        assert store.events(limit=1)[0].message == "e79"
    finally:
        store.close()
    prefix = url.split("2379", 3)[-1].split("?")[0]
    keys, _ = EtcdClient(lab.etcd_endpoints).range_prefix(prefix + "/e/")
    assert 30 <= len(keys) <= 33, len(keys)  # trimmed in chunks of a tenth
    again = open_store(url, readonly=True)
    try:
        assert len(again.replicas("big")) == 300
        assert [e.message for e in again.events(limit=2)] == ["e78", "e79"]
    finally:
        again.close()


def test_a_damaged_or_newer_state_is_refused_with_what_to_do(url, lab, tmp_path):
    store = open_store(url)
    store.put_replica(replica("web", 1))
    store.close()
    prefix = url.split("2379", 3)[-1].split("?")[0]
    client = EtcdClient(lab.etcd_endpoints)
    key = next(kv.key for kv in client.range_prefix(prefix + "/o/")[0] if "replicas" in kv.key)
    client.put(key, b"\x00not json")
    with pytest.raises(StoreError) as damaged:
        open_store(url, readonly=True)
    assert "is damaged" in str(damaged.value) and "state import" in str(damaged.value)
    # what the message says to do works: an export imported with --force replaces it, the
    # damaged keys saved to a file first
    folder = tmp_path / "state"
    good = open_store(folder)
    good.put_replica(replica("web", 7))
    good.close()
    done = subprocess.run([TUI_ORCH, "state", "export", "-o", str(tmp_path / "a.json"), "--state", str(folder)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([TUI_ORCH, "state", "import", str(tmp_path / "a.json"), "--force", "--state", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "moved aside: " in done.stdout, done.stdout + done.stderr
    saved = Path(done.stdout.split("moved aside: ", 1)[1].split()[0])
    assert "not json" in saved.read_text()
    repaired = open_store(url, readonly=True)
    try:
        assert [r.key for r in repaired.replicas()] == ["web.7"]
    finally:
        repaired.close()
    client.put(f"{prefix}/d/meta/1", json.dumps({"schema": 99}).encode())
    with pytest.raises(StoreError, match="newer tui-orch"):
        open_store(url, readonly=True)


def test_a_read_only_view_outlives_the_loss_of_quorum_and_says_so(url, lab):
    from labparts import etcd as lab_etcd

    store = open_store(url)
    store.put_replica(replica("web", 1))
    store.close()
    reader = open_store(url, readonly=True)
    try:
        members = lab_etcd.members(lab.dir)
        lab_etcd.kill_member(members[1])  # one of three: all is well
        time.sleep(2.5)
        reader.refresh()
        assert reader.problem is None and len(reader.replicas()) == 1
        lab_etcd.kill_member(members[2])  # two of three: no quorum
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and reader.problem is None:
            reader.refresh()  # never raises
            time.sleep(0.2)
        assert reader.problem is not None and "read-only" in reader.problem, reader.problem
        assert len(reader.replicas()) == 1  # the last state stays shown
        with pytest.raises(StoreError):
            open_store(url)  # nobody can lead without a quorum
        lab_etcd.launch(lab.dir)
        lab_etcd.wait_healthy(lab.dir)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and reader.problem is not None:
            reader.refresh()
            time.sleep(0.2)
        assert reader.problem is None
        writer = open_store(url)
        try:
            writer.put_replica(replica("web", 2))
        finally:
            writer.close()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5 and len(reader.replicas()) != 2:
            reader.refresh()
            time.sleep(0.1)
        assert len(reader.replicas()) == 2
    finally:
        reader.close()


def test_state_export_and_import_move_a_fleet_between_a_folder_and_etcd(url, tmp_path):
    folder = tmp_path / "state"
    store = open_store(folder)
    with store.transaction():
        store.put_replica(replica("web", 1))
        store.append_event(ev("from the folder", "web"))
    store.close()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TUI_ORCH, "state", *args], capture_output=True, text=True, timeout=60)

    done = run("export", "-o", str(tmp_path / "a.json"), "--state", str(folder))
    assert done.returncode == 0, done.stderr
    done = run("import", str(tmp_path / "a.json"), "--state", url)
    assert done.returncode == 0 and "1 replicas" in done.stdout, done.stdout + done.stderr
    done = run("import", str(tmp_path / "a.json"), "--state", url)
    assert done.returncode == 1 and "already holds a state" in done.stderr and "Traceback" not in done.stderr
    done = run("import", str(tmp_path / "a.json"), "--state", url, "--force")
    assert done.returncode == 0 and "moved aside: " in done.stdout, done.stdout + done.stderr
    done = run("export", "-o", str(tmp_path / "b.json"), "--state", url)
    assert done.returncode == 0, done.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["desired"] == b["desired"] and a["observed"] == b["observed"]
    assert [e["message"] for e in b["events"]] == ["from the folder"]
    done = run("import", str(tmp_path / "b.json"), "--state", str(tmp_path / "back"))
    assert done.returncode == 0, done.stderr
    back = open_store(tmp_path / "back", readonly=True)
    try:
        assert [r.key for r in back.replicas()] == ["web.1"]
    finally:
        back.close()


@pytest.mark.parametrize("applied", [False, True], ids=["lost-before-etcd", "applied-but-unanswered"])
def test_a_write_etcd_did_not_answer_is_never_written_later(url, applied):
    """A transaction whose write failed is not kept in memory (where the next write would
    have carried it to etcd); when etcd may have applied it, the state is read again before
    the next write, and no container action is allowed meanwhile."""
    from tui_orch.store.etcdv3 import EtcdUnavailable

    store = open_store(url)
    try:
        store.set_availability("node1", "cordoned")
        real = store.client.txn

        def failing(*args, **kwargs):
            if applied:
                real(*args, **kwargs)
            raise EtcdUnavailable("etcd does not answer: timed out")

        real_range = store.client.range_prefix

        def unreadable(*args, **kwargs):
            raise EtcdUnavailable("etcd does not answer: timed out")

        store.client.txn = failing  # type: ignore[method-assign]
        store.client.range_prefix = unreadable  # type: ignore[method-assign]  # the reread fails too
        with pytest.raises(StoreError, match="cannot write"):
            store.set_availability("node2", "draining")
        assert not store.acting()  # memory may not match etcd: no container action until it is read again
        with pytest.raises(StoreError):
            store.put_replica(replica("web", 9))  # refused whole while etcd cannot be read
        store.client.txn = real  # type: ignore[method-assign]
        store.client.range_prefix = real_range  # type: ignore[method-assign]
        store.put_replica(replica("web", 1))  # the next write: etcd read again first
        assert store.acting()
        assert ("node2" in store.availability()) is applied
        assert [r.key for r in store.replicas()] == ["web.1"]
    finally:
        store.close()
    again = open_store(url, readonly=True)
    try:
        assert ("node2" in again.availability()) is applied  # a failed write never lands later
        assert [r.key for r in again.replicas()] == ["web.1"]
    finally:
        again.close()
