"""Headless controller commands: apply, rm, scale, get, events, node cordon|drain|uncordon.

Handlers take the argparse namespace (``args.state``, ``args.inventory`` and the fields that
``register`` defines) and return the exit status; errors a user can cause raise
TuiOrchError (cli.main prints them as one line). apply, rm and scale own the state folder
(a second process gets StoreLocked naming the owner) and first bring the replica records in
line with what the nodes run (controller/observe.py); get (cli_get.py) and events read a
snapshot, so they work while a console runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

from tui_orch import config
from tui_orch.cli_get import cmd_get, open_query
from tui_orch.errors import TuiOrchError
from tui_orch.model import Event, to_dict

if TYPE_CHECKING:  # loaded by the commands that use them: `tui-orch --help` stays quick
    from tui_orch.controller import ApplyResult, Controller
    from tui_orch.inventory import Inventory
    from tui_orch.store import Store

Handler = Callable[[argparse.Namespace], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Act = Callable[["Controller"], Awaitable[int]]


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add the controller verbs to the CLI's subparsers (``common`` holds --state/--inventory)."""
    p = sub.add_parser("apply", parents=[common], help="deploy the services of a Compose file")
    p.add_argument("-f", "--file", required=True, metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="show the plan; change nothing and build nothing (a service with build: is planned "
                   "with the image last built for it)")
    p.add_argument("--build-on", metavar="NODE", default=None,
                   help="build images (build:) on this node (default: this machine's Docker Engine, else the "
                   "inventory's build_on)")
    from tui_orch.cli import profile_option

    profile_option(p)
    p.set_defaults(func=cmd_apply, attach=True)
    p = sub.add_parser("rm", parents=[common], help="stop every replica of a service and forget it")
    p.add_argument("service", metavar="SERVICE")
    p.set_defaults(func=cmd_rm, attach=True)
    p = sub.add_parser("scale", parents=[common], help="set a service's replica count: SERVICE=N")
    p.add_argument("assignment", metavar="SERVICE=N")
    p.set_defaults(func=cmd_scale, attach=True)
    p = sub.add_parser("get", parents=[common], help="list services or replicas")
    p.add_argument("what", choices=["services", "replicas"])
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.add_argument("--cached", action="store_true",
                   help="show the saved state without looking at the nodes")
    p.set_defaults(func=cmd_get)
    p = sub.add_parser("events", parents=[common], help="the event log")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events until Ctrl-C")
    p.add_argument("-n", "--limit", type=int, default=50)
    p.add_argument("--service", default=None)
    p.add_argument("-o", "--output", choices=["text", "json"], default="text",
                   help="json: one JSON object per line (with --follow too)")
    p.set_defaults(func=cmd_events)


def register_node(node_sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add cordon, drain and uncordon to the subparsers of ``tui-orch node``."""
    helps = {
        "cordon": "keep a node's replicas but place nothing new there",
        "drain": "move a node's replicas to other nodes and place nothing new there",
        "uncordon": "make a cordoned or drained node schedulable again",
    }
    for verb, text in helps.items():
        q = node_sub.add_parser(verb, parents=[common], help=text, description=text[0].upper() + text[1:] + ".")
        q.add_argument("node", metavar="NODE")
        q.set_defaults(func=cmd_node_availability, availability_verb=verb, attach=True)


# --------------------------------------------------------------------------- owning commands


def _run_with_controller(args: argparse.Namespace, act: Act,
                         connect: bool = True) -> int:
    """Run ``act(controller)`` owning the state folder; ``connect=False`` skips connecting
    to the nodes (for commands that only change desired state)."""
    from tui_orch.control.server import run_act, serving
    from tui_orch.store import open_store

    if serving() is not None:  # forwarded to a controller that runs on its own: act on it
        return run_act(act)
    store = open_store(config.state_dir(getattr(args, "state", None)))  # StoreLocked if owned
    try:
        inventory = config.load(getattr(args, "inventory", None))
        return asyncio.run(_with_fleet(store, inventory, act, connect))
    finally:
        store.close()


async def _with_fleet(store: Store, inventory: Inventory, act: Act, connect: bool = True) -> int:
    from tui_orch.controller import Controller
    from tui_orch.controller.interrupted import stored
    from tui_orch.nodes.fleet import Fleet

    fleet = Fleet(inventory)
    try:
        if connect or stored(store):  # a rollout a dead command left is carried on first: on the nodes
            await fleet.start()
        ctl = Controller(store, fleet)
        try:
            if connect:  # act on what the nodes run, not on what was last saved
                _warn_unknown(await ctl.catch_up())
            return await act(ctl)
        finally:
            await ctl.close()
    finally:
        await fleet.close()


def _warn_unknown(unreachable: dict[str, str]) -> None:
    for node, why in sorted(unreachable.items()):
        print(f"node {node} could not be listed ({why}); its replicas are left as last recorded", file=sys.stderr)


def _report(result: ApplyResult) -> int:
    if result.plan:
        print(result.plan)
    for key in result.started:
        print(f"running: {key}")
    for key in result.completed:
        print(f"completed: {key}")
    for key in result.stopped:
        print(f"stopped: {key}")
    for line in result.failed:
        print(f"failed: {line}", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_apply(args: argparse.Namespace) -> int:
    from tui_orch.manifest import load_manifest

    from tui_orch.cli import left_out_lines
    from tui_orch.errors import ManifestError

    from tui_orch.control.server import shipped

    files = None
    try:
        if shipped() is not None:  # read on the client's machine, with the bytes it needs
            from tui_orch.control.shipping import unship

            manifest, *sent = unship(shipped())
            files = (sent[0], sent[1])
        else:
            manifest = load_manifest(args.file, profiles=getattr(args, "profiles", None),
                                     environ=getattr(args, "environ", None))  # a forwarding client's
    except ManifestError as exc:  # every problem with file:line:column (cli.main), warnings too
        for warning in exc.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        raise
    for warning in manifest.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in left_out_lines(manifest):  # deployed earlier with the profile: left running, as compose up does
        print(line)

    async def act(ctl: Controller) -> int:
        async with printing_events(ctl, set(manifest.names), kinds={"rollout", "rollback"}):
            result = await ctl.apply(manifest, dry_run=args.dry_run, build_on=args.build_on,
                                     output=lambda line: print(line, flush=True), shipped=files)
        if args.dry_run:
            print("dry run: nothing changed")
        for name in result.unchanged:
            print(f"unchanged: {name}")
        for name, number in result.revisions.items():
            print(f"{name}: revision {number}")
        for name, what in result.rollouts.items():
            print(f"{name}: {what}")
        return _report(result)

    return _run_with_controller(args, act)


@contextlib.asynccontextmanager
async def printing_events(ctl: Controller, services: set[str], kinds: set[str] | None = None) -> AsyncIterator[None]:
    """Print the controller's events about ``services`` (of ``kinds``) as they happen."""
    queue = ctl.bus.subscribe()

    def show(ev: Event) -> None:
        if ev.service in services and (kinds is None or ev.kind in kinds):
            print(format_event(ev), file=sys.stderr if ev.level == "error" else sys.stdout, flush=True)

    async def pump() -> None:
        while True:
            show(await queue.get())

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        task.cancel()
        ctl.bus.unsubscribe(queue)
        while not queue.empty():
            show(queue.get_nowait())


def cmd_rm(args: argparse.Namespace) -> int:
    async def act(ctl: Controller) -> int:
        return _report(await ctl.remove(args.service))

    return _run_with_controller(args, act)


def parse_assignment(text: str) -> tuple[str, int]:
    name, sep, count = text.partition("=")
    if not sep or not name or not (count.isascii() and count.isdigit()):
        raise TuiOrchError(f"scale wants SERVICE=N (N a whole number), not {text!r}")
    return name, int(count)


def cmd_scale(args: argparse.Namespace) -> int:
    name, count = parse_assignment(args.assignment)

    async def act(ctl: Controller) -> int:
        return _report(await ctl.scale(name, count))

    return _run_with_controller(args, act)


def cmd_node_availability(args: argparse.Namespace) -> int:
    """``tui-orch node cordon|drain|uncordon NODE``: one line on stdout (failures on stderr)."""
    from tui_orch.controller.availability import unknown_node

    verb, node = args.availability_verb, args.node
    names = [n.name for n in config.load(getattr(args, "inventory", None)).nodes]
    if node not in names:
        raise unknown_node(node, names)

    async def act(ctl: Controller) -> int:
        if verb != "drain":
            print(await (ctl.cordon if verb == "cordon" else ctl.uncordon)(node))
            return 0
        result = await ctl.drain(node)
        moved = len(result.stopped)
        print(f"{node} drained: {moved} replica{'s' if moved != 1 else ''} stopped there, "
              f"{len(result.started)} started on other nodes")
        for line in result.failed + result.unschedulable:
            print(f"failed: {line}", file=sys.stderr)
        return 0 if result.ok else 1

    return _run_with_controller(args, act, connect=verb == "drain")


# --------------------------------------------------------------------------- reading commands


def format_event(ev: Event) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(ev.time))
    return f"{stamp} {ev.level:<7} {ev.kind:<9} {ev.message}"


def cmd_events(args: argparse.Namespace) -> int:
    store, query = open_query(args)
    service = getattr(args, "service", None)
    show = (lambda ev: json.dumps(to_dict(ev))) if getattr(args, "output", "text") == "json" else format_event
    try:
        events = query.events(limit=getattr(args, "limit", 50), service=service)
        for ev in events:
            print(show(ev), flush=True)
        last = events[-1].time if events else 0.0
        while getattr(args, "follow", False):
            time.sleep(0.5)
            sys.stdout.flush()  # sent by a controller (control/): ends once its client went away
            query.refresh()
            for ev in query.events(service=service, since=last):
                if ev.time > last:
                    print(show(ev), flush=True)
                    last = ev.time
    except KeyboardInterrupt:
        return 130
    finally:
        store.close()
    return 0
