"""``tui-orch volume ls | rm | move``: the named volumes on the nodes, as ``docker volume`` users expect.

``ls`` connects to the nodes and takes no lock (it works while a console runs); ``rm`` and
``move`` own the state folder like the other commands that change things. ``move`` shows its
progress on the terminal (one line redrawn on a terminal, a line every few seconds otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, TextIO

from tui_orch import config
from tui_orch.cli_control import Subparsers, _run_with_controller, printing_events
from tui_orch.cli_get import _run, _table, open_readonly
from tui_orch.units import format_bytes

if TYPE_CHECKING:
    from tui_orch.controller import Controller
    from tui_orch.controller.volume_ops import VolumeRow

LINE_EVERY = 2.0  # seconds between progress lines when stdout is not a terminal


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("volume", help="named volumes on the nodes (ls, rm, move)")
    verbs = p.add_subparsers(dest="volume_verb", metavar="ACTION", required=True)
    q = verbs.add_parser("ls", parents=[common], help="every tui-orch volume: node, replica, driver, in use",
                         description="List the volumes tui-orch made on every Ready node.")
    q.add_argument("-s", "--size", action="store_true", help="also the size of each (the engines walk them)")
    q.add_argument("-o", "--output", choices=["table", "json"], default="table")
    q.set_defaults(func=cmd_ls)
    q = verbs.add_parser("rm", parents=[common], help="remove a volume no replica uses",
                         description="Remove a tui-orch volume. Refused while a container uses it.")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--node", metavar="NODE", help="the node it is on (needed when several nodes have it)")
    q.set_defaults(func=cmd_rm, attach=True)
    q = verbs.add_parser("move", parents=[common], help="move a replica to another node with its named volumes",
                         description="Stop the replica, copy its named volumes to NODE (checksums compared), "
                         "start it there, and only once it passed its health gate remove the old copies. "
                         "On any failure it runs on its old node again with its data.")
    q.add_argument("replica", metavar="SERVICE[.SLOT]")
    q.add_argument("node", metavar="NODE")
    q.set_defaults(func=cmd_move, attach=True)


async def _listing(args: argparse.Namespace) -> tuple[list[VolumeRow], dict[str, str]]:
    from tui_orch.controller.volume_ops import listing
    from tui_orch.nodes.fleet import Fleet

    store = open_readonly(args)  # the recorded homes: which replica's data a volume holds
    try:
        homes = store.volume_homes()
    finally:
        store.close()
    fleet = Fleet(config.load(getattr(args, "inventory", None)))
    try:
        await fleet.start()
        return await listing(fleet, sizes=args.size, homes=homes)
    finally:
        await fleet.close()


def cmd_ls(args: argparse.Namespace) -> int:
    rows, trouble = _run(_listing(args))
    for node, why in sorted(trouble.items()):
        print(f"node {node} could not be listed ({why}); its volumes are not shown", file=sys.stderr)
    if args.output == "json":
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    if not rows:
        print("no volumes")
        return 0
    columns = ["name", "node", "replica", "driver", "in use"] + (["size"] if args.size else [])
    print(_table([{"name": r.name, "node": r.node + (" (simulated)" if r.simulated else ""), "replica": r.replicas, "driver": r.driver,
                   "in use": "yes" if r.in_use else "no",
                   "size": format_bytes(r.size) if r.size is not None else None} for r in rows], columns))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    async def act(ctl: Controller) -> int:
        print(await ctl.volume_remove(args.name, args.node))
        return 0

    return _run_with_controller(args, act)


class Progress:
    """The copy's progress as one line: volume, phase, bytes so far, MB/s."""

    def __init__(self, out: TextIO):
        self.out = out
        self.tty = out.isatty()
        self.last = 0.0
        self.shown = False

    def __call__(self, volume: str, phase: str, done: int, seconds: float) -> None:
        rate = done / seconds / 1e6 if seconds > 0 else 0.0
        what = "copying" if phase == "copy" else "checking the copy of"
        line = f"{what} {volume}: {format_bytes(done)}, {rate:.1f} MB/s"
        if self.tty:
            self.out.write("\r\033[K" + line)
            self.shown = True
        elif time.monotonic() - self.last >= LINE_EVERY:
            self.out.write(line + "\n")
        else:
            return
        self.last = time.monotonic()
        self.out.flush()

    def end(self) -> None:
        if self.shown:
            self.out.write("\n")
            self.out.flush()
            self.shown = False


def cmd_move(args: argparse.Namespace) -> int:
    from tui_orch.controller.availability import unknown_node
    from tui_orch.controller.volume_move import parse_replica

    service, _ = parse_replica(args.replica)
    names = [n.name for n in config.load(getattr(args, "inventory", None)).nodes]
    if args.node not in names:  # said before connecting to anything
        raise unknown_node(args.node, names)
    progress = Progress(sys.stdout)

    async def act(ctl: Controller) -> int:
        try:
            async with printing_events(ctl, {service}, kinds={"start", "stop"}):
                result = await ctl.volume_move(args.replica, args.node, progress)
        finally:
            progress.end()
        print(result.sentence())
        for line in result.warnings:
            print(f"warning: {line}", file=sys.stderr)
        return 0

    return _run_with_controller(args, act)
