"""A controller on another machine, reached through SSH: ``--controller ssh://[USER@]HOST[:PORT][/STATE]``.

The CLI opens one SSH connection (host keys checked as for nodes: an unknown or changed key is
refused, ~/.ssh/config honoured) and, through it, the controller's UNIX socket
(``STATE/controller.sock``; STATE defaults to ``~/.local/state/tui-orch`` of the remote user),
as OpenSSH's ``ssh -L local.sock:remote.sock`` does. No TCP port is opened anywhere. The
request is the one a local client sends (server.py), without this machine's directory or
environment: they mean nothing there."""

from __future__ import annotations

import asyncio
import json
import posixpath
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any

from tui_orch.control.client import relay
from tui_orch.errors import HostKeyUnknown, NodeError, TuiOrchError
from tui_orch.model import NodeSpec

DEFAULT_REMOTE_STATE = ".local/state/tui-orch"  # under the remote user's home
SOCKET_NAME = "controller.sock"


@dataclass(frozen=True)
class ControllerUrl:
    host: str
    user: str | None = None
    port: int | None = None
    folder: str | None = None  # absolute; None: the remote user's default

    def __str__(self) -> str:
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"ssh://{who}{self.host}{port}{self.folder or ''}"


def parse_url(text: str) -> ControllerUrl:
    parts = urllib.parse.urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "ssh" or not parts.hostname or port == -1 or parts.query or parts.fragment or parts.password:
        raise TuiOrchError(f"--controller {text!r}: expected ssh://[USER@]HOST[:PORT][/STATE-FOLDER], "
                           f"e.g. ssh://ops@ctl.example.com/srv/tui-orch")
    folder = urllib.parse.unquote(parts.path) or None
    if folder is not None:
        folder = posixpath.normpath(folder)
    return ControllerUrl(host=parts.hostname, user=urllib.parse.unquote(parts.username) if parts.username else None,
                         port=port, folder=folder if folder not in (None, "/") else None)


def forward(url: str, argv: list[str], shipped: dict[str, Any] | None = None) -> int:
    """Run ``argv`` in the controller at ``url`` (an apply with the manifest ``shipped``
    from here: control/shipping.py); its exit status."""
    target = parse_url(url)
    try:
        return asyncio.run(_forward(target, argv, shipped))
    except TuiOrchError:
        raise
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        raise TuiOrchError(f"talking to the controller at {target} failed: {exc.__class__.__name__}: {exc}") from None
    except KeyboardInterrupt:
        print(f"tui-orch: interrupted here; the controller at {target} carries on with the command",
              file=sys.stderr)
        return 130


class RemoteChannel:
    """One SSH connection to the controller's machine, kept open; each ``connect`` opens the
    controller's socket through it (a console attached from another machine: attached.py)."""

    def __init__(self, target: ControllerUrl):
        self.target = target
        self.conn: Any = None
        self.folder = ""
        self.path = ""

    async def open(self) -> None:
        from tui_orch.nodes import ssh

        target = self.target
        spec = NodeSpec(name=target.host, address=target.host, port=target.port, user=target.user)
        try:
            self.conn = await ssh.connect(spec)
        except HostKeyUnknown as exc:
            raise TuiOrchError(f"{target.host}: unknown host key, fingerprint {exc.fingerprint}; if it is right, "
                               f"add it to ~/.ssh/known_hosts (for instance by connecting once with ssh "
                               f"and checking the fingerprint it shows), then try again") from None
        except NodeError as exc:
            raise TuiOrchError(f"cannot reach the controller at {target}: {exc}") from None
        self.folder = target.folder or posixpath.join(await _home(self.conn, target), DEFAULT_REMOTE_STATE)
        self.path = posixpath.join(self.folder, SOCKET_NAME)

    async def connect(self) -> tuple[Any, Any]:
        try:
            return await self.conn.open_unix_connection(self.path)  # type: ignore[no-any-return]
        except Exception as exc:  # asyncssh.ChannelOpenError: no socket, or forwarding refused
            if len(self.path.encode()) > 107:
                raise TuiOrchError(f"the controller's socket {self.target.host}:{self.path} is {len(self.path.encode())} "
                                   f"bytes long, more than sshd can open (107); give that controller a shorter "
                                   f"state folder (or XDG_STATE_HOME for an etcd state)") from None
            raise TuiOrchError(f"no controller answers at {self.target.host}:{self.path} ({exc}); start one there "
                               f"(`tui-orch controller --state {self.folder}`), or name its state folder in the URL "
                               f"(ssh://HOST/STATE-FOLDER); the server must allow AllowStreamLocalForwarding") from None

    async def info(self) -> Any:
        """Who runs there (the controller's ``info`` answer)."""
        from tui_orch.control.place import ControllerInfo

        reader, writer = await self.connect()
        try:
            writer.write(json.dumps({"verb": "info"}).encode() + b"\n")
            line = await reader.readline()
            data = json.loads(line).get("info") if line else None
            if not isinstance(data, dict):
                raise TuiOrchError(f"the controller at {self.target} did not say who it is")
            return ControllerInfo.from_dict(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise TuiOrchError(f"the controller at {self.target} answered something else ({exc})") from None
        finally:
            writer.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


async def _forward(target: ControllerUrl, argv: list[str], shipped: dict[str, Any] | None = None) -> int:
    channel = RemoteChannel(target)
    await channel.open()
    try:
        reader, writer = await channel.connect()
        request = {"verb": "run", "argv": argv, "cwd": "/", "environ": {}}
        if shipped is not None:
            request["shipped"] = shipped
        writer.write(json.dumps(request).encode() + b"\n")
        while True:
            line = await reader.readline()
            if not line:
                raise TuiOrchError(f"the controller at {target} stopped before the command finished; see its log")
            try:
                message = json.loads(line)
            except ValueError:
                continue
            code = relay(message, f"the controller at {target}") if isinstance(message, dict) else None
            if code is not None:
                return code
    finally:
        channel.close()


async def _home(conn: object, target: ControllerUrl) -> str:
    done = await conn.run('printf %s "$HOME"', check=False, timeout=10)  # type: ignore[attr-defined]
    home = str(done.stdout or "").strip()
    if done.exit_status != 0 or not home.startswith("/"):
        raise TuiOrchError(f"cannot tell the home folder of the controller's user on {target.host}; "
                           f"name its state folder in the URL: ssh://{target.host}/STATE-FOLDER")
    return home
