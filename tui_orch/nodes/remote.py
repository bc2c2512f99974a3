"""A worker host reached over SSH: one connection, the Docker API through a UNIX socket
forwarded over it (in a private 0700 folder), remote commands always quoted from argv."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from tui_orch.errors import DockerDenied, NoDocker, NodeError, NodeUnavailable, OperationTimeout, Unreachable
from tui_orch.model import NodeSpec, Resources
from tui_orch.nodes import hostid
from tui_orch.nodes.base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_OP_TIMEOUT
from tui_orch.nodes.supervised import METRICS_INTERVAL, Facts, MetricsStream, SupervisedNode, engine_platform

if TYPE_CHECKING:
    import asyncssh
    import docker

    from tui_orch.manifest.localtree import Entry
    from tui_orch.nodes.docker_api import DockerOps

# asyncssh and docker-py (~0.35 s to import) are loaded by a node's first connect, after the
# console's first frame, not when the fleet is built. Every connection goes through
# nodes/ssh.py, which applies the sshflow fix when it is imported.

log = logging.getLogger(__name__)

FACTS_SCRIPT = "nproc; grep MemTotal /proc/meminfo; hostname; " + hostid.SHELL
FACTS_TIMEOUT = 5.0  # a slow shell never holds up Ready: docker info has the same facts


@dataclass(frozen=True)
class CommandResult:
    exit_status: int  # -1 when killed by a signal
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@cache
def _client_class() -> type[asyncssh.SSHClient]:
    import asyncssh

    class _Client(asyncssh.SSHClient):
        """Tells the node the moment its connection is lost (keepalives missed, reset...)."""

        def __init__(self, on_lost: Any):
            self._on_lost = on_lost

        def connection_lost(self, exc: Exception | None) -> None:
            self._on_lost(exc)

    return _Client


def quote_command(argv: Sequence[str]) -> str:
    """The remote command line for argv, every word quoted (never a bare string)."""
    if isinstance(argv, (str, bytes)):
        raise TypeError("a remote command is an argv list, not a string")
    return shlex.join(str(word) for word in argv)


class RemoteNode(SupervisedNode):
    """A host reached over SSH. See SupervisedNode for states and reconnects."""

    def __init__(self, spec: NodeSpec, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 op_timeout: float = DEFAULT_OP_TIMEOUT):
        super().__init__(spec, connect_timeout, op_timeout)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._listener: asyncssh.SSHListener | None = None
        self._client: docker.DockerClient | None = None
        self._folder: str | None = None

    @property
    def connection(self) -> asyncssh.SSHClientConnection | None:
        """The live SSH connection (None when not connected)."""
        return None if self._lost.is_set() else self._conn

    @property
    def docker_socket_path(self) -> str | None:
        """The local end of the forwarded Docker socket (None when not connected)."""
        return os.path.join(self._folder, "docker.sock") if self._folder and self._ops else None

    # ----------------------------------------------------------------- commands
    async def run(self, argv: Sequence[str], timeout: float = 30.0, input: str | None = None) -> CommandResult:
        """Run argv on the host (quoted with shlex.join); fails with NodeUnavailable when
        contact is lost and OperationTimeout after ``timeout`` seconds."""
        conn, lost = self._conn, self._lost
        if conn is None or lost.is_set():
            raise NodeUnavailable(self.name, f"cannot run a command: the node is {self.status.state.value}")
        return await self._run_on(conn, lost, argv, timeout, input)

    async def _run_on(self, conn: asyncssh.SSHClientConnection, lost: asyncio.Event, argv: Sequence[str],
                      timeout: float, input: str | None = None) -> CommandResult:
        import asyncssh

        command = quote_command(argv)
        what = f"run {argv[0] if argv else ''!s}"
        try:
            result = await self._race(what, asyncio.wait_for(conn.run(command, input=input, check=False), timeout),
                                      lost)
        except asyncio.TimeoutError:
            raise OperationTimeout(self.name, f"{what} did not finish within {timeout:g} s") from None
        except (asyncssh.Error, OSError) as exc:
            raise NodeUnavailable(self.name, f"{what}: {exc}") from None
        if lost.is_set() or (result.exit_status is None and result.exit_signal is None):
            raise NodeUnavailable(self.name, f"{what}: the connection was lost before it finished")
        status = result.exit_status if result.exit_status is not None else -1
        return CommandResult(status, str(result.stdout or ""), str(result.stderr or ""))

    async def _open_unix(self, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        conn = self._conn
        if conn is None or self._lost.is_set():
            raise NodeUnavailable(self.name, f"cannot reach {path}: the node is {self.status.state.value}")
        return await conn.open_unix_connection(path)

    async def _open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A direct-tcpip channel of the node's one SSH connection: sshd on the node connects."""
        import asyncssh

        conn = self._conn
        if conn is None or self._lost.is_set():
            raise NodeUnavailable(self.name, f"cannot open {host}:{port}: the node is {self.status.state.value}")
        try:
            reader, writer = await asyncio.wait_for(conn.open_connection(host, port), self.connect_timeout)
        except asyncio.TimeoutError:
            raise NodeError(self.name, f"{host}:{port} did not answer within {self.connect_timeout:g} s") from None
        except asyncssh.ChannelOpenError as exc:  # sshd could not connect (refused), or forwarding is off
            raise NodeError(self.name, f"cannot connect to {host}:{port} from the node: {exc.reason}") from None
        except (asyncssh.Error, OSError) as exc:
            raise NodeUnavailable(self.name, f"cannot open {host}:{port}: {exc}") from None
        return reader, writer  # type: ignore[return-value]  # asyncssh's streams: the same read/write/drain/close

    # ----------------------------------------------------------------- files (over SFTP)
    async def _files(self, what: str, op: Any) -> Any:
        """op(conn) raced against the loss of contact; SFTP and OS errors as NodeError."""
        import asyncssh

        conn, lost = self._conn, self._lost
        if conn is None or lost.is_set():
            raise NodeUnavailable(self.name, f"cannot {what}: the node is {self.status.state.value}")
        try:
            return await self._race(what, asyncio.wait_for(op(conn), self.op_timeout), lost)
        except asyncio.TimeoutError:
            raise OperationTimeout(self.name, f"{what} did not finish within {self.op_timeout:g} s") from None
        except (asyncssh.Error, OSError) as exc:
            raise NodeError(self.name, f"cannot {what}: {exc}") from None

    async def put_file(self, path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        from tui_orch.nodes.nodefiles import sftp_put

        await self._files(f"write {path}", lambda conn: sftp_put(conn, path, data, mode, uid, gid))

    async def read_file(self, path: str) -> bytes | None:
        from tui_orch.nodes.nodefiles import sftp_read

        return await self._files(f"read {path}", lambda conn: sftp_read(conn, path))

    async def list_files(self, folder: str) -> list[str]:
        from tui_orch.nodes.nodefiles import sftp_list

        return await self._files(f"list {folder}", lambda conn: sftp_list(conn, folder))

    async def remove_file(self, path: str) -> None:
        from tui_orch.nodes.nodefiles import sftp_remove

        await self._files(f"remove {path}", lambda conn: sftp_remove(conn, path))

    async def put_tree(self, path: str, entries: Sequence[Entry]) -> None:
        from tui_orch.nodes.nodefiles import sftp_put_tree

        await self._files(f"write {path}", lambda conn: sftp_put_tree(conn, path, entries))

    async def remove_tree(self, path: str) -> None:
        from tui_orch.nodes.nodefiles import sftp_remove_tree

        await self._files(f"remove {path}", lambda conn: sftp_remove_tree(conn, path))

    async def _listening(self) -> frozenset[int]:
        from tui_orch.nodes.ports import PROC_NET, parse_proc_net

        # cat goes on past a missing table (no IPv6) and exits 1: what it read counts
        out = await self.run(["cat", *PROC_NET], timeout=10.0)
        return parse_proc_net(out.stdout)

    # ----------------------------------------------------------------- session
    async def _open(self) -> tuple[DockerOps, Facts]:
        import asyncssh
        import docker

        from tui_orch.nodes import ssh
        from tui_orch.nodes.docker_api import DockerOps, blocking

        lost = self._lost

        def on_lost(exc: Exception | None) -> None:
            if self._lost is lost:  # only this session's connection
                why = f"lost the SSH connection ({exc})" if exc else "the SSH connection was closed"
                self._mark_lost(f"ssh {ssh.where(self.spec)}: {why}")

        self.warnings = _connection_warnings(self.spec)
        conn = await ssh.connect(self.spec, self.connect_timeout, client_factory=lambda: _client_class()(on_lost))
        self._conn = conn
        self._folder = tempfile.mkdtemp(prefix="tui-orch-")  # 0700: only we reach the socket
        local = os.path.join(self._folder, "docker.sock")
        try:
            self._listener = await asyncio.wait_for(
                conn.forward_local_path(local, self.spec.docker_socket), self.op_timeout)
        except (asyncssh.Error, OSError, asyncio.TimeoutError) as exc:
            raise Unreachable(self.name, f"cannot forward the Docker socket over SSH: {exc}") from None
        try:
            self._client = await blocking(self.name, "reach the Docker Engine", self.op_timeout,
                                          docker.DockerClient, base_url="unix://" + local,
                                          timeout=self.op_timeout)
        except NodeError as exc:
            raise await self._diagnose(conn, lost, exc) from None
        ops = DockerOps(self.name, self._client, self.op_timeout)
        info, facts = await asyncio.gather(
            ops.info(), self._run_on(conn, lost, ["sh", "-c", FACTS_SCRIPT], FACTS_TIMEOUT),
            return_exceptions=True)
        if isinstance(info, BaseException):
            raise info if isinstance(info, NodeError) else NoDocker(self.name, f"docker info failed: {info}")
        return ops, _facts(info, facts if isinstance(facts, CommandResult) else None)

    async def _diagnose(self, conn: asyncssh.SSHClientConnection, lost: asyncio.Event,
                        exc: NodeError) -> NodeError:
        """Why the engine does not answer: no socket (NoDocker), no permission
        (DockerDenied), or an engine that does not answer."""
        from tui_orch.nodes import ssh

        sock = self.spec.docker_socket
        user = ssh.settings(self.spec).user or "the SSH user"
        try:
            if not (await self._run_on(conn, lost, ["test", "-S", sock], 10)).ok:
                return NoDocker(self.name, f"no Docker Engine at {sock} on {ssh.where(self.spec)}: "
                                           f"install docker.io (or Docker Engine) and start it")
            if not (await self._run_on(conn, lost, ["test", "-w", sock], 10)).ok:
                return DockerDenied(self.name, f"{user} may not use the Docker socket {sock}: add {user} to "
                                               f"the docker group (sudo usermod -aG docker {user}), then reconnect")
        except NodeError as err:
            return err
        return NoDocker(self.name, f"the Docker Engine at {sock} does not answer through SSH "
                                   f"({ssh.reason_of(exc)}); is dockerd running, and does sshd allow "
                                   f"AllowStreamLocalForwarding?")

    async def _close_session(self) -> None:
        client, self._client = self._client, None
        listener, self._listener = self._listener, None
        conn, self._conn = self._conn, None
        folder, self._folder = self._folder, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(client.close), 2)
        if listener is not None:
            listener.close()
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _metrics_stream(self, docker_root: str) -> MetricsStream | None:
        try:
            from tui_orch.nodes.metrics import remote_metrics
        except Exception:  # absent or broken: no metrics, keepalives still watch the node
            return None
        if self._conn is None:
            return None
        return remote_metrics(self._conn, docker_root, METRICS_INTERVAL, node=self.name)


def _connection_warnings(spec: NodeSpec) -> tuple[str, ...]:
    """The identity files named for the route that do not exist (the connection goes on)."""
    from tui_orch.nodes.sshconfig import missing_identities

    try:
        return tuple(missing_identities(spec))
    except NodeError:  # a bad ~/.ssh/config or proxy_jump: the connection attempt says so
        return ()


def _facts(info: dict[str, Any], out: CommandResult | None) -> Facts:
    """Hostname, cores and memory from `nproc; grep MemTotal; hostname`, else docker info;
    the host identity from its last line."""
    from tui_orch.nodes.docker_api import parse_time

    cores, memory, hostname = int(info.get("NCPU") or 0), int(info.get("MemTotal") or 0), str(info.get("Name", ""))
    host_id = ""
    if out is not None and out.ok:
        host_id, stdout = hostid.parse(out.stdout)
        lines = [line.strip() for line in stdout.splitlines() if line.strip()]
        if lines and lines[0].isdigit():
            cores = int(lines[0])
        m = re.search(r"MemTotal:\s+(\d+)\s*kB", stdout)
        if m:
            memory = int(m.group(1)) * 1024
        if len(lines) >= 3:
            hostname = lines[-1]
    capacity = Resources(float(cores), memory) if cores and memory else None
    return Facts(hostname=hostname, docker_version=str(info.get("ServerVersion", "")), capacity=capacity,
                 docker_root=str(info.get("DockerRootDir") or "/var/lib/docker"),
                 engine_time=parse_time(str(info.get("SystemTime") or "")), host_id=host_id,
                 platform=engine_platform(info))
