"""``tui-orch get services|replicas``: the saved state checked against the nodes.

The saved observed state can be stale (containers removed behind tui-orch's back while no
controller ran), so ``get`` first lists the containers of every node of the inventory and
shows what it found: a replica whose container is gone is ``gone``, one whose container
ended shows the container's status, one on a node that could not be listed is ``unknown``
(never counted as running), and containers of this state's owner whose service the state
does not know are rows of their own, ``unowned``. ``--cached`` shows the saved state
without connecting. It takes no lock, so it works while a console runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from tui_orch import config
from tui_orch.model import to_dict
from tui_orch.nodes.base import ContainerInfo

T = TypeVar("T")
Live = tuple[dict[str, list[ContainerInfo]], dict[str, str]]  # listed, unreachable (node -> why)
IDLE = ("pending", "stopping", "stopped", "lost", "failed")  # no container expected to run


def cmd_get(args: argparse.Namespace) -> int:
    from tui_orch.cli_control import _open_readonly

    store = _open_readonly(args)
    try:
        live = None if getattr(args, "cached", False) else _run(_look(args))
        reps = replica_rows(store, live)
        if args.what == "services":
            rows = services_rows(store, reps, _global_nodes(args, store))
            columns = ["name", "revision", "image", "desired", "running", "healthy", "restarts", "rollout"]
        else:
            rows = reps
            columns = ["key", "node", "state", "health", "revision", "restarts", "ports", "container_id"]
    finally:
        store.close()
    if live is not None:
        for node, why in sorted(live[1].items()):
            print(f"node {node} could not be listed ({why}); its replicas are shown as unknown", file=sys.stderr)
    if getattr(args, "output", "table") == "json":
        print(json.dumps(rows, indent=2))
    elif rows:
        print(_table(rows, columns))
    else:
        print(f"no {args.what}")
    return 0


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from a thread that already runs an event loop (embedded callers)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    out: list[T] = []
    worker = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    worker.start()
    worker.join()
    return out[0]


async def _look(args: argparse.Namespace) -> Live:
    from tui_orch.controller.observe import look_at_nodes
    from tui_orch.nodes.fleet import Fleet

    fleet = Fleet(config.load(getattr(args, "inventory", None)))
    try:
        await fleet.start()
        return await look_at_nodes(fleet)
    finally:
        await fleet.close()


def replica_rows(store: Any, live: Live | None) -> list[dict[str, Any]]:
    """A row per replica record, as the nodes show it when ``live``; then unowned containers."""
    listed, unreachable = live if live is not None else ({}, {})
    by_id = {c.id: c for found in listed.values() for c in found}
    rows = []
    for r in store.replicas():
        row = {**to_dict(r), "key": r.key, "container_id": (r.container_id or "")[:12]}
        if live is not None and row["state"] not in IDLE:
            row.update(_as_found(r.node in listed, by_id.get(r.container_id or ""), row))
        rows.append(row)
    if live is not None:
        rows += _unowned_rows(store, listed)
    return rows


def _as_found(listed: bool, c: ContainerInfo | None, row: dict[str, Any]) -> dict[str, Any]:
    if not listed:
        return {"state": "unknown", "health": "unknown"}
    if c is None:
        return {"state": "gone", "health": "none"}
    if c.status != "running":
        return {"state": c.status, "health": "none"}
    return {"health": c.health} if c.health != "none" else {}


def _unowned_rows(store: Any, listed: dict[str, list[ContainerInfo]]) -> list[dict[str, Any]]:
    from tui_orch.controller.containers import LABEL_OWNER
    from tui_orch.controller.context import owner_id
    from tui_orch.nodes.base import LABEL_REPLICA, LABEL_REVISION, LABEL_SERVICE

    owner, rows = owner_id(store), []
    for node, found in sorted(listed.items()):
        for c in found:
            service = c.label(LABEL_SERVICE) or ""
            if c.label(LABEL_OWNER) != owner or store.known(service):
                continue
            rows.append({"key": c.label(LABEL_REPLICA) or c.name, "service": service, "node": node,
                         "state": "unowned", "health": c.health, "revision": c.label(LABEL_REVISION) or "",
                         "restarts": 0, "ports": [], "container_id": c.id[:12], "image": c.image,
                         "running": c.status == "running"})
    return rows


def _global_nodes(args: argparse.Namespace, store: Any) -> int | None:
    """How many replicas a global service wants: one per inventory node not draining (None
    without an inventory)."""
    try:
        nodes = config.load(getattr(args, "inventory", None)).nodes
    except Exception:  # an inventory that cannot be read is reported by the commands that act
        return None
    draining = {name for name, a in store.availability().items() if str(getattr(a, "value", a)) == "drain"}
    return sum(1 for n in nodes if n.name not in draining)


def services_rows(store: Any, reps: list[dict[str, Any]], global_nodes: int | None = None) -> list[dict[str, Any]]:
    by_service: dict[str, list[dict[str, Any]]] = {}
    for r in reps:
        by_service.setdefault(r["service"], []).append(r)
    rows = []
    for rec in store.services():
        rev = store.revision(rec.name, rec.revision)
        mine = by_service.pop(rec.name, [])
        want = rec.replicas if rec.replicas is not None else (rev.spec.replicas if rev else 0)
        if rev and rev.spec.mode == "global" and global_nodes is not None:
            want = global_nodes
        rows.append({
            "name": rec.name, "revision": rec.revision, "image": rev.spec.image if rev else "",
            "mode": rev.spec.mode if rev else "", "desired": want,
            "running": sum(1 for r in mine if r["state"] == "running"),
            "healthy": sum(1 for r in mine if r["state"] == "running" and r["health"] in ("healthy", "none")),
            "restarts": sum(r["restarts"] for r in mine), "rollout": _rollout(store.get_rollout(rec.name)),
            "removed": rec.removed,
        })
    for name, mine in sorted(by_service.items()):  # records or containers of services not in the state
        rows.append({
            "name": name, "revision": "", "image": next((r.get("image", "") for r in mine), ""), "mode": "",
            "desired": "", "running": sum(1 for r in mine if r["state"] == "running" or r.get("running")),
            "healthy": 0, "restarts": sum(r["restarts"] for r in mine), "removed": False,
            "rollout": "unowned: not in this state, kept (restore the state or `tui-orch rm`)",
        })
    return rows


def _rollout(ro: dict[str, Any] | None) -> str:
    if not ro:
        return "-"
    if ro["state"] in ("completed", "rolled back"):
        return str(ro["state"])
    return f"{ro['state']} {ro['batch']}/{ro['batches']} ({ro['updated']}/{ro['total']} updated)"


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[str(c).upper() for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "-"
    return "-" if value is None or value == "" else str(value)
