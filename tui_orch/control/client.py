"""The CLI's end of the control channel: a command sent to the controller that runs for
the state folder, its output printed here as it comes (server.py has the protocol)."""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

from tui_orch.control.place import ControllerInfo, connect, read_info
from tui_orch.errors import TuiOrchError


def forward(folder: str, argv: list[str], info: ControllerInfo | None = None) -> int | None:
    """Run ``argv`` in the controller listening in ``folder``; its exit status, or None when
    no controller listens there (the caller then runs the command itself)."""
    sock = connect(folder)
    if sock is None:
        return None
    info = info or read_info(folder)
    who = f"the controller ({info.describe()})" if info else "the controller"
    try:
        _write(sock, {"verb": "run", "argv": argv, "cwd": os.getcwd(), "environ": dict(os.environ)})
        for message in _messages(sock):
            code = relay(message, who)
            if code is not None:
                return code
    except KeyboardInterrupt:
        print(f"tui-orch: interrupted here; {who} carries on with the command "
              f"(`tui-orch events -f` follows it)", file=sys.stderr)
        return 130
    except OSError as exc:
        raise TuiOrchError(f"lost the connection to {who}: {exc.strerror or exc}; "
                           f"see its log, and `tui-orch get services` for where things stand") from None
    finally:
        sock.close()
    raise TuiOrchError(f"{who} stopped before the command finished; see its log, and "
                       f"`tui-orch get services` for where things stand")


def relay(message: dict[str, Any], who: str) -> int | None:
    """Print one message of a running command where it belongs; its exit status at the end.
    Raises TuiOrchError for the controller's refusal (``who`` names it)."""
    if "o" in message:
        sys.stdout.write(str(message["o"]))
        sys.stdout.flush()
    elif "e" in message:
        sys.stderr.write(str(message["e"]))
        sys.stderr.flush()
    elif "exit" in message:
        return int(message["exit"])
    elif "error" in message:
        raise TuiOrchError(f"{who}: {message['error']}")
    return None


def ask_info(folder: str) -> ControllerInfo | None:
    """The controller's own word on who it is (None when none listens)."""
    sock = connect(folder)
    if sock is None:
        return None
    try:
        _write(sock, {"verb": "info"})
        for message in _messages(sock):
            data = message.get("info")
            if isinstance(data, dict):
                return ControllerInfo.from_dict(data)
        return None
    except (OSError, KeyError, TypeError, ValueError):
        return None
    finally:
        sock.close()


def _write(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def _messages(sock: socket.socket):  # type: ignore[no-untyped-def]
    with sock.makefile("rb") as stream:
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                yield message
