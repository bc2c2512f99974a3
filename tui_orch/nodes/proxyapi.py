"""Talking to an edge proxy's Runtime API (HAProxy's admin socket) on a node.

All commands of one call go on one connection in prompt mode (see traffic.runtime): one
round trip over SSH for a whole change, and HAProxy runs them in order.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import asyncssh

from tui_orch.errors import NodeError
from tui_orch.traffic import runtime as api

OpenStream = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
_READ_LIMIT = 16 << 20  # `show stat` of a few thousand servers is a few MB


class ProxyCommandFailed(NodeError):
    """HAProxy refused a Runtime API command; the message names the command and its answer."""

    def __init__(self, where: str, command: str, answer: str):
        self.command = command
        self.answer = answer
        super().__init__(where, f"the edge proxy refused `{command}`: {answer}")


class ProxyUnreachable(NodeError):
    """The admin socket did not answer (proxy not running, socket missing, cut connection)."""


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while chunk := await reader.read(65536):
        data += chunk
        if len(data) > _READ_LIMIT:
            raise ValueError(f"more than {_READ_LIMIT >> 20} MB of answers")
    return data


async def _exchange(open_stream: OpenStream, text: str) -> str:
    """Write text and read until HAProxy closes. The answers are read while the commands are
    still being written: HAProxy stops reading commands while its answers wait to be read."""
    reader, writer = await open_stream()
    reading = asyncio.ensure_future(_read_all(reader))
    try:
        writer.write(text.encode())
        await writer.drain()
        return (await reading).decode(errors="replace")
    finally:
        reading.cancel()
        writer.close()


async def runtime(open_stream: OpenStream, commands: list[str], timeout: float, where: str = "edge proxy") -> list[str]:
    """Send commands to the Runtime API on one connection; each command's answer, in order.

    open_stream opens the admin socket: locally ``lambda: asyncio.open_unix_connection(path)``,
    on a node ``lambda: conn.open_unix_connection(path)`` (an SSH stream-local channel).
    where names the node in messages. Raises ProxyCommandFailed for the first answer that is
    an error (HAProxy still ran the commands after it: they were all sent at once; they are
    ordered so that the failure of one leaves no backend without its ready servers), and
    ProxyUnreachable when the socket cannot be reached or answers short of the last command."""
    if not commands:
        return []
    try:
        text = await asyncio.wait_for(_exchange(open_stream, api.session_text(commands)), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise ProxyUnreachable(where, f"the edge proxy's admin socket gave no answer within {timeout:g} s") from None
    except (OSError, EOFError, ValueError, asyncssh.Error) as exc:
        raise ProxyUnreachable(where, f"the edge proxy's admin socket cannot be used: {exc}") from None
    answers = api.split_answers(text, len(commands))
    if answers is None:
        raise ProxyUnreachable(where, f"the edge proxy's admin socket closed before answering {len(commands)} commands")
    for command, answer in zip(commands, answers):
        error = api.answer_error(command, answer)
        if error is not None:
            raise ProxyCommandFailed(where, command, error)
    return answers
