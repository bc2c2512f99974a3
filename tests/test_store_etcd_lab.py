"""The etcd client (store/etcdv3.py) against the lab's three-member etcd cluster (Debian's
etcd-server): reads and writes, transactions that compare, leases that expire, watches that
see every change in order, a member lost (the others serve), quorum lost (a clear error, then
recovery)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tui_orch.store.etcdv3 import EtcdClient, EtcdUnavailable, Watch, b64


def prefix() -> str:
    return f"/tui-orch-test/{uuid.uuid4().hex[:8]}/"


@pytest.fixture
def etcd(lab):
    from labparts import etcd as lab_etcd

    lab_etcd.launch(lab.dir)
    lab_etcd.wait_healthy(lab.dir)
    yield EtcdClient(lab.etcd_endpoints)
    lab_etcd.launch(lab.dir)  # what a test killed comes back
    lab_etcd.wait_healthy(lab.dir)


def test_writes_reads_and_compare(etcd):
    p = prefix()
    rev = etcd.put(p + "a", b"\x00binary\xff")
    got = etcd.get(p + "a")
    assert got is not None and got.value == b"\x00binary\xff" and got.mod_revision == rev
    etcd.put(p + "b", "two")
    found, at = etcd.range_prefix(p)
    assert [kv.key for kv in found] == [p + "a", p + "b"] and at >= rev
    # a write that compares the revision it read: the second writer is refused
    cmp = [{"key": b64(p + "a"), "target": "MOD", "mod_revision": str(rev)}]
    ok, _ = etcd.txn(cmp, [{"request_put": {"key": b64(p + "a"), "value": b64("first")}}])
    assert ok
    ok, _ = etcd.txn(cmp, [{"request_put": {"key": b64(p + "a"), "value": b64("second")}}])
    assert not ok and etcd.get(p + "a").value == b"first"


def test_a_lease_that_is_not_kept_alive_expires_and_takes_its_key(etcd):
    p = prefix()
    lease = etcd.grant(1)
    etcd.put(p + "leader", "me", lease=lease)
    assert etcd.keepalive(lease) >= 1
    t0 = time.monotonic()
    while etcd.get(p + "leader") is not None and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert etcd.get(p + "leader") is None
    assert time.monotonic() - t0 < 3.5  # TTL 1 s (etcd's minimum lease is a few seconds at most)


def test_a_watch_sees_every_change_in_order(etcd):
    p = prefix()
    start = etcd.put(p + "start", "0")
    seen: list[tuple[str, bytes]] = []
    stop = Watch()
    thread = threading.Thread(target=etcd.watch, args=(p, start + 1, lambda evs, _rev: seen.extend(
        (e["kv"].key, e["kv"].value) for e in evs), stop), daemon=True)
    thread.start()
    for i in range(50):
        etcd.put(p + "k", str(i))
    deadline = time.monotonic() + 5
    while len(seen) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.cancel()
    thread.join(5)
    assert not thread.is_alive()
    assert seen == [(p + "k", str(i).encode()) for i in range(50)]


def test_one_member_lost_the_others_serve_two_lost_is_said(lab, etcd):
    from labparts import etcd as lab_etcd

    p = prefix()
    members = lab.etcd_members()
    client = EtcdClient([m.client_url for m in members], timeout=1.0)
    client.put(p + "x", "1")
    lab_etcd.kill_member(members[0])
    client.put(p + "x", "2")  # the client skips the dead member; two of three are a quorum
    assert client.get(p + "x").value == b"2"
    lab_etcd.kill_member(members[1])
    with pytest.raises(EtcdUnavailable):
        client.put(p + "x", "3")
    lab_etcd.launch(lab.dir, members[:2])
    lab_etcd.wait_healthy(lab.dir)
    client.put(p + "x", "4")
    assert client.get(p + "x").value == b"4"
