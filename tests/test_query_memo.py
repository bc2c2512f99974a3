"""The query keeps what it makes of the replica records (per service, per node) only while
the state is unchanged: a record written shows at the next read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from test_store import replica, rev

from tui_orch.controller.query import Query
from tui_orch.model import ReplicaState
from tui_orch.store import open_store


def test_rows_follow_each_write(tmp_path: Path) -> None:
    with open_store(tmp_path / "state") as store:
        r = rev("web", 1)
        store.add_revision(dataclasses.replace(r, spec=dataclasses.replace(r.spec, replicas=2)))
        store.put_service("web", 1)
        q = Query(store, None, ["node1", "node2"])
        store.put_replicas([replica("web", 1, node="node1")])
        assert [(s.running, s.desired) for s in q.service_rows()] == [(1, 2)]
        assert q.service_rows() == q.service_rows()  # kept: the same answer while nothing changes
        store.put_replicas([replica("web", 2, node="node2")])
        assert [(s.running, s.desired) for s in q.service_rows()] == [(2, 2)]
        store.put_replica(replica("web", 2, node="node2", state=ReplicaState.EXITED))
        assert [s.running for s in q.service_rows()] == [1]
        assert q.summary(0).services_healthy == 0
        store.remove_replica("web.1")
        assert [s.running for s in q.service_rows()] == [0]
