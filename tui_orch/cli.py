"""Headless commands: ``tui-orch VERB ...``. With no verb, the console opens.

Every error a user can cause ends as one line on stderr and exit status 1 (2 for usage)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from tui_orch import __version__, config
from tui_orch.container_settings import describe as describe_settings
from tui_orch.errors import ManifestError, TuiOrchError, printable
from tui_orch.model import Resources, ServiceSpec, to_dict
from tui_orch.units import format_bytes, format_duration


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-orch",
        description="A keyboard-driven console for a small fleet of Docker hosts reached over SSH. "
        "With no command, the console opens.",
    )
    parser.add_argument("--version", action="version", version=f"tui-orch {__version__}")
    # --state/--inventory are read before the verb (default None) and after it; after it they
    # default to SUPPRESS so that a verb's parser never overwrites a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _location_options(common, default=argparse.SUPPRESS, documented=True)
    _location_options(parser, default=None, documented=False)
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")

    p = sub.add_parser("validate", parents=[common], help="check Compose files and print the resolved services",
                       description="Check Compose files. Prints each service with every setting resolved "
                       "(defaults included), or every error with file:line:column. Exit 1 on errors.")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("-f", "--file", dest="file_options", action="append", default=[], metavar="FILE",
                   help="a Compose file, as apply takes it (may be repeated; the same as naming it)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    profile_option(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("nodes", parents=[common], help="every node: state, utilisation, capacity",
                       description="Connect to every node of the inventory and show its state (with the "
                       "reason when it is not Ready), utilisation and capacity. Exit 1 when a node is not Ready.")
    p.add_argument("-w", "--watch", action="store_true", help="redraw every second until Ctrl-C (json: one line a second)")
    p.add_argument("--offline", action="store_true", help="list the inventory without connecting")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_nodes)

    p = sub.add_parser("node", help="act on one node (prepare, cordon, drain, uncordon)")
    node_sub = p.add_subparsers(dest="node_verb", metavar="ACTION", required=True)
    from tui_orch.cli_nodes import register as register_nodes

    register_nodes(sub, node_sub, common)
    from tui_orch.cli_control import register, register_node

    register_node(node_sub, common)
    register(sub, common)
    from tui_orch.cli_rollout import register as register_rollout, register_rebalance

    register_rollout(sub, common)
    register_rebalance(sub, common)
    from tui_orch.cli_volume import register as register_volume

    register_volume(sub, common)
    from tui_orch.cli_console import console_options, register as register_console

    register_console(sub, common)
    from tui_orch.cli_controller import register as register_controller

    register_controller(sub, common)
    from tui_orch.cli_state import register as register_state

    register_state(sub, common)
    console_options(parser, default=None)  # `tui-orch --readonly` opens the console too
    return parser


def _location_options(parser: argparse.ArgumentParser, default: object, documented: bool) -> None:
    def doc(text: str) -> str:
        return text if documented else argparse.SUPPRESS

    parser.add_argument("--state", metavar="DIR|etcd://...", default=default,
                        help=doc("state folder, or etcd://HOST:PORT,.../PREFIX for a team's state "
                                 "(default: $TUI_ORCH_STATE or the user state dir)"))
    parser.add_argument("--inventory", "-i", metavar="FILE", default=default,
                        help=doc("nodes file (default: $TUI_ORCH_INVENTORY or CONFIG/nodes.yaml; none = this machine)"))
    parser.add_argument("--controller", metavar="URL", default=default,
                        help=doc("a controller on another machine: ssh://[USER@]HOST[:PORT][/STATE-FOLDER] "
                                 "(default: $TUI_ORCH_CONTROLLER; none: the one for --state, if it runs)"))


def main(argv: Sequence[str] | None = None) -> int:
    from tui_orch.cli_output import escaped_output

    try:
        with escaped_output():  # names, paths and messages from files and hosts: never raw controls
            code = _main(argv)
            sys.stdout.flush()
            return code
    except BrokenPipeError:  # `tui-orch get services | head -1`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
        return 0


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        args = parser.parse_args(["console", *(sys.argv[1:] if argv is None else argv)])
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        remote = getattr(args, "controller", None)
        if not remote and forwardable(args):  # the variable is for what a controller runs; the rest ignore it
            remote = os.environ.get("TUI_ORCH_CONTROLLER")
        if remote and args.verb != "console":  # a controller on another machine (control/remote.py)
            return run_remote(args, remote, words)
        if getattr(args, "attach", False):  # a controller that runs on its own does it, if one runs
            from tui_orch.control.client import forward

            code = forward(os.fspath(config.state_dir(args.state)), words)
            if code is not None:
                return code
    except TuiOrchError as exc:
        print(f"tui-orch: {exc}", file=sys.stderr)
        return 1
    return run_args(args)


def forwardable(args: argparse.Namespace) -> bool:
    """Can a controller on another machine run this command?"""
    return bool(getattr(args, "attach", False)) or args.verb in REMOTE_READS


REMOTE_READS = {"get", "events"}  # besides the commands a controller runs (attach=True)


def run_remote(args: argparse.Namespace, url: str, argv: list[str]) -> int:
    """A command for the controller at ``url`` (--controller): sent there, or refused here."""
    from tui_orch.control.remote import forward

    if args.verb == "apply":  # read here, shipped with the bytes it needs (control/shipping.py)
        from tui_orch.control.shipping import ship
        from tui_orch.manifest import load_manifest

        if args.build_on:
            raise TuiOrchError("--build-on: a controller on another machine builds nothing shipped from here "
                               "(build contexts are not shipped); apply where it runs")
        manifest = load_manifest(args.file, profiles=getattr(args, "profiles", None))  # ManifestError: main prints it
        for warning in manifest.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return forward(url, argv, shipped=ship(manifest))
    if not forwardable(args):
        action = next((getattr(args, a) for a in ("node_verb", "volume_verb", "state_verb") if getattr(args, a, None)), None)
        what = f"{args.verb} {action}" if action else args.verb
        raise TuiOrchError(f"{what} runs on this machine; --controller is for the commands a controller "
                           f"carries out (scale, rm, rollout, node cordon|drain|uncordon, volume rm|move) and "
                           f"for get and events")
    return forward(url, argv)


def run_args(args: argparse.Namespace) -> int:
    """Run a parsed command: an error a user can cause ends as one line on stderr."""
    try:
        return int(args.func(args) or 0)
    except TuiOrchError as exc:
        print(f"tui-orch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------- validate


MAX_PRINTED = 100  # errors printed per file; the rest are counted in one "and N more" line


def profile_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", action="append", metavar="NAME", dest="profiles", default=None,
                   help="activate a Compose profile (repeatable; '*' = all; default: $COMPOSE_PROFILES)")


def print_manifest_error(exc: ManifestError, file: str) -> None:
    """Every warning and at most MAX_PRINTED errors of a file that cannot be deployed, on stderr."""
    for warning in exc.warnings:
        print(warning, file=sys.stderr)
    shown = exc.problems  # the reader keeps 100 per file, then one "and N more" line
    for problem in shown[:MAX_PRINTED] if len(shown) > MAX_PRINTED + 1 else shown:
        print(problem, file=sys.stderr)
    if len(shown) > MAX_PRINTED + 1:
        print(f"{file}: and {exc.total - MAX_PRINTED} more errors (only the first {MAX_PRINTED} are shown)",
              file=sys.stderr)
    n = exc.total
    print(f"{file}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)


def left_out_lines(manifest: object) -> list[str]:
    """One line per service the active profiles leave out."""
    return [f"left out: {name} (profiles: {', '.join(profiles)}; none active); activate with --profile {profiles[0]}"
            for name, profiles in getattr(manifest, "left_out", ())]


def _problem_json(p: object) -> dict[str, object]:
    import dataclasses

    return dataclasses.asdict(p)  # type: ignore[call-overload, no-any-return]


def cmd_validate(args: argparse.Namespace) -> int:
    from tui_orch.manifest import load_manifest

    failed = False
    out: list[dict[str, object]] = []
    files = [*args.files, *args.file_options]
    if not files:
        print("tui-orch validate: name a Compose file: tui-orch validate compose.yaml (or -f compose.yaml)",
              file=sys.stderr)
        return 2
    for file in files:
        try:
            manifest = load_manifest(file, profiles=args.profiles)
        except ManifestError as exc:
            failed = True
            if args.output == "json":
                out.append({"file": file, "valid": False, "error_count": exc.total,
                            "errors": [_problem_json(p) for p in exc.problems],
                            "warnings": [_problem_json(p) for p in exc.warnings]})
            else:
                print_manifest_error(exc, file)
            continue
        if args.output == "json":
            out.append({"file": file, "valid": True, "name": manifest.name,
                        "services": [to_dict(s) for s in manifest.services],
                        "left_out": [{"service": n, "profiles": list(p)} for n, p in manifest.left_out],
                        "warnings": [_problem_json(p) for p in manifest.warnings]})
            continue
        for warning in manifest.warnings:
            print(warning, file=sys.stderr)
        count = len(manifest.services)
        print(f"{file}: valid, {count} service{'s' if count != 1 else ''}")
        for spec in manifest.services:
            print(describe_service(spec))
        for line in left_out_lines(manifest):
            print(line)
    if args.output == "json":
        print(json.dumps(out, indent=2))
    return 1 if failed else 0


def describe_service(s: ServiceSpec) -> str:
    """The resolved settings of one service, a few readable lines."""
    count = "global (one per node)" if s.mode == "global" else f"{s.replicas} replica{'s' if s.replicas != 1 else ''}"
    lines = [f"  {s.name}: {s.image}, {count}"]
    if s.build is not None:
        dockerfile = "inline Dockerfile" if s.build.dockerfile_inline is not None else s.build.dockerfile or "Dockerfile"
        lines.append(f"    build: {s.build.context} ({dockerfile}{', target ' + s.build.target if s.build.target else ''})")
    if s.entrypoint is not None:
        lines.append(f"    entrypoint: {_argv(s.entrypoint)}")
    if s.command is not None:
        lines.append(f"    command: {_argv(s.command)}")
    if s.environment:
        lines.append(f"    environment: {', '.join(k for k, _ in s.environment)}")
    if s.network_mode:
        lines.append(f"    network_mode: {s.network_mode}")
    if s.ports:
        lines.append(f"    ports: {', '.join(map(str, s.ports))}")
    res = s.resources
    lines.append(f"    reservations: {_res(res.reservations)}; limits: {_res(res.limits)}")
    hc = s.healthcheck
    if hc is None:
        lines.append("    healthcheck: from the image (if any)")
    elif not hc.enabled:
        lines.append("    healthcheck: disabled")
    else:
        test = " ".join(hc.test or ())
        lines.append(
            f"    healthcheck: {test}; every {format_duration(hc.interval)}, timeout {format_duration(hc.timeout)}, "
            f"{hc.retries} retries, start period {format_duration(hc.start_period)}"
        )
    rp = s.restart_policy
    attempts = "unlimited" if rp.max_attempts == 0 else str(rp.max_attempts)
    window = f" in {format_duration(rp.window)}" if rp.window else ""
    lines.append(f"    restart: {rp.condition}, delay {format_duration(rp.delay)}, attempts {attempts}{window}")
    for label, uc in (("update", s.update_config), ("rollback", s.rollback_config)):
        par = "all" if uc.parallelism == 0 else str(uc.parallelism)
        lines.append(
            f"    {label}: {par} at a time, {uc.order}, delay {format_duration(uc.delay)}, monitor "
            f"{format_duration(uc.monitor)}, on failure {uc.failure_action}, max failure ratio {uc.max_failure_ratio:g}"
        )
    pl = s.placement
    parts = [str(c) for c in pl.constraints] + [f"spread {p}" for p in pl.preferences]
    if pl.max_replicas_per_node:
        parts.append(f"at most {pl.max_replicas_per_node} per node")
    if parts:
        lines.append(f"    placement: {'; '.join(parts)}")
    lines.append(f"    stop: {s.stop_signal or 'SIGTERM'}, grace {format_duration(s.stop_grace_period)}")
    container = describe_settings(s.settings)
    if container:
        lines.append(f"    container: {container}")
    return "\n".join(lines)


def _argv(argv: tuple[str, ...]) -> str:
    import shlex

    return shlex.join(argv)


def _res(r: Resources) -> str:
    parts = ([f"{r.cpus:g} cpus"] if r.cpus else []) + ([format_bytes(r.memory)] if r.memory else [])
    return ", ".join(parts) or "none"


# --------------------------------------------------------------------------- nodes


def cmd_nodes(args: argparse.Namespace) -> int:
    if not args.offline:
        from tui_orch.cli_nodes import cmd_nodes_live

        return cmd_nodes_live(args)
    from tui_orch.nodes.sshconfig import settings

    inventory = config.load(args.inventory)
    rows = []
    for node in inventory.nodes:
        if node.local:
            how, user = "this machine (local socket)", "-"
        else:
            ssh = settings(node)
            how = f"ssh {ssh.host}:{ssh.port}" + (f" via {ssh.proxy_jump}" if ssh.proxy_jump else "")
            user = ssh.user or "-"
        capacity = "detected"
        if node.capacity:
            capacity = f"{node.capacity.cpus:g} cpus, {format_bytes(node.capacity.memory)}"
        reserved = "-"
        if node.reserved.cpus or node.reserved.memory:
            reserved = f"{node.reserved.cpus:g} cpus, {format_bytes(node.reserved.memory)}"
        labels = ",".join(f"{k}={v}" for k, v in node.labels) or "-"
        rows.append({"name": node.name, "reach": how, "user": user, "docker": node.docker_socket,
                     "labels": labels, "capacity": capacity, "reserved": reserved,
                     "simulated": node.simulated})
    if args.output == "json":
        print(json.dumps({"inventory": inventory.file, "nodes": rows}, indent=2))
        return 0
    source = inventory.file or "none (this machine is the only node)"
    print(f"inventory: {source}")
    headers = ["NAME", "REACH", "USER", "DOCKER SOCKET", "LABELS", "CAPACITY", "RESERVED"]
    keys = ["name", "reach", "user", "docker", "labels", "capacity", "reserved"]
    table = [headers] + [[printable(str(r[k]) + (" [SIMULATED]" if k == "name" and r["simulated"] else ""))
                          for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0
