"""The node verbs. ``tui-orch nodes``: every node of the inventory, connected, with state,
utilisation and capacity (``--watch`` redraws the table every second until Ctrl-C);
``tui-orch trust NODE`` and ``tui-orch node prepare NODE``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from tui_orch import config
from tui_orch.cli_output import write_control
from tui_orch.errors import NodeError, printable
from tui_orch.model import NodeSpec, NodeState
from tui_orch.nodes.base import Node
from tui_orch.units import format_bytes

FIRST_SAMPLE_WAIT = 3.0  # seconds to wait for the first utilisation sample of Ready nodes


def node_row(node: Node) -> dict[str, Any]:
    """One node as plain data: what the table and the JSON output show."""
    st = node.status
    m = node.metrics
    cap = node.capacity
    row: dict[str, Any] = {
        "name": node.name,
        "simulated": node.simulated,
        "state": st.state.value,
        "reason": st.reason,
        "since": st.since,
        "hostname": st.hostname,
        "docker": st.docker_version,
        "platform": st.platform,  # linux/amd64, what placement matches a service's platform: against
        "capacity": {"cpus": cap.cpus, "memory": cap.memory} if cap else None,
        "reserved": {"cpus": node.spec.reserved.cpus, "memory": node.spec.reserved.memory},
        "labels": dict(node.spec.labels),
        "metrics": None,
    }
    if m is not None:
        row["metrics"] = {
            "time": m.time, "cpu_percent": round(m.cpu_percent, 1),
            "per_core": [round(c, 1) for c in m.per_core], "cores": m.cores,
            "mem_total": m.mem_total, "mem_used": m.mem_used, "mem_available": m.mem_available,
            "swap_total": m.swap_total, "swap_used": m.swap_used,
            "disk_total": m.disk_total, "disk_used": m.disk_used,
            "docker_disk_total": m.docker_disk_total, "docker_disk_used": m.docker_disk_used,
            "net_rx_bps": round(m.net_rx_bps, 1), "net_tx_bps": round(m.net_tx_bps, 1),
            "load": list(m.load), "uptime": m.uptime, "containers": m.containers,
        }
    return row


def _pct(used: int, total: int) -> str:
    return f"{100.0 * used / total:.0f}%" if total else "-"


def render_table(rows: list[dict[str, Any]], now: float | None = None) -> str:
    now = now or time.time()
    headers = ["NODE", "STATE", "CPU", "MEM", "DISK", "LOAD", "NET RX/TX", "CONT", "CAPACITY", "UP"]
    table = [headers]
    notes = []
    for r in rows:
        m = r["metrics"]
        name = r["name"] + (" [SIMULATED]" if r["simulated"] else "")
        state = r["state"]
        if state != NodeState.READY.value:
            state += f" {int(now - r['since'])}s"
            if r["reason"]:
                notes.append(printable(f"  {r['name']}: {r['reason']}"))
        cap = r["capacity"]
        capacity = f"{cap['cpus']:g} cpu, {format_bytes(cap['memory'])}" if cap else "-"
        if m:
            mem = f"{_pct(m['mem_used'], m['mem_total'])} of {format_bytes(m['mem_total'])}"
            disk = _pct(m["disk_used"], m["disk_total"])
            net = f"{format_bytes(int(m['net_rx_bps']))}/s {format_bytes(int(m['net_tx_bps']))}/s"
            cells = [f"{m['cpu_percent']:.0f}%", mem, disk, f"{m['load'][0]:.2f}", net,
                     str(m["containers"]), capacity, _uptime(m["uptime"])]
        else:
            cells = ["-", "-", "-", "-", "-", "-", capacity, "-"]
        table.append([printable(c) for c in (name, state, *cells)])  # escaped before the widths
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    return "\n".join(lines + notes)


def _uptime(seconds: float) -> str:
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    return f"{d}d{h}h" if d else f"{h}h{rest // 60}m"


async def _run(args: argparse.Namespace) -> int:
    from tui_orch.nodes.fleet import Fleet

    inventory = config.load(args.inventory)
    for spec in inventory.nodes:
        if not (spec.local or spec.simulated):
            _warn_missing_keys(spec)
    fleet = Fleet(inventory)
    try:
        await fleet.start()
        deadline = time.monotonic() + FIRST_SAMPLE_WAIT
        while time.monotonic() < deadline and any(
            n.status.state == NodeState.READY and n.metrics is None for n in fleet.nodes.values()
        ):
            await asyncio.sleep(0.1)
        if not args.watch:
            rows = [node_row(n) for n in fleet.nodes.values()]
            if args.output == "json":
                print(json.dumps({"inventory": inventory.file, "nodes": rows}, indent=2))
            else:
                print(render_table(rows))
            return 0 if all(r["state"] == NodeState.READY.value for r in rows) else 1
        while True:
            rows = [node_row(n) for n in fleet.nodes.values()]
            if args.output == "json":
                print(json.dumps({"time": time.time(), "nodes": rows}), flush=True)
            else:
                ready = sum(1 for r in rows if r["state"] == NodeState.READY.value)
                header = f"tui-orch nodes: {ready}/{len(rows)} Ready  {time.strftime('%H:%M:%S')}  (Ctrl-C to stop)"
                write_control("\x1b[H\x1b[2J")  # clear the screen: the CLI's own sequence
                sys.stdout.write(header + "\n\n" + render_table(rows) + "\n")
                sys.stdout.flush()
            await asyncio.sleep(1.0)
    finally:
        await fleet.close()


def cmd_nodes_live(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------- trust, node prepare
# Prompts and prints live here; the host work (walking a route, recording keys, checking and
# preparing a host) is in nodes/hostkeys.py and nodes/prepare.py, over nodes/ssh.py's one
# connection path. asyncssh is imported only when one of these verbs runs.


def register(sub: Any, node_sub: Any, common: argparse.ArgumentParser) -> None:
    """The verbs ``trust`` and ``node prepare``."""
    p = sub.add_parser("trust", parents=[common], help="show a node's SSH host key and record it once confirmed",
                       description="Fetch NODE's SSH host key (and its jump hosts'), show each SHA256 fingerprint, "
                       "and record it in known_hosts only after you confirm (or with --yes). A changed or "
                       "revoked key is never recorded.")
    p.add_argument("node", metavar="NODE")
    p.add_argument("-y", "--yes", action="store_true", help="trust without asking (compare the fingerprint yourself)")
    p.set_defaults(func=cmd_trust)
    q = node_sub.add_parser("prepare", parents=[common], help="check a host and install Docker on it if needed",
                            description="Check NODE (OS, Docker and its version, socket access for the SSH user, "
                            "disk space, time skew), list what it would change, and with your consent install "
                            "Docker from the distribution's packages and give the user access to its socket. "
                            "Running it again on a prepared host changes nothing.")
    q.add_argument("node", metavar="NODE")
    q.add_argument("-y", "--yes", action="store_true", help="make the changes without asking")
    q.set_defaults(func=cmd_node_prepare)


def _warn_missing_keys(spec: NodeSpec) -> None:
    from tui_orch.nodes.sshconfig import missing_identities

    try:
        warnings = missing_identities(spec)
    except NodeError:  # a bad ~/.ssh/config or proxy_jump: the connection attempt says so
        return
    for warning in warnings:
        print(f"tui-orch: warning: {warning}", file=sys.stderr)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _ask(question: str, stdin_is_tty: bool, ask: Callable[[str], str], say: Callable[[str], None]) -> bool:
    if not stdin_is_tty:
        say("not a terminal, so not asking: run again with --yes")
        return False
    try:
        return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def cmd_trust(args: argparse.Namespace, ask: Callable[[str], str] = input) -> int:
    """`tui-orch trust NODE [--yes]`: each untrusted key on the node's route (jump hosts first)
    is shown with its fingerprint and recorded once confirmed. Exit 0 when the route is trusted."""
    from tui_orch.nodes.hostkeys import Offer, trust

    spec = config.load(args.inventory).get(args.node)
    if spec.local or spec.simulated:
        print(f"{spec.name}: reached without SSH; there is no host key to trust")
        return 0
    _warn_missing_keys(spec)

    def confirm(offer: Offer) -> bool:
        which = offer.node if offer.hop == offer.node else f"{offer.node}'s {offer.hop}"
        print(f"{which} ({offer.where}) presents host key {offer.fingerprint}")
        return bool(args.yes) or _ask("Trust this key?", sys.stdin.isatty(), ask, _stderr)

    result = asyncio.run(trust(spec, confirm))
    print(result.message)
    return 0 if result.trusted else 1


async def node_prepare(spec: NodeSpec, yes: bool, stdin_is_tty: bool,
                       out: Callable[[str], None] = print, ask: Callable[[str], str] = input) -> int:
    """`tui-orch node prepare NODE [--yes]`; exit status 0 when the node is ready."""
    from tui_orch.nodes import ssh
    from tui_orch.nodes.prepare import prepare

    if spec.simulated:
        raise NodeError(spec.name, "is a simulated node: there is nothing to prepare")
    if spec.local:
        raise NodeError(spec.name, "is this machine (local: true); node prepare works over SSH: install "
                        "Docker Engine here with the system's package manager")
    conn = await ssh.connect(spec)
    try:
        result = await prepare(conn, spec, yes, lambda q: _ask(q, stdin_is_tty, ask, out), out)
    finally:
        conn.close()
        await conn.wait_closed()
    return 0 if result.ready else 1


def cmd_node_prepare(args: argparse.Namespace) -> int:
    spec = config.load(args.inventory).get(args.node)
    _warn_missing_keys(spec)
    return asyncio.run(node_prepare(spec, bool(args.yes), sys.stdin.isatty()))
