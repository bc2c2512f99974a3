"""The console's commands, served by a controller that runs on its own.

A console attached to a controller (attached.py) sends ``{"verb": "call", "method": M,
"args": {...}}`` and gets ``{"result": ...}`` (the command's result as model data) or
``{"error": sentence}``; an apply's build log comes as ``{"o": line}`` lines first. Only the
commands below can be called, each with its own arguments."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from tui_orch.errors import PlanOutdated, TuiOrchError
from tui_orch.model import to_dict

log = logging.getLogger(__name__)

BY_SERVICE = ("remove", "rollout_restart", "rollout_resume", "rollout_pause")
BY_NODE = ("cordon", "uncordon", "drain")
METHODS = frozenset({"apply", "scale", "rollout_undo", "rebalance", *BY_SERVICE, *BY_NODE})


async def call(controller: Any, method: str, args: dict[str, Any], output: Callable[[str], None]) -> dict[str, Any]:
    """Run one command on ``controller``; the answer to send."""
    if method not in METHODS:
        return {"error": f"the controller does not take {method[:40]!r} from a console"}
    try:
        result = await _dispatch(controller, method, args, output)
    except PlanOutdated as exc:
        return {"error": str(exc), "kind": "plan-outdated"}
    except TuiOrchError as exc:
        return {"error": str(exc)}
    except (KeyError, TypeError, ValueError) as exc:
        return {"error": f"a malformed {method} reached the controller ({exc.__class__.__name__})"}
    except Exception as exc:  # noqa: BLE001 - the console gets one sentence; the log has the rest
        log.exception("%s from a console failed", method)
        return {"error": f"{method} failed in the controller: {exc.__class__.__name__}: {exc}"}
    return {"result": to_dict(result)}


async def _dispatch(ctl: Any, method: str, args: dict[str, Any], output: Callable[[str], None]) -> Any:
    if method == "apply":
        from tui_orch.manifest import load_manifest

        files = None
        if args.get("shipped") is not None:  # a console on another machine read it (shipping.py)
            from tui_orch.control.shipping import unship

            manifest, *sent = await asyncio.to_thread(unship, args["shipped"])
            files = (sent[0], sent[1])
        else:
            environ = {str(k): str(v) for k, v in dict(args["environ"]).items()}
            profiles = args.get("profiles")
            manifest = await asyncio.to_thread(load_manifest, str(args["file"]), environ=environ,
                                               profiles=[str(p) for p in profiles] if profiles is not None else None)
        expect = args.get("expect")
        if expect is not None:
            expect = {str(k): [int(x) for x in v] for k, v in dict(expect).items()}
        return await ctl.apply(manifest, dry_run=bool(args.get("dry_run")), output=output, expect=expect,
                               shipped=files)
    if method == "scale":
        return await ctl.scale(str(args["service"]), int(args["replicas"]))
    if method == "rollout_undo":
        to = args.get("to_revision")
        return await ctl.rollout_undo(str(args["service"]), int(to) if to is not None else None)
    if method == "rebalance":
        return await ctl.rebalance()
    if method == "rollout_pause":
        service = str(args["service"])
        await ctl.settle_rollouts(halt=[service])  # a batch begun is finished first, as the CLI does
        return ctl.rollout_pause(service)
    if method in BY_SERVICE:
        return await getattr(ctl, method)(str(args["service"]))
    return await getattr(ctl, method)(str(args["node"]))
