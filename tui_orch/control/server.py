"""The controller's end of the control channel.

One connection carries one request, a JSON line:
  ``{"verb": "info"}``: answered ``{"info": {...}}`` (who runs, since when);
  ``{"verb": "call", ...}``: a console's command (calls.py);
  ``{"verb": "run", "argv": [...], "cwd": DIR, "environ": {...}}``: a CLI command run here as
  it would run in the client's process, against this controller instead of one of its own;
  what it prints comes back as ``{"o": text}`` / ``{"e": text}`` lines, then ``{"exit": N}``.

The socket is the owner's only (0600 in a 0700 folder), and a peer of another uid is
refused even so (SO_PEERCRED). The command's code runs in a thread of this server's own (a
long apply must not take a worker the controller's own blocking calls need); its awaits run
on the controller's event loop (``run_act``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from tui_orch.control import calls
from tui_orch.control.place import SOCKET_NAME, ControllerInfo, remove_info, socket_address, write_info
from tui_orch.control.routed import SINK

log = logging.getLogger(__name__)

MAX_REQUEST = 64 << 20  # bytes: argv and the client's environment, or a shipped manifest (shipping.py)
COMMAND_THREADS = 16

Run = Callable[[list[str], str, dict[str, str]], int]  # argv, cwd, environ -> exit status
T = TypeVar("T")


@dataclass(frozen=True)
class Serving:
    """The controller a forwarded command acts on, and the loop it lives on."""

    loop: asyncio.AbstractEventLoop
    controller: Any


SERVING: contextvars.ContextVar[Serving | None] = contextvars.ContextVar("tui_orch_serving", default=None)


SHIPPED: contextvars.ContextVar[Any] = contextvars.ContextVar("tui_orch_shipped", default=None)


def shipped() -> Any:
    """The manifest a client on another machine shipped with its ``apply`` (shipping.py), or None."""
    return SHIPPED.get()


def serving() -> Serving | None:
    """Set while this process runs a command a client forwarded (in that command's thread)."""
    return SERVING.get()


def run_act(act: Callable[[Any], Awaitable[T]]) -> T:
    """From a forwarded command's thread: ``act(controller)`` on the controller's loop."""
    current = SERVING.get()
    assert current is not None
    return asyncio.run_coroutine_threadsafe(act(current.controller), current.loop).result()


class ControlServer:
    def __init__(self, folder: str, info: ControllerInfo, controller: Any, run: Run):
        self.folder = folder
        self.info = info
        self.controller = controller
        self.run = run
        self._server: asyncio.AbstractServer | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(COMMAND_THREADS, thread_name_prefix="tui-orch-command")
        self._connections: set[asyncio.Task[None]] = set()
        self._inode = -1

    async def start(self) -> None:
        path = os.path.join(self.folder, SOCKET_NAME)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # left by a controller that died: the state lock is ours, so is this
        with socket_address(self.folder) as address:
            old = os.umask(0o177)
            try:
                self._server = await asyncio.start_unix_server(self._accept, path=address, limit=MAX_REQUEST)
            finally:
                os.umask(old)
        os.chmod(path, 0o600)
        self._inode = os.stat(path).st_ino
        write_info(self.folder, self.info)

    async def close(self) -> None:
        """Stop listening; commands still running are cut off (their clients are told)."""
        remove_info(self.folder, self.info.pid)
        if self._server is not None:
            self._server.close()
            self._server = None
        path = os.path.join(self.folder, SOCKET_NAME)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == self._inode:  # not the socket of a controller that took over (etcd)
                os.unlink(path)
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            log.info("control connection dropped: %s", exc)
        except asyncio.CancelledError:  # the controller stops: its client is told, nothing is logged as a crash
            _send(writer, {"e": "tui-orch: the controller is stopping; the command was left unfinished "
                                "(the next controller carries on an interrupted rollout)\n"})
            _send(writer, {"exit": 1})
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()  # read first: a client that is refused still reads why
        if not _same_user(writer.get_extra_info("socket")):
            _send(writer, {"error": "refused: the controller serves its own user only"})
            return
        request = json.loads(line or b"{}")
        verb = request.get("verb") if isinstance(request, dict) else None
        if verb == "info":
            _send(writer, {"info": asdict(self.info)})
        elif verb == "run":
            code = await self._run(reader, writer, request)
            _send(writer, {"exit": code})
        elif verb == "call":
            method, args = request.get("method"), request.get("args")
            if not (isinstance(method, str) and isinstance(args, dict)):
                _send(writer, {"error": "a malformed request reached the controller"})
            else:
                _send(writer, await calls.call(self.controller, method, args, lambda line: _send(writer, {"o": line})))
        else:
            _send(writer, {"error": f"unknown request {str(verb)[:40]!r}; is the console newer than the controller?"})
        await writer.drain()

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]) -> int:
        argv, cwd, environ = request.get("argv"), request.get("cwd"), request.get("environ")
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv) and isinstance(cwd, str)
                and isinstance(environ, dict)):
            _send(writer, {"e": "tui-orch: a malformed request reached the controller\n"})
            return 2
        loop = asyncio.get_running_loop()
        gone = asyncio.Event()  # the client went away (Ctrl-C): what the command prints next ends it

        async def watch() -> None:
            with contextlib.suppress(Exception):
                while await reader.read(4096):
                    pass
            gone.set()

        watching = asyncio.create_task(watch())

        def sink(text: str, channel: str) -> None:
            if gone.is_set():
                raise BrokenPipeError("the client that sent the command went away")
            if text:
                loop.call_soon_threadsafe(_send, writer, {channel: text})

        def job() -> int:
            SINK.set(sink)
            SERVING.set(Serving(loop, self.controller))
            SHIPPED.set(request.get("shipped"))
            return self.run(argv, cwd, {str(k): str(v) for k, v in environ.items()})

        context = contextvars.copy_context()
        try:
            return await loop.run_in_executor(self._pool, context.run, job)
        finally:
            watching.cancel()


def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    if not writer.is_closing():
        writer.write(json.dumps(message).encode() + b"\n")


def _same_user(sock: socket.socket | None) -> bool:
    if sock is None:
        return False
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()
