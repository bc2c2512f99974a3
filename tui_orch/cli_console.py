"""``tui-orch`` (no command), ``tui-orch console`` and ``tui-orch demo``: the console.

The console owns the state folder (a second one gets StoreLocked naming the owner) unless
``--readonly``: then it reads a snapshot that it rereads every second, binds no destructive
key, and runs no reconcile loop. The fleet and the controller are started by the app after
its first frame, so a hanging host never delays the screen."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_orch import config


def console_options(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    parser.add_argument("--readonly", action="store_true", default=False if default is None else default,
                        help="look, do not touch: destructive keys are not bound at all")
    parser.add_argument("--theme", metavar="NAME", default=default,
                        help="colour theme (default: from config.yaml, else tui-orch-dark)")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("console", parents=[common], help="open the console (the default)",
                       description="Open the keyboard-driven console on the inventory's nodes.")
    console_options(p)
    p.set_defaults(func=cmd_console)
    p = sub.add_parser("demo", parents=[common], help="the console on a fleet of simulated nodes",
                       description="Open the console on simulated nodes (marked SIMULATED) with crashes and "
                       "node failures now and then; the examples are deployed and rolled out on their own. "
                       "State goes to a temporary folder unless --state is given.")
    p.add_argument("--nodes", type=int, default=12, metavar="N", help="simulated nodes (default 12)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="seed of the simulation (default: random)")
    p.add_argument("--replicas", type=int, default=None, metavar="R",
                   help="deploy about R replicas in all: the examples' replicated services scaled up "
                   "(default: as the examples say)")
    p.add_argument("--no-script", action="store_true", help="do not deploy the examples on your behalf")
    console_options(p)
    p.set_defaults(func=cmd_demo)


def _ui_config(args: argparse.Namespace) -> Any:
    from tui_orch.ui.settings import load_ui_settings

    return load_ui_settings(readonly=bool(getattr(args, "readonly", False)), theme=getattr(args, "theme", None))


def console_folder(state: Any) -> Path:
    """Where the console keeps its own small files (the prompts' history): the state folder,
    or the user's state folder for an etcd state (and the demo's temporary one)."""
    from tui_orch.store import default_local_root

    return state if isinstance(state, Path) else default_local_root()


_gc_paused = False


def collector_paused(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``command`` run with the cyclic collector paused until the console's first frame: start-up
    allocates what lives as long as the console (modules, widgets, the fleet), and the
    collector's passes over it would add ~50 ms to that frame. ``start`` resumes it."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        global _gc_paused
        if not gc.isenabled():
            return command(args)
        gc.disable()
        _gc_paused = True
        try:
            return command(args)
        finally:
            resume_collector()

    return run


def resume_collector() -> None:
    """Run the collector again, what exists by now frozen out of its passes (as the app does
    once the fleet is up: it lives as long as the console)."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()


@collector_paused
def cmd_console(args: argparse.Namespace) -> int:
    from tui_orch.control.place import running
    from tui_orch.errors import TuiOrchError
    from tui_orch.store import EtcdTarget, open_store
    from tui_orch.store.etcdstore import StoreLeased

    cfg = _ui_config(args)
    inventory = config.load(getattr(args, "inventory", None))
    folder = config.state_dir(getattr(args, "state", None))
    cfg.state_dir = console_folder(folder)
    remote = getattr(args, "controller", None)
    if remote:  # a controller on another machine: the state is read here, from etcd
        if not isinstance(folder, EtcdTarget):
            raise TuiOrchError(f"a console attached to the controller at {remote} reads the state itself, so the "
                               f"state must be in etcd (--state etcd://...); for a state folder on that machine, "
                               f"run the console there (ssh -t HOST tui-orch)")
        from tui_orch.control.remote import parse_url

        parse_url(remote)  # a malformed URL: one message before the screen opens
        store = open_store(folder, readonly=True)
        try:
            asyncio.run(run_console(store, inventory, cfg, remote=remote))
        finally:
            store.close()
        return 0
    controller = running(os.fspath(folder))  # one runs on its own: attach to it (control/attached.py)
    where = None
    try:
        store = open_store(folder, readonly=cfg.readonly or controller is not None)
    except StoreLeased as exc:  # an etcd state led from another machine (or by a console): show it
        store = open_store(folder, readonly=True)
        cfg.readonly = True
        who = exc.leader.describe() if exc.leader else "another process"
        where = f"{who} (read-only here; act with --controller ssh://{exc.leader.host if exc.leader else 'HOST'})"
    cfg.usage_file = usage_file(folder, store)
    try:
        asyncio.run(run_console(store, inventory, cfg, attach=controller, where=where))
    finally:
        store.close()
    return 0


USAGE_FILE = "console-usage.bin"


def usage_file(folder: Any, store: Any) -> Path:
    """Where the console keeps its last hour of cpu and memory: in the state folder; for an
    etcd state (no folder here) in the user state folder, a file per etcd state."""
    from tui_orch.controller.context import owner_id
    from tui_orch.store import default_local_root

    if isinstance(folder, Path):
        return folder / USAGE_FILE
    return default_local_root() / f"console-usage-{owner_id(store)}.bin"


SWITCH_INTERVAL = 0.0005  # s: see run_console


async def run_console(store: Any, inventory: Any, cfg: Any, *, factory: Any = None,
                      script: Any = None, attach: Any = None, where: str | None = None,
                      remote: str | None = None) -> None:
    """Build fleet and controller, run the app (it starts them), close them when it ends.
    ``script(ctl, say)``: a coroutine run once the controller is up (the demo's).
    ``attach``: the ControllerInfo of a controller that runs on its own: the console reads
    the state and sends that controller its commands instead of running one."""
    from tui_orch.controller import Controller
    from tui_orch.nodes.fleet import Fleet
    from tui_orch.ui.app import OrchApp

    fleet = Fleet(inventory, factory)
    if remote is not None:  # --controller ssh://...: its commands go there through one SSH connection
        from tui_orch.control.attached import AttachedController
        from tui_orch.control.remote import RemoteChannel, parse_url

        channel = RemoteChannel(parse_url(remote))
        await channel.open()
        try:
            info = await channel.info()
        except BaseException:
            channel.close()
            raise
        ctl: Controller = AttachedController(store, fleet, os.fspath(store.folder), info, readonly=cfg.readonly,
                                             channel=channel)
    elif attach is not None:
        from tui_orch.control.attached import AttachedController

        ctl = AttachedController(store, fleet, os.fspath(store.folder), attach, readonly=cfg.readonly)
    else:
        ctl = Controller(store, fleet)
        if cfg.readonly:
            ctl.where = where or "another process or none (read-only here)"
    app: OrchApp | None = None
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        resume_collector()  # the first frame is up
        await fleet.start()
        if not cfg.readonly:
            await ctl.start()
        if script is not None and app is not None:
            tasks.append(asyncio.create_task(script(ctl, lambda text: app.notify(text, timeout=6))))

    app = OrchApp(ctl, cfg, start=start)
    # The terminal's input and output run in threads of Textual's driver: each waits for the
    # interpreter while the event loop works, up to the switch interval (5 ms by default) per
    # handoff; a frame written as the next piece of work starts reached the screen 5-10 ms late.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    # the terminal closed (SIGHUP): quit as the operator would, so that the controller hands
    # its restarts back and the demo removes its state folder (the default action just dies)
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, app.exit)
    try:
        await app.run_async()
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        sys.setswitchinterval(switch_interval)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        ready = len(fleet.ready())
        if ctl.reconciler.running and ready:  # the screen is gone: say what the wait is for
            print(f"tui-orch: handing restarts back to Docker Engine on {ready} node(s) and closing...",
                  file=sys.stderr, flush=True)
        await ctl.close()
        await fleet.close()


@collector_paused
def cmd_demo(args: argparse.Namespace) -> int:
    import random

    from tui_orch.errors import TuiOrchError
    from tui_orch.nodes.sim.node import SimulatedNode
    from tui_orch.nodes.sim.simulator import Simulator
    from tui_orch.store import open_store
    from tui_orch.ui import demo

    if args.nodes < 1:
        raise TuiOrchError(f"--nodes wants at least 1 node, not {args.nodes}")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    sim = Simulator(seed, chaos=demo.DEMO_CHAOS)
    cfg = _ui_config(args)
    folder = demo.examples_dir()
    cfg.examples_dir = folder
    manifests = demo.demo_manifests(folder)
    if args.replicas is not None:
        manifests = demo.scaled(manifests, args.replicas, args.nodes)
    temp = None if getattr(args, "state", None) else Path(tempfile.mkdtemp(prefix="tui-orch-demo-"))
    where = temp or config.state_dir(args.state)
    cfg.state_dir = console_folder(None if temp else where)
    store = open_store(where, readonly=cfg.readonly)
    cfg.usage_file = usage_file(where, store)

    async def script(ctl: Any, say: Any) -> None:
        say(f"demo: {args.nodes} simulated nodes, seed {seed}; state in {store.folder}")
        if not args.no_script and not cfg.readonly:
            await demo.demo_script(ctl, manifests, say)

    try:
        asyncio.run(run_console(store, demo.demo_inventory(args.nodes), cfg,
                                factory=lambda spec: SimulatedNode(spec, sim), script=script))
    finally:
        store.close()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    return 0
