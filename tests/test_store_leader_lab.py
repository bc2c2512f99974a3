"""Leadership on an etcd lease (store/leader.py), on the lab's etcd cluster: one leader at a
time; the other takes over within the TTL + 1 s when the leader dies; a paused leader stops
acting by its own clock before its lease lapses, and its writes are refused by etcd after."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tui_orch.store.etcdv3 import EtcdClient, b64
from tui_orch.store.leader import Leadership

TTL = 2.0


@pytest.fixture
def prefix(lab) -> str:
    from labparts import etcd as lab_etcd

    lab_etcd.launch(lab.dir)
    lab_etcd.wait_healthy(lab.dir)
    return f"/tui-orch-test/{uuid.uuid4().hex[:8]}"


def fenced_put(who: Leadership, key: str, value: str) -> bool:
    ok, _ = who.client.txn([who.fence()], [{"request_put": {"key": b64(key), "value": b64(value)}}])
    return ok


def test_one_leads_the_other_takes_over_within_the_ttl(lab, prefix):
    a, b = (Leadership(EtcdClient(lab.etcd_endpoints), prefix, TTL) for _ in range(2))
    assert a.try_lead() and not b.try_lead()
    assert a.acting() and not b.acting()
    assert b.leader() is not None and b.leader().pid == a.me.pid
    took = []

    def follower() -> None:
        b.campaign()
        took.append(time.monotonic())

    a._stop.set()  # the leader dies: no more renewals (its process would be gone)
    died = time.monotonic()
    thread = threading.Thread(target=follower, daemon=True)
    thread.start()
    thread.join(TTL + 5)
    assert took, "the follower never led"
    assert took[0] - died <= TTL + 1.0, took[0] - died
    assert b.acting() and not fenced_put(a, prefix + "/x", "old")  # the old leader's write fails
    assert fenced_put(b, prefix + "/x", "new")
    b.resign()
    assert a.client.get(prefix + "/leader") is None


def test_a_paused_leader_stops_acting_before_its_lease_lapses(lab, prefix):
    now = [0.0]
    a = Leadership(EtcdClient(lab.etcd_endpoints), prefix, TTL, clock=lambda: now[0])
    assert a.try_lead() and a.acting()
    a._stop.set()  # paused: no renewal while "stopped"
    now[0] += TTL * 0.85  # the clock ran on during the pause (CLOCK_MONOTONIC does)
    assert not a.acting()  # it acts no more, though etcd may not have deleted its key yet
    time.sleep(TTL + 1.5)  # and once the lease lapsed, etcd refuses its writes too
    assert not fenced_put(a, prefix + "/x", "late")


def test_resign_hands_over_at_once(lab, prefix):
    a, b = (Leadership(EtcdClient(lab.etcd_endpoints), prefix, TTL) for _ in range(2))
    assert a.try_lead()
    a.resign()
    assert not a.acting()
    t0 = time.monotonic()
    assert b.campaign()
    assert time.monotonic() - t0 < 1.0
    b.resign()
