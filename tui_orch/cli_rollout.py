"""``tui-orch rollout status|history|pause|resume|undo|restart SERVICE``.

status and history read a snapshot of the state (they work while a console runs); the others
own the state folder, like apply. restart, resume and undo carry the rollout out and wait for
it, printing each step; Ctrl-C leaves it stored, and the next controller (console, or another
command) resumes it.
"""

from __future__ import annotations

import argparse
import datetime
import json
from typing import TYPE_CHECKING, Any

from tui_orch.cli_control import Subparsers, _run_with_controller, printing_events
from tui_orch.cli_get import open_query
from tui_orch.errors import TuiOrchError
from tui_orch.model import Rollout, to_dict

if TYPE_CHECKING:
    from tui_orch.controller import Controller

VERBS = ("status", "history", "pause", "resume", "undo", "restart")


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rollout", parents=[common], help="rolling updates: status, pause, resume, undo, restart",
                       description="Watch and steer the rolling update of a service.")
    p.add_argument("verb", choices=VERBS)
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("--to-revision", type=int, default=None, metavar="N", help="undo: the revision to go back to")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_rollout, attach=True)


def register_rebalance(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rebalance", parents=[common], help="free whole nodes by moving replicas (rolling)",
                       description="Show which replicas a rebalance would move to free whole nodes (the plan "
                                   "never does on its own); with --apply, move them: service by service, "
                                   "start-first, batch by batch, each old replica stopped only once its copy "
                                   "passed the health gate.")
    p.add_argument("--apply", action="store_true", help="carry the moves out (without it: show them only)")
    p.set_defaults(func=cmd_rebalance, attach=True)


def cmd_rebalance(args: argparse.Namespace) -> int:
    async def act(ctl: Controller) -> int:
        plan = ctl.rebalance_plan()
        print(plan.describe())
        if not plan.plan.starts:
            print("nothing to move: no node can be freed by moving its replicas to nodes in use")
            return 0
        if not args.apply:
            print("dry run: nothing moved; `tui-orch rebalance --apply` moves them (start-first, rolling)")
            return 0
        services = {s.service for s in plan.plan.starts}
        async with printing_events(ctl, services, kinds={"rollout", "stop", "start"}):
            done = await ctl.rebalance()
        records = done.rollouts
        for ro in records:
            print(describe(ro, ro.service))
        left = sorted(services - {ro.service for ro in records})
        if left:
            print(f"not moved (a rebalance before them did not complete): {', '.join(left)}")
        return 0 if records and done.ok and not left else 1

    return _run_with_controller(args, act)


def describe(ro: Rollout | None, service: str) -> str:
    if ro is None:
        return f"{service}: no rollout yet"
    lines = [f"{service}: {ro.kind} from revision {ro.from_revision} to {ro.to_revision}: {ro.state.value}",
             f"  {ro.progress} ({ro.order}, parallelism {ro.parallelism or 'all'})"]
    if ro.message:
        lines.append(f"  {ro.message}")
    if ro.retiring:
        lines.append(f"  old replicas still serving: {', '.join(k for k, _ in ro.retiring)}")
    return "\n".join(lines)


def status_json(ro: Rollout | None, service: str) -> dict[str, Any]:
    """The rollout as one JSON object: ``state`` "none" when the service never had one; the
    old replicas still serving as objects (stored as JSON text)."""
    if ro is None:
        return {"service": service, "state": "none", "message": f"{service}: no rollout yet"}
    out = to_dict(ro)
    retiring = []
    for key, text in ro.retiring:
        try:
            retiring.append({"key": key, "replica": json.loads(text)})
        except ValueError:
            retiring.append({"key": key, "replica": None})
    out["retiring"] = retiring
    return out


def _read(args: argparse.Namespace) -> int:
    store, query = open_query(args)
    try:
        if query.spec(args.service) is None:
            raise TuiOrchError(f"there is no service {args.service}; see `tui-orch get services`")
        if args.verb == "status":
            ro = query.rollout(args.service)
            print(json.dumps(status_json(ro, args.service), indent=2) if args.output == "json"
                  else describe(ro, args.service))
            return 0
        rows = query.revision_rows(args.service)
    finally:
        store.close()
    if args.output == "json":
        print(json.dumps([{"revision": r.number, "created_at": r.created_at, "applied_by": r.applied_by,
                           "cause": r.cause, "image": r.image, "change": r.change, "current": r.current}
                          for r in rows], indent=2))
        return 0
    for r in rows:
        when = datetime.datetime.fromtimestamp(r.created_at).strftime("%Y-%m-%d %H:%M:%S")
        mark = "*" if r.current else " "
        print(f"{mark} {r.number:>4}  {when}  {r.applied_by or '-'}  {r.image}  {r.cause}  ({r.change})")
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    if args.verb in ("status", "history"):
        return _read(args)

    async def act(ctl: Controller) -> int:
        async with printing_events(ctl, {args.service}):
            if args.verb == "pause":  # a batch a dead command left is finished first
                await ctl.settle_rollouts(halt=[args.service])
                ro = ctl.rollout_pause(args.service)
            elif args.verb == "resume":
                ro = await ctl.rollout_resume(args.service)
            elif args.verb == "undo":
                ro = await ctl.rollout_undo(args.service, args.to_revision)
            else:
                ro = await ctl.rollout_restart(args.service)
        print(describe(ro, args.service))
        if args.verb == "pause":
            return 0
        return 0 if ro.state.value in ("completed", "rolled back") else 1

    return _run_with_controller(args, act)

