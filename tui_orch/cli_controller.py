"""``tui-orch controller``: the reconcile loop on its own, without a console.

It owns the state folder as a console does, keeps the fleet as a console keeps it (restarts,
reschedules, rollouts), logs one line per event on stdout (``--log-format json``: one JSON
object per line), and serves the CLI's commands on a UNIX socket in the state folder
(control/): while it runs, ``tui-orch apply``, ``scale``, ``rm``, ``rollout ...``, ``node
cordon|drain|uncordon`` and ``volume rm|move`` are sent to it and print what they print
without it. SIGTERM or Ctrl-C: it stops listening, hands the restarts of its replicas to the
engines (as a console does when it closes) and exits 0.

``tui-orch controller install`` writes a systemd unit that runs it (user or system) and
enables it when systemd runs here (cli_unit.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from typing import Any, TextIO

from tui_orch import config
from tui_orch.errors import StoreError, TuiOrchError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("controller", parents=[common], help="run the control loop on its own (no console)",
                       description="Run the reconcile loop without a console: restarts, reschedules and "
                       "rollouts go on while no terminal is open. While it runs, the CLI's commands are sent "
                       "to it. `controller install` writes a systemd unit that runs it.")
    p.add_argument("action", nargs="?", choices=["run", "install", "status"], default="run",
                   help="run (the default), install a systemd unit, or say whether one runs")
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="one line per event on stdout: text (default) or one JSON object")
    from tui_orch.cli_unit import unit_options

    unit_options(p)
    p.set_defaults(func=cmd_controller)


def cmd_controller(args: argparse.Namespace) -> int:
    if args.action == "install":
        from tui_orch.cli_unit import cmd_install

        return cmd_install(args)
    folder = config.state_dir(getattr(args, "state", None))
    if args.action == "status":
        from tui_orch.control.client import ask_info

        info = ask_info(os.fspath(folder))
        if info is None and hasattr(folder, "endpoints"):  # an etcd state: its leader may run elsewhere
            return _etcd_status(folder)
        where = f"; its folder here, for --controller ssh://HOST/FOLDER: {os.fspath(folder)}" if hasattr(folder, "endpoints") else ""
        print(f"controller: {info.describe()} (state {info.state}{where})" if info else f"no controller runs for {folder}")
        return 0 if info else 1
    return run_headless(args, folder)


def _etcd_status(target: Any) -> int:
    """Who leads an etcd state (a controller or console on any machine)."""
    from tui_orch.store import open_store

    store = open_store(target, readonly=True)
    try:
        leader = store.leader()
    finally:
        store.close()
    print(f"leader of {target}: {leader.describe()}" if leader else f"nobody leads {target}")
    return 0 if leader else 1


def run_headless(args: argparse.Namespace, folder: Any) -> int:
    from tui_orch.control.place import running
    from tui_orch.errors import NotLeading, StoreLocked
    from tui_orch.store import EtcdTarget, open_store
    from tui_orch.store.etcdv3 import EtcdUnavailable

    log = EventLog(sys.stdout, args.log_format)
    inventory_flag = getattr(args, "inventory", None)
    inventory = config.load(inventory_flag)
    if not isinstance(folder, EtcdTarget):
        try:
            store = open_store(folder)
        except StoreLocked:
            info = running(os.fspath(folder))
            if info is not None:
                raise TuiOrchError(f"a controller already runs for {folder}: {info.describe()}; "
                                   f"stop it first (SIGTERM), or send it commands as they are") from None
            raise
        try:
            with routed_output():
                asyncio.run(_headless(store, inventory, (os.fspath(folder), str(folder)), inventory_flag, log, []))
        finally:
            store.close()
        return 0
    while True:  # an etcd state: stand by, lead, and stand by again if the lead is lost
        store = _stand_by(folder, log)
        if store is None:
            log.say("stopped before taking the lead")
            return 0
        lost: list[str] = []
        try:
            with routed_output():
                asyncio.run(_headless(store, inventory, (os.fspath(folder), folder.spec), inventory_flag, log, lost))
        except StoreError as exc:  # the lead lost, or etcd gone, while starting: stand by again
            if not (lost or isinstance(exc, (NotLeading, EtcdUnavailable))):
                raise
            lost.append(str(exc))
        finally:
            store.close()
        if not lost:
            return 0
        log.say(f"lost the lead ({lost[0]}): did nothing more to the nodes; standing by again", level="warning")


def _stand_by(target: Any, log: "EventLog") -> Any:
    """An etcd state: wait until this process leads it (standby while another does, or while
    etcd has no quorum); None when SIGTERM or Ctrl-C came first."""
    import threading

    from tui_orch.store import open_store
    from tui_orch.store.etcdv3 import EtcdUnavailable

    stop = threading.Event()
    saved = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    said = ""
    try:
        while not stop.is_set():
            try:
                probe = open_store(target, readonly=True)
                try:
                    leader = probe.leader()
                finally:
                    probe.close()
                if leader is not None:
                    log.say(f"standby: {leader.describe()} leads {target}; this controller takes over when "
                            f"its lease ({target.ttl:g} s) lapses")
                store = open_store(target, wait=stop)
                log.say(f"leading {target} (lease {target.ttl:g} s)")
                return store
            except StoreError as exc:
                if stop.is_set():
                    return None
                if not isinstance(exc, EtcdUnavailable):
                    raise
                if str(exc) != said:
                    said = str(exc)
                    log.say(f"standby: {exc}; waiting for etcd", level="warning")
                stop.wait(1.0)
        return None
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


class routed_output:
    """sys.stdout/sys.stderr routed to the client of the command being served (routed.py)."""

    def __enter__(self) -> None:
        from tui_orch.control.routed import RoutedOutput

        self.saved = sys.stdout, sys.stderr
        sys.stdout = RoutedOutput(self.saved[0], "o")  # type: ignore[assignment]
        sys.stderr = RoutedOutput(self.saved[1], "e")  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self.saved


class EventLog:
    """One line per event on the controller's own stdout (never a client's)."""

    def __init__(self, stream: TextIO, fmt: str):
        self.stream = stream
        self.json = fmt == "json"

    def event(self, ev: Any) -> None:
        from tui_orch.model import to_dict

        if self.json:
            self._write(json.dumps(to_dict(ev)))
            return
        where = " ".join(f"{k}={v}" for k, v in (("service", ev.service), ("replica", ev.replica), ("node", ev.node)) if v)
        self._write(f"{_stamp(ev.time)} {ev.level:<7} {ev.kind:<10} {ev.message}" + (f"  [{where}]" if where else ""))

    def say(self, message: str, level: str = "info", **data: Any) -> None:
        """A line of the controller's own (not an event of the fleet)."""
        now = time.time()
        if self.json:
            self._write(json.dumps({"time": now, "kind": "controller", "message": message, "level": level, **data}))
        else:
            self._write(f"{_stamp(now)} {level:<7} {'controller':<10} {message}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


async def _headless(store: Any, inventory: Any, where: tuple[str, str], inventory_flag: str | None, log: EventLog,
                    lost: list[str]) -> None:
    """Run until SIGTERM/SIGINT, or (an etcd state) until this process loses the lead
    (``lost`` then says why; nothing more is done to the nodes)."""
    from tui_orch.control.place import ControllerInfo, this_host
    from tui_orch.control.server import ControlServer
    from tui_orch.controller import Controller
    from tui_orch.nodes.fleet import Fleet

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    why: list[str] = []

    def on_signal(name: str) -> None:
        why.append(name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    folder, state = where

    def on_lost(reason: str) -> None:
        lost.append(reason)
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(on_signal, f"lost the lead ({reason})")

    if hasattr(store, "on_lost"):
        store.on_lost.append(on_lost)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.say("SIGHUP: no terminal to lose; carrying on"))
    fleet = Fleet(inventory)
    ctl = Controller(store, fleet)
    queue = ctl.bus.subscribe()

    async def pump() -> None:
        while True:
            log.event(await queue.get())

    pumping = asyncio.create_task(pump())
    info = ControllerInfo(host=this_host(), pid=os.getpid(), since=time.time(), state=state,
                          inventory=str(config.inventory_path(inventory_flag) or ""))
    server = ControlServer(folder, info, ctl, _forwarded(state, inventory_flag))
    log.say(f"starting: state {state}, {len(inventory.nodes)} node(s)", pid=os.getpid())
    try:
        await fleet.start()
        for node in fleet.nodes.values():
            status = node.status
            log.say(f"node {node.name}: {status.state.value}" + (f" ({status.reason})" if status.reason else ""),
                    level="info" if status.state.value == "Ready" else "warning", node=node.name)
        for node, reason in sorted((await ctl.catch_up()).items()):
            log.say(f"node {node} could not be listed ({reason}); its replicas are left as last recorded",
                    level="warning", node=node)
        await ctl.start()
        await server.start()
        log.say(f"listening: commands for {state} come here (pid {os.getpid()})")
        await stop.wait()
        log.say(f"{why[0] if why else 'stop'}: stopping")
    finally:
        await server.close()
        await ctl.close()  # hands the restarts to the engines (an event says how many)
        await fleet.close()
        pumping.cancel()
        while not queue.empty():
            log.event(queue.get_nowait())
        ctl.bus.unsubscribe(queue)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.say("stopped")


def _forwarded(folder: str, inventory_flag: str | None) -> Any:
    """The server's ``run``: a client's command line, parsed and run here as the CLI would,
    on this controller's state folder and inventory."""

    def run(argv: list[str], cwd: str, environ: dict[str, str]) -> int:
        from tui_orch.cli import REMOTE_READS, build_parser, run_args

        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # usage errors and --help (printed to the client)
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        if not (getattr(args, "attach", False) or args.verb in REMOTE_READS):
            print(f"tui-orch: the controller does not run {args.verb or 'a request without a command'!r}",
                  file=sys.stderr)
            return 2
        args.state, args.inventory, args.environ = folder, inventory_flag, environ
        if isinstance(getattr(args, "file", None), str):
            args.file = os.path.join(cwd, os.path.expanduser(args.file))
        return run_args(args)

    return run
