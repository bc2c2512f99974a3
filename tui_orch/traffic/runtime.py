"""HAProxy Runtime API: the command lines, how answers are framed, and what they say.

Commands are sent in interactive (`prompt`) mode on one connection: HAProxy then writes a
prompt "> " at the start of a line after every answer, which frames answers unambiguously
(in the one-shot mode answers are separated by an empty line, except `del server`'s, which
would run into the next one). Answer lines never start with "> ": names are limited to
[A-Za-z0-9._-] and messages are sentences.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Callable

from tui_orch.traffic.haproxy import LAYOUT_VARIABLE
from tui_orch.traffic.model import Server, ServerState

# srv_admin_state bits (HAProxy's SRV_ADMF_*): forced, inherited, resolver and hostname
# maintenance put a server out; CMAINT only remembers the `disabled` keyword and stays set
# after `enable server`, so it is not maintenance by itself.
_MAINT_BITS = 0x01 | 0x02 | 0x20 | 0x40
_DRAIN_BITS = 0x08 | 0x10
_PROMPT = re.compile(r"(?m)^> ")


# --- command lines -------------------------------------------------------------------

def add_server(backend: str, server: Server) -> str:
    """A new server, in maintenance until `set server ... state` (HAProxy 2.6 adds dynamic
    servers in maint; the backend must use a dynamic balance algorithm)."""
    return f"add server {backend}/{server.name} {server.endpoint}"


def enable_server(backend: str, server: str) -> str:
    return f"enable server {backend}/{server}"


def set_state(backend: str, server: str, state: ServerState) -> str:
    return f"set server {backend}/{server} state {state}"


def set_address(backend: str, server: Server) -> str:
    """Move a server to another address and port (new connections go there)."""
    return f"set server {backend}/{server.name} addr {server.address} port {server.port}"


def shutdown_sessions(backend: str, server: str) -> str:
    return f"shutdown sessions server {backend}/{server}"


def del_server(backend: str, server: str) -> str:
    """Accepted only for a server in maintenance with no connection left."""
    return f"del server {backend}/{server}"


def show_servers_state() -> str:
    return "show servers state"


def show_stat() -> str:
    """Statistics of every server (-1: every proxy, 4: servers only, -1: every server)."""
    return "show stat -1 4 -1"


def show_layout() -> str:
    return f"show env {LAYOUT_VARIABLE}"


# --- framing ---------------------------------------------------------------------------

def session_text(commands: list[str]) -> str:
    """What to write on one connection: prompt mode, the commands, quit."""
    for command in commands:
        if "\n" in command or ";" in command:
            raise ValueError(f"runtime command {command!r} holds a newline or a ';'")
    return "".join(line + "\n" for line in ["prompt", *commands, "quit"])


def split_answers(text: str, count: int) -> list[str] | None:
    """The answers to count commands from what HAProxy wrote for session_text; None when
    the text holds fewer answers (the connection was cut)."""
    parts = _PROMPT.split(text)
    # parts[0]: the (empty) answer to `prompt`; then one part per command; then `quit`'s.
    if len(parts) < count + 2:
        return None
    return [part.strip("\n") for part in parts[1:count + 1]]


# --- what an answer means ---------------------------------------------------------------

def _exactly(expected: str) -> Callable[[str], bool]:
    return lambda answer: answer == expected


def _starts(prefix: str | tuple[str, ...]) -> Callable[[str], bool]:
    return lambda answer: answer.startswith(prefix)


# (command pattern, success test), first match wins
_SUCCESS: tuple[tuple[re.Pattern[str], Callable[[str], bool]], ...] = tuple((re.compile(p), ok) for p, ok in (
    (r"add server ", _exactly("New server registered.")),
    (r"del server ", _exactly("Server deleted.")),
    (r"enable server ", _exactly("")),
    # the answer says what changed: "IP changed from ...", "no need to change the addr, ..."
    (r"set server \S+ addr ", _starts(("IP changed from", "no need to change the addr"))),
    (r"set server ", _exactly("")),
    (r"shutdown sessions ", _exactly("")),
    (r"show servers state", _starts("1\n#")),
    (r"show stat", _starts("# pxname,")),
))


def answer_error(command: str, answer: str) -> str | None:
    """HAProxy's message when answer says the command failed, else None. The Runtime API
    has no status code: a command we send has a known success answer; any other answer
    (No such server., Unknown command, ...) is the error."""
    for prefix, ok in _SUCCESS:
        if prefix.match(command):
            return None if ok(answer) else (answer.splitlines() or ["(no answer)"])[0]
    if answer.startswith("Unknown command"):
        return answer.splitlines()[0]
    return None


# --- parsers -------------------------------------------------------------------------

@dataclass(frozen=True)
class ServerStatus:
    """A server as the running HAProxy reports it."""

    name: str
    address: str
    port: int
    state: ServerState
    running: bool  # srv_op_state: 2 (running); a server in maint reports 0 (stopped)


def _state(admin: int) -> ServerState:
    if admin & _MAINT_BITS:
        return "maint"
    return "drain" if admin & _DRAIN_BITS else "ready"


def parse_servers_state(text: str) -> dict[str, dict[str, ServerStatus]]:
    """{backend: {server: status}} from `show servers state` (format version 1)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "1":
        raise ValueError(f"not a `show servers state` answer of format 1: {text[:60]!r}")
    result: dict[str, dict[str, ServerStatus]] = {}
    columns: list[str] = []
    for line in lines[1:]:
        if line.startswith("#"):
            columns = line[1:].split()
            continue
        words = line.split()
        if not words:
            continue
        row = dict(zip(columns, words))
        result.setdefault(row["be_name"], {})[row["srv_name"]] = ServerStatus(
            name=row["srv_name"],
            address=row["srv_addr"],
            port=int(row["srv_port"]),
            state=_state(int(row["srv_admin_state"])),
            running=row["srv_op_state"] == "2",
        )
    return result


def parse_sessions(text: str) -> dict[tuple[str, str], int]:
    """{(backend, server): current sessions} from `show stat` (its CSV, header first)."""
    body = text.lstrip("# ")
    sessions: dict[tuple[str, str], int] = {}
    for row in csv.DictReader(io.StringIO(body)):
        if row.get("type") == "2" and row.get("scur", "").isdigit():
            sessions[(row["pxname"], row["svname"])] = int(row["scur"])
    return sessions


def parse_layout(text: str) -> str | None:
    """The layout digest the running configuration was rendered with, if any."""
    name, sep, value = text.strip().partition("=")
    return value if sep and name == LAYOUT_VARIABLE else None
