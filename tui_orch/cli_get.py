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
import contextlib
import json
import sys
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from tui_orch import config
from tui_orch.errors import TuiOrchError, printable

if TYPE_CHECKING:
    from tui_orch.controller.query import Live, Query
    from tui_orch.store import Store

T = TypeVar("T")


def open_readonly(args: argparse.Namespace) -> "Store":
    from tui_orch.store import open_store

    return open_store(config.state_dir(getattr(args, "state", None)), readonly=True)


def open_query(args: argparse.Namespace) -> tuple["Store", "Query"]:
    """(store, its read side) for the read verbs: no node is connected; a global service
    wants one replica per node of the inventory (when there is one)."""
    from tui_orch.controller.query import Query

    store = open_readonly(args)
    names: tuple[str, ...] = ()
    with contextlib.suppress(TuiOrchError, OSError):
        names = tuple(n.name for n in config.load(getattr(args, "inventory", None)).nodes)
    return store, Query(store, None, names)


def cmd_get(args: argparse.Namespace) -> int:
    store, query = open_query(args)
    try:
        from tui_orch.controller.context import owner_id

        live, rotation, nodes = (None, {}, {}) if args.cached else _run(_look(args, owner_id(store)))
        reps = query.get_replicas(live, rotation)
        if args.what == "services":
            rows = query.get_services(reps, nodes)
            columns = ["name", "revision", "image", "desired", "running", "healthy", "restarts", "rollout"]
            if any(r.get("addresses") for r in rows):
                columns.append("addresses")
        else:
            rows = reps
            columns = ["key", "node", "state", "health", "revision", "restarts", "ports", "container_id"]
            if any("rotation" in r for r in rows):
                columns.append("rotation")
    finally:
        store.close()
    if live is not None:
        for node, why in sorted(live[1].items()):
            print(f"node {node} could not be listed ({why}); its replicas are shown as unknown", file=sys.stderr)
    if args.output == "json":
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


async def _look(args: argparse.Namespace, owner: str) -> "tuple[Live, dict[str, str], dict[str, str]]":
    """What the nodes run, which replicas their edge proxies have in rotation, and the
    addresses of the Ready nodes (where published ports answer)."""
    from tui_orch.controller.observe import look_at_nodes
    from tui_orch.controller.traffic import advertised, read_rotation
    from tui_orch.nodes.fleet import Fleet

    fleet = Fleet(config.load(getattr(args, "inventory", None)))
    try:
        await fleet.start()
        live = await look_at_nodes(fleet)
        nodes = {n.name: advertised(n.spec) for n in fleet.ready() if not n.simulated}
        return live, await read_rotation(fleet, owner), {k: v for k, v in nodes.items() if v}
    finally:
        await fleet.close()


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[str(c).upper() for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return printable(",".join(map(str, value))) or "-"
    return "-" if value is None or value == "" else printable(str(value))  # escaped before widths
