"""Where a controller that runs on its own can be found: ``controller.json`` in the state
folder (host, pid, since, socket), written when it starts listening and removed when it
stops, and its socket ``controller.sock`` beside it. The folder is the owner's only (0700),
the socket and the file are 0600.

A UNIX socket path has at most 107 bytes; a deep state folder is reached through
``/proc/self/fd/N/controller.sock`` (N: the folder, opened), which Linux resolves for
bind and connect alike."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

INFO_NAME = "controller.json"
SOCKET_NAME = "controller.sock"
MAX_SOCKET_PATH = 100  # bytes, under the kernel's 107 with room to spare
CONNECT_TIMEOUT = 2.0


@dataclass(frozen=True)
class ControllerInfo:
    host: str
    pid: int
    since: float
    state: str
    inventory: str

    @classmethod
    def from_dict(cls, data: Any) -> "ControllerInfo":
        """From what ``controller.json`` and the ``info`` answer hold; KeyError, TypeError or
        ValueError for anything else."""
        return cls(host=str(data["host"]), pid=int(data["pid"]), since=float(data["since"]),
                   state=str(data["state"]), inventory=str(data.get("inventory", "")))

    def describe(self) -> str:
        """What the console's header and the CLI say: ``HOST pid N since HH:MM``."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since))
        return f"{self.host} pid {self.pid} since {when}"


@contextlib.contextmanager
def socket_address(folder: str | os.PathLike[str]) -> Iterator[str]:
    """The path to bind or connect to for the socket in ``folder`` (see the module doc)."""
    path = os.path.join(os.path.abspath(folder), SOCKET_NAME)
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        yield path
        return
    fd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{SOCKET_NAME}"
    finally:
        os.close(fd)


def write_info(folder: str | os.PathLike[str], info: ControllerInfo) -> None:
    """Say (0600, replaced at once) that this controller listens."""
    from tui_orch.store.files import atomic_write, open_dir

    dir_fd = open_dir(str(folder))
    try:
        atomic_write(os.path.join(folder, INFO_NAME), json.dumps(asdict(info)).encode(), dir_fd)
    finally:
        os.close(dir_fd)


def remove_info(folder: str | os.PathLike[str], pid: int) -> None:
    """Take back what ``write_info`` said, if it is still this process's."""
    info = read_info(folder)
    if info is not None and info.pid == pid:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, INFO_NAME))


def read_info(folder: str | os.PathLike[str]) -> ControllerInfo | None:
    try:
        data = json.loads(Path(folder, INFO_NAME).read_text())
        return ControllerInfo.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def connect(folder: str | os.PathLike[str], timeout: float = CONNECT_TIMEOUT) -> socket.socket | None:
    """A connection to the controller listening in ``folder``, or None when none listens
    there (no socket, or one left by a controller that died)."""
    if not os.path.exists(os.path.join(folder, SOCKET_NAME)):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with socket_address(folder) as address:
            sock.connect(address)
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def running(folder: str | os.PathLike[str]) -> ControllerInfo | None:
    """The controller that listens for ``folder``, or None."""
    if not os.path.isdir(folder):
        return None
    sock = connect(folder)
    if sock is None:
        return None
    sock.close()
    return read_info(folder)


def this_host() -> str:
    return socket.gethostname()
