"""A local port of this machine carried to an address a node reaches (port-forwarding, as
``kubectl port-forward`` and k9s' shift-f do): a listening socket on 127.0.0.1 only, and for
each connection accepted there a stream the node opens (``Node.open_connection``: a channel
of its one SSH connection on a remote node), the bytes pumped both ways.

Nothing here knows replicas: controller/forwards.py says where to connect and when a forward
breaks. ``close`` is synchronous and complete: the listening socket and every connection are
closed when it returns (the console calls it as it quits: no port is left listening)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable

from tui_orch.errors import TuiOrchError

LOOPBACK = "127.0.0.1"  # never another interface: the forwarded port is the operator's alone
CHUNK = 64 * 1024

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on now (as start_server binds it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port of 127.0.0.1 free now (the system's choice)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class Tunnel:
    """127.0.0.1:``port`` -> a stream ``connect()`` opens for each connection; counts
    connections and bytes. ``on_error(sentence)``: a connection could not be carried (the
    node refused it, nothing listens there)."""

    def __init__(self, connect: Callable[[], Awaitable[Streams]], on_error: Callable[[str], None]):
        self._connect = connect
        self._on_error = on_error
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()  # both ends of every connection carried
        self.port = 0
        self.connections = 0  # accepted since it opened
        self.active = 0  # open now
        self.sent = 0  # bytes from the local client to the node
        self.received = 0  # bytes back

    async def listen(self, port: int) -> int:
        """Listen on 127.0.0.1:``port`` (0: a free one); the port bound. TuiOrchError (one
        sentence) when it cannot be bound."""
        try:
            self._server = await asyncio.start_server(self._serve, LOOPBACK, port, reuse_address=True)
        except OSError as exc:
            why = "it is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise TuiOrchError(f"cannot listen on {LOOPBACK}:{port}: {why}; choose another local port") from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    @property
    def listening(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        """Stop listening and close every connection, now: each side's pump then reads the end
        of its stream and returns (nothing is cancelled: see _serve)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()  # the listening socket is closed here, not later
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted as it closed
            writer.close()
            return
        self._writers.add(writer)
        self.connections += 1
        self.active += 1
        try:
            await self._carry(reader, writer)
        except asyncio.CancelledError:
            # the loop ends under it (the console quit): Python 3.11's start_server callback
            # calls exception() on a cancelled handler and logs a traceback; end quietly
            pass
        finally:
            self.active -= 1
            self._writers.discard(writer)
            writer.close()

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._connect()
        except TuiOrchError as exc:
            self._on_error(str(exc))
            return
        if self._server is None:  # closed while the node opened it
            up_writer.close()
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._pump(reader, up_writer, "sent"), self._pump(up_reader, writer, "received"))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, counter: str) -> None:
        """Copy until the end of ``src`` (then end ``dst``'s writing half: the other way may
        still answer); a broken side closes both, which ends the other pump too."""
        try:
            while chunk := await src.read(CHUNK):
                dst.write(chunk)
                setattr(self, counter, getattr(self, counter) + len(chunk))
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - asyncio's and asyncssh's stream errors alike end this connection
            dst.close()  # the other pump then reads the end of that side
