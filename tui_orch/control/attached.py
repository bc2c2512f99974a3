"""A console attached to a controller that runs on its own.

``AttachedController`` is what the console holds instead of a controller of its own: it
reads the state folder as a read-only console does (a snapshot reread every second; the
fleet is connected for live utilisation and logs), runs no reconcile loop, hands nothing
back when it closes, and sends each command to the controller (calls.py), whose answer
it returns as the console's own controller would."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any

from tui_orch.control.place import ControllerInfo, running, socket_address
from tui_orch.controller import ApplyResult, Controller
from tui_orch.controller.results import RebalanceResult
from tui_orch.errors import PlanOutdated, TuiOrchError
from tui_orch.model import Rollout, from_dict

READ_LIMIT = 16 << 20  # bytes of one answer (a plan of a large fleet)
LOOK_EVERY = 2.0  # seconds between two looks at which controller runs


class AttachedController(Controller):
    def __init__(self, store: Any, fleet: Any, folder: str, info: ControllerInfo, *, readonly: bool = False,
                 channel: Any = None):
        super().__init__(store, fleet)
        self.folder = folder
        self.info: ControllerInfo | None = info
        self.readonly = readonly
        self.channel = channel  # a controller on another machine (remote.RemoteChannel), else this machine's
        self._looked = time.monotonic()
        self._reader: Any = None

    @property  # type: ignore[override]
    def where(self) -> str:
        """The header's word: the controller that runs now (looked up every few seconds: it may
        have stopped, or another started since the console opened)."""
        if self.channel is not None:
            way = f"via ssh://{self.channel.target.host}"
            said = self.info.describe().replace(" since ", f" {way} since ", 1) if self.info else way
            return f"{said} (read-only here)" if self.readonly else said
        if time.monotonic() - self._looked >= LOOK_EVERY:
            self._looked = time.monotonic()
            self.info = running(self.folder)
        said = self.info.describe() if self.info else "none runs (commands are refused until one does)"
        return f"{said} (read-only here)" if self.readonly else said

    # ------------------------------------------------------------------ lifecycle: none here
    async def start(self) -> None:
        """The controller runs elsewhere: nothing to start."""

    async def close(self) -> None:
        """Nothing to hand back: the controller keeps running."""
        if self.channel is not None:
            self.channel.close()

    def query(self) -> Any:
        self._reader = super().query()
        return self._reader

    # ------------------------------------------------------------------ commands, sent
    async def apply(self, manifest: Any, dry_run: bool = False, *, build_on: str | None = None,
                    output: Callable[[str], None] | None = None,
                    expect: dict[str, list[int]] | None = None) -> ApplyResult:
        if build_on is not None:
            raise TuiOrchError("the controller builds where it is set to; give --build-on to its own command line")
        if self.channel is not None:  # read here, shipped with the bytes it needs (shipping.py)
            from tui_orch.control.shipping import ship

            shipped = await asyncio.to_thread(ship, manifest)
            args: dict[str, Any] = {"shipped": shipped, "dry_run": dry_run, "expect": expect}
        else:
            args = {"file": os.path.abspath(manifest.file), "profiles": list(manifest.profiles),
                    "environ": dict(os.environ), "dry_run": dry_run, "expect": expect}
        return from_dict(ApplyResult, await self._call("apply", args, output))

    async def scale(self, service: str, replicas: int) -> ApplyResult:
        return from_dict(ApplyResult, await self._call("scale", {"service": service, "replicas": replicas}))

    async def remove(self, service: str) -> ApplyResult:
        return from_dict(ApplyResult, await self._call("remove", {"service": service}))

    async def drain(self, node: str) -> ApplyResult:
        return from_dict(ApplyResult, await self._call("drain", {"node": node}))

    async def cordon(self, node: str) -> str:
        return str(await self._call("cordon", {"node": node}))

    async def uncordon(self, node: str) -> str:
        return str(await self._call("uncordon", {"node": node}))

    async def rollout_restart(self, service: str, wait: bool = True) -> Rollout:
        return from_dict(Rollout, await self._call("rollout_restart", {"service": service}))

    async def rollout_resume(self, service: str, wait: bool = True) -> Rollout:
        return from_dict(Rollout, await self._call("rollout_resume", {"service": service}))

    async def rollout_undo(self, service: str, to_revision: int | None = None, wait: bool = True) -> Rollout:
        return from_dict(Rollout, await self._call("rollout_undo", {"service": service, "to_revision": to_revision}))

    async def rollout_pause(self, service: str) -> Rollout:  # type: ignore[override]
        return from_dict(Rollout, await self._call("rollout_pause", {"service": service}))

    async def rebalance(self) -> RebalanceResult:
        return from_dict(RebalanceResult, await self._call("rebalance", {}))

    async def volume_move(self, replica: str, node: str, progress: Any = None) -> Any:
        raise TuiOrchError(f"a controller runs on its own: move the volume with "
                           f"`tui-orch volume move {replica} {node}`, which it carries out and reports")

    async def _call(self, method: str, args: dict[str, Any], output: Callable[[str], None] | None = None) -> Any:
        self._looked = 0.0  # look again at who runs: the header follows
        who = f"the controller ({self.info.describe()})" if self.info else "the controller"
        try:
            if self.channel is not None:
                reader, writer = await self.channel.connect()
            else:
                with socket_address(self.folder) as address:
                    reader, writer = await asyncio.open_unix_connection(address, limit=READ_LIMIT)
        except OSError as exc:
            raise TuiOrchError(f"{who} does not answer ({exc.strerror or exc}); is it still running? "
                               f"`tui-orch controller status` says") from None
        try:
            writer.write(json.dumps({"verb": "call", "method": method, "args": args}).encode() + b"\n")
            await writer.drain()
            while line := await reader.readline():
                answer = json.loads(line)
                if "o" in answer:
                    if output is not None:
                        output(str(answer["o"]))
                elif "error" in answer:
                    raise (PlanOutdated if answer.get("kind") == "plan-outdated" else TuiOrchError)(str(answer["error"]))
                elif "result" in answer:
                    return answer["result"]
        except (OSError, ValueError) as exc:
            raise TuiOrchError(f"lost {who} during {method}: {exc}") from None
        finally:
            writer.close()
            if self._reader is not None:  # show what the command did without waiting for the next poll
                await asyncio.to_thread(self._reader.refresh)
        raise TuiOrchError(f"{who} stopped during {method}; see its log")
