"""What the headless commands write reaches the terminal printable only.

Names, paths, messages and table cells come from files and hosts the operator does not
control: a service named ``"web\\rx.yaml: valid\\x1b[8m"`` printed raw makes a failing run
look valid. Rather than trusting each of the CLI's many ``print`` calls, ``cli.main`` puts
``EscapedOutput`` over stdout and stderr for the whole command: every character but the
newline that ``str.isprintable`` refuses is written escaped (``\\r``, ``\\x1b``, ``\\u202e``).
The only control sequence the CLI means to send (``nodes --watch`` clearing the screen)
goes through ``control``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from tui_orch.errors import printable_lines


class EscapedOutput:
    """A text stream that writes ``printable_lines(text)`` to the stream it wraps."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable_lines(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def isatty(self) -> bool:
        """False: nothing may send escape sequences through this stream (Rich, which prints
        Textual's crash reports to stderr, then writes plain text instead of escaped colours)."""
        return False

    def control(self, sequence: str) -> None:
        """Write a terminal control sequence the CLI itself chose, as it is."""
        self.stream.write(sequence)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding...
        return getattr(self.stream, name)


def write_control(sequence: str) -> None:
    """Send a control sequence of the CLI's own (clear the screen...) to stdout, as it is."""
    out = sys.stdout
    if isinstance(out, EscapedOutput):
        out.control(sequence)
    else:
        out.write(sequence)


@contextlib.contextmanager
def escaped_output() -> Iterator[None]:
    """stdout and stderr escaped for the duration (restored after, also for tests that call
    ``main`` in-process with captured streams)."""
    saved = sys.stdout, sys.stderr
    sys.stdout = EscapedOutput(saved[0])  # type: ignore[assignment]
    sys.stderr = EscapedOutput(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


__all__ = ["EscapedOutput", "escaped_output", "write_control"]
