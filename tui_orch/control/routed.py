"""What a command prints goes to the client that sent it.

The controller runs a forwarded command's code as the CLI does (it prints), in a thread
and in tasks that carry the command's context. ``RoutedOutput`` stands in for sys.stdout
and sys.stderr in the controller's process: a write goes to the sink of the current context
when there is one, else to the stream it wraps (the controller's own log)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any, TextIO

Sink = Callable[[str, str], None]  # (text, "o" or "e")

SINK: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("tui_orch_sink", default=None)


class RoutedOutput:
    def __init__(self, stream: TextIO, channel: str):
        self.stream = stream
        self.channel = channel

    def write(self, text: str) -> int:
        sink = SINK.get()
        if sink is None:
            return self.stream.write(text)
        sink(text, self.channel)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        sink = SINK.get()
        if sink is None:
            self.stream.flush()
        else:
            sink("", self.channel)  # raises once the client went away

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
