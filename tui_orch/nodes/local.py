"""This machine as a node: its Docker socket directly, no SSH."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import socket
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tui_orch.errors import DockerDenied, NoDocker, NodeError
from tui_orch.model import NodeSpec, Resources
from tui_orch.nodes.base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_OP_TIMEOUT, reason_of
from tui_orch.nodes.hostid import local_host_id
from tui_orch.nodes.supervised import METRICS_INTERVAL, Facts, MetricsStream, SupervisedNode, engine_platform

if TYPE_CHECKING:  # docker-py is imported by the first connect, not when the fleet is built
    import docker

    from tui_orch.manifest.localtree import Entry
    from tui_orch.nodes.docker_api import DockerOps


def local_capacity() -> Resources | None:
    """Cores (os.cpu_count) and MemTotal (/proc/meminfo) of this machine."""
    cores = os.cpu_count() or 0
    memory = 0
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) * 1024
                    break
    return Resources(float(cores), memory) if cores and memory else None


def check_socket(node: str, path: str) -> None:
    """NoDocker / DockerDenied with a clear reason when the socket cannot be used."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise NoDocker(node, f"no Docker Engine at {path}: install docker.io and start it") from None
    except PermissionError:
        raise DockerDenied(node, f"cannot reach {path}: permission denied on its folder") from None
    if not stat.S_ISSOCK(mode):
        raise NoDocker(node, f"{path} is not a socket: no Docker Engine there; install docker.io and start it")
    if not os.access(path, os.R_OK | os.W_OK):
        user = getpass.getuser()
        raise DockerDenied(node, f"{user} may not use the Docker socket {path}: add {user} to the docker "
                                 f"group (sudo usermod -aG docker {user}) and log in again")


class LocalNode(SupervisedNode):
    """The machine the console runs on, through its own Docker socket."""

    def __init__(self, spec: NodeSpec, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 op_timeout: float = DEFAULT_OP_TIMEOUT):
        super().__init__(spec, connect_timeout, op_timeout)
        self._client: docker.DockerClient | None = None

    async def _open(self) -> tuple[DockerOps, Facts]:
        import docker

        from tui_orch.nodes.docker_api import DockerOps, blocking, parse_time

        path = self.spec.docker_socket
        check_socket(self.name, path)
        try:
            self._client = await blocking(self.name, "reach the Docker Engine", self.op_timeout,
                                          docker.DockerClient, base_url="unix://" + path, timeout=self.op_timeout)
        except NodeError as exc:
            raise NoDocker(self.name, f"the Docker Engine at {path} does not answer ({reason_of(exc)}); "
                                      f"start it") from None
        ops = DockerOps(self.name, self._client, self.op_timeout)
        info = await ops.info()
        facts = Facts(
            hostname=socket.gethostname(),
            docker_version=str(info.get("ServerVersion", "")),
            capacity=local_capacity(),
            docker_root=str(info.get("DockerRootDir") or "/var/lib/docker"),
            engine_time=parse_time(str(info.get("SystemTime") or "")),
            host_id=local_host_id(),
            platform=engine_platform(info),
        )
        return ops, facts

    async def _listening(self) -> frozenset[int]:
        from tui_orch.nodes.ports import parse_proc_net, read_local

        return parse_proc_net(await asyncio.to_thread(read_local))

    async def put_file(self, path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
        from tui_orch.nodes.nodefiles import local_put

        await self._local(f"write {path}", local_put, path, data, mode, uid, gid)

    async def read_file(self, path: str) -> bytes | None:
        from tui_orch.nodes.nodefiles import local_read

        return await self._local(f"read {path}", local_read, path)

    async def list_files(self, folder: str) -> list[str]:
        from tui_orch.nodes.nodefiles import local_list

        return await self._local(f"list {folder}", local_list, folder)

    async def remove_file(self, path: str) -> None:
        from tui_orch.nodes.nodefiles import local_remove

        await self._local(f"remove {path}", local_remove, path)

    async def put_tree(self, path: str, entries: Sequence[Entry]) -> None:
        from tui_orch.nodes.nodefiles import local_put_tree

        await self._local(f"write {path}", local_put_tree, path, entries)

    async def remove_tree(self, path: str) -> None:
        from tui_orch.nodes.nodefiles import local_remove_tree

        await self._local(f"remove {path}", local_remove_tree, path)

    async def _open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), self.connect_timeout)
        except asyncio.TimeoutError:
            raise NodeError(self.name, f"{host}:{port} did not answer within {self.connect_timeout:g} s") from None
        except OSError as exc:  # asyncio's strerror is "Connect call failed (...)": the errno says why
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise NodeError(self.name, f"cannot connect to {host}:{port}: {why}") from None

    async def _open_unix(self, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(path)

    async def _local(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except OSError as exc:
            raise NodeError(self.name, f"cannot {what}: {exc.strerror or exc}") from None

    async def _close_session(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(client.close), 2)

    def _metrics_stream(self, docker_root: str) -> MetricsStream | None:
        try:
            from tui_orch.nodes.metrics import local_metrics
        except Exception:  # absent or broken: no metrics
            return None
        return local_metrics(docker_root, METRICS_INTERVAL)
