"""The engine's event stream for one node: a thread that reads it (owned containers only)
and hands each event to the asyncio loop as it arrives; a cursor that lets a new stream
replay what happened while the node was cut off."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui_orch.nodes.base import LABEL_SERVICE, DockerEvent

if TYPE_CHECKING:
    import docker

EVENT_ACTIONS = ["create", "start", "restart", "die", "oom", "kill", "stop", "destroy",
                 "pause", "unpause", "health_status"]


def parse_event(node: str, raw: dict[str, Any]) -> DockerEvent | None:
    """A DockerEvent for an owned container's event; None for anything else."""
    if raw.get("Type") != "container":
        return None
    action = str(raw.get("Action") or raw.get("status") or "")
    if action.startswith("exec_"):
        return None
    health = None
    if action.startswith("health_status"):
        action, _, rest = action.partition(":")
        health = rest.strip() or None
    actor = raw.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    if LABEL_SERVICE not in attrs:
        return None
    code = attrs.get("exitCode")
    when = raw.get("timeNano")
    return DockerEvent(
        node=node,
        time=when / 1e9 if when else float(raw.get("time") or time.time()),
        action=action,
        container_id=str(actor.get("ID") or raw.get("id") or ""),
        labels=tuple(sorted((k, v) for k, v in attrs.items() if k.startswith("tui-orch."))),
        exit_code=int(code) if code is not None and str(code).lstrip("-").isdigit() else None,
        health=health,
        name=str(attrs.get("name", "")),
    )


@dataclass
class EventCursor:
    """Where a node's event stream stands, in the engine's clock (ns). It outlives a
    connection, so a new stream replays what happened while the node was cut off (as far
    as the engine still remembers) and skips what was already delivered."""

    last_ns: int = 0
    seen: set[tuple[str, str]] = field(default_factory=set)  # events at last_ns already delivered

    def since(self) -> str | None:
        return f"{self.last_ns // 10**9}.{self.last_ns % 10**9:09d}" if self.last_ns else None

    def start_at(self, engine_time: float | None) -> None:
        """A first stream starts when the node was first seen (engine time)."""
        if not self.last_ns and engine_time:
            self.last_ns = int(engine_time * 1e9)

    def fresh(self, raw: dict[str, Any]) -> bool:
        """True the first time an event is seen."""
        ns = int(raw.get("timeNano") or 0)
        key = (str(raw.get("id") or ""), str(raw.get("Action") or ""))
        if ns and (ns < self.last_ns or (ns == self.last_ns and key in self.seen)):
            return False
        if ns > self.last_ns:
            self.last_ns, self.seen = ns, set()
        self.seen.add(key)
        return True


class EventWatcher(threading.Thread):
    """Reads the engine's event stream (owned containers only) and hands each event to
    ``deliver`` on the loop. Reopens the stream after an error, asking for what it missed."""

    def __init__(self, node: str, client: docker.DockerClient, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[DockerEvent], None], on_error: Callable[[BaseException], None],
                 cursor: EventCursor | None = None):
        super().__init__(name=f"tui-orch-events-{node}", daemon=True)
        self.node, self.client, self.loop = node, client, loop
        self.deliver, self.on_error = deliver, on_error
        self.cursor = cursor or EventCursor()
        self.opened = threading.Event()
        self._stopped = threading.Event()
        self._stream: Any = None

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def run(self) -> None:
        filters = {"type": "container", "label": LABEL_SERVICE, "event": EVENT_ACTIONS}
        while not self._stopped.is_set():
            try:
                self._stream = self.client.events(decode=True, filters=filters, since=self.cursor.since())
                self.opened.set()
                if self._stopped.is_set():
                    break
                for raw in self._stream:
                    if self._stopped.is_set():
                        return
                    self._handle(raw)
                if not self._stopped.is_set():
                    raise ConnectionError("the event stream ended")
            except Exception as exc:  # the engine or the connection went away
                if self._stopped.is_set():
                    break
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    self.loop.call_soon_threadsafe(self.on_error, exc)
                self._stopped.wait(1.0)

    def _handle(self, raw: dict[str, Any]) -> None:
        if not self.cursor.fresh(raw):
            return  # replayed after a reopen
        event = parse_event(self.node, raw)
        if event is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.deliver, event)
