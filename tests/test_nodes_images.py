"""ensure_image on the lab: an image only one node has reaches another node through the
console (docker save | docker load, streamed, never buffered whole), with progress; present
means no transfer; an image nowhere is a clear error, fast; concurrent calls share a copy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from nodes_support import engine_through_ssh
from tui_orch.errors import ImageNotFound, OperationTimeout
from tui_orch.nodes import images
from tui_orch.nodes.images import ensure_image, local_source

pytestmark = pytest.mark.lab

BIG_MB = 40


# --------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def engines(lab) -> AsyncIterator[dict[str, docker.DockerClient]]:
    async with contextlib.AsyncExitStack() as stack:
        out = {}
        for node in lab.nodes:
            out[node.name] = await stack.enter_async_context(engine_through_ssh(lab, node, timeout=60))
        yield out


def make_image(client: docker.DockerClient, tag: str, token: str, megabytes: int) -> int:
    """An image with a file of random bytes and /token, made in client's engine; its size."""
    script = f"dd if=/dev/urandom of=/blob bs=1048576 count={megabytes} 2>/dev/null && echo {token} > /token"
    container = client.containers.run("tuiorch/busybox:1", ["sh", "-c", script], network_mode="none", detach=True)
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0
        repo, _, version = tag.rpartition(":")
        container.commit(repository=repo, tag=version)
    finally:
        container.remove(force=True)
    return int(client.api.inspect_image(tag)["Size"])


def remove_everywhere(clients: dict[str, docker.DockerClient], tag: str) -> None:
    for client in clients.values():
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_image(tag, force=True)


def has(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.api.inspect_image(tag)
        return True
    except docker.errors.NotFound:
        return False


def image_events(client: docker.DockerClient, since: float, action: str, image: str) -> list[dict]:
    """The engine's events of this action on this image since then (docker events --since)."""
    image_id = client.api.inspect_image(image)["Id"]
    until = time.time() + 0.5
    found = client.api.events(since=int(since) - 1, until=int(until) + 1, decode=True,
                              filters={"type": "image", "event": action})
    return [e for e in found if image_id in (e.get("id"), e.get("Actor", {}).get("ID"))]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@contextlib.contextmanager
def rss_peak() -> Iterator[dict[str, int]]:
    """Peak resident memory growth of this process (KiB) while the block runs."""
    out = {"base": rss_kib(), "peak": 0}
    out["peak"] = out["base"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            out["peak"] = max(out["peak"], rss_kib())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        out["growth"] = out["peak"] - out["base"]


# --------------------------------------------------------------------------- tests


async def test_an_image_only_node1_has_is_streamed_to_node3_with_progress(lab, record_property):
    tag = f"tuiorch/only-on-node1:{uuid.uuid4().hex[:10]}"
    token = uuid.uuid4().hex
    async with engines(lab) as c:
        try:
            size = await asyncio.to_thread(make_image, c["node1"], tag, token, BIG_MB)
            assert size >= BIG_MB * 1024 * 1024
            assert not await asyncio.to_thread(has, c["node3"], tag)
            seen: list[tuple[int, int | None]] = []
            sources = [("node2", c["node2"]), ("node1", c["node1"])]  # node2 lacks it: skipped
            with rss_peak() as mem:
                t0 = time.monotonic()
                how = await ensure_image(tag, c["node3"], "node3", sources, progress=lambda d, t: seen.append((d, t)))
                took = time.monotonic() - t0
            assert how == "copied from node1"
            assert len(seen) >= 3 and seen[0][0] > 0
            done = [d for d, _ in seen]
            assert done == sorted(done)  # monotone
            assert seen[0][1] == size  # total from the image's Size while copying
            assert done[-1] >= size and seen[-1][1] == done[-1]  # the last report is 100 %
            throughput = done[-1] / took / 1e6
            growth_mb = mem["growth"] / 1024
            print(f"\ncopy {done[-1] / 1e6:.1f} MB node1 -> node3 through the console: {took:.2f} s, "
                  f"{throughput:.1f} MB/s; peak RSS growth {growth_mb:.1f} MB ({len(seen)} progress reports)")
            record_property("copy_MBps", round(throughput, 1))
            record_property("rss_growth_MB", round(growth_mb, 1))
            assert mem["growth"] * 1024 < size / 4, f"the console buffered the image: RSS grew {growth_mb:.1f} MB"
            out = await asyncio.to_thread(
                c["node3"].containers.run, tag, ["sh", "-c", "cat /token; wc -c < /blob"],
                network_mode="none", remove=True)
            assert out.decode().split() == [token, str(BIG_MB * 1024 * 1024)]
            assert not await asyncio.to_thread(has, c["node2"], tag)  # only the target received it
        finally:
            await asyncio.to_thread(remove_everywhere, c, tag)


async def test_a_present_image_is_not_transferred(lab):
    async with engines(lab) as c:
        since = time.time()
        seen: list[tuple[int, int | None]] = []
        how = await ensure_image("tuiorch/busybox:1", c["node2"], "node2", [("node1", c["node1"])],
                                 progress=lambda d, t: seen.append((d, t)))
        assert how == "present"
        assert seen == []
        for name in ("node1", "node2"):
            for action in ("save", "load"):
                assert await asyncio.to_thread(image_events, c[name], since, action, "tuiorch/busybox:1") == []


async def test_an_image_on_no_node_is_a_clear_error_fast(lab):
    tag = f"tuiorch/nowhere:{uuid.uuid4().hex[:10]}"
    async with engines(lab) as c:
        sources = [(name, client) for name, client in c.items() if name != "node3"]
        t0 = time.monotonic()
        with pytest.raises(ImageNotFound) as info:
            await ensure_image(tag, c["node3"], "node3", sources)  # a pull is tried, and fails fast
        took = time.monotonic() - t0
    assert took < 10, took
    assert str(info.value) == (f"node3: image {tag} is on no node and no registry could be reached: "
                               f"build or load it on one node (docker load) first")


async def test_two_concurrent_calls_share_one_transfer(lab):
    tag = f"tuiorch/only-on-node1:{uuid.uuid4().hex[:10]}"
    async with engines(lab) as c:
        try:
            await asyncio.to_thread(make_image, c["node1"], tag, "x", 4)
            since = time.time()
            first: list[int] = []
            second: list[int] = []
            results = await asyncio.gather(
                ensure_image(tag, c["node2"], "node2", [("node1", c["node1"])], progress=lambda d, t: first.append(d)),
                ensure_image(tag, c["node2"], "node2", [("node1", c["node1"])], progress=lambda d, t: second.append(d)),
            )
            assert results == ["copied from node1", "copied from node1"]
            assert first and second and first[-1] == second[-1]  # both saw the one copy
            assert images._jobs == {}
            saves = await asyncio.to_thread(image_events, c["node1"], since, "save", tag)
            loads = await asyncio.to_thread(image_events, c["node2"], since, "load", tag)
            assert len(saves) == 1, saves
            assert len(loads) == 1, loads
            assert await ensure_image(tag, c["node2"], "node2", [("node1", c["node1"])]) == "present"
        finally:
            await asyncio.to_thread(remove_everywhere, c, tag)


async def test_the_local_engine_is_one_more_source_and_a_dead_source_is_skipped(lab, tmp_path):
    tag = f"tuiorch/only-local:{uuid.uuid4().hex[:10]}"
    # the console's own engine (a local socket; here node2's engine seen directly) as 'local'
    local = local_source(str(lab.node(2).socket))
    assert local is not None and local[0] == "local"
    assert local_source(str(tmp_path / "no.sock")) is None
    dead = ("node9", docker.DockerClient(base_url=f"unix://{tmp_path}/dead.sock", version="1.41", timeout=5))
    async with engines(lab) as c:
        try:
            await asyncio.to_thread(make_image, local[1], tag, "local", 1)
            how = await ensure_image(tag, c["node3"], "node3", [dead, local], allow_pull=False)
            assert how == "copied from local"
            out = await asyncio.to_thread(c["node3"].containers.run, tag, ["cat", "/token"],
                                          network_mode="none", remove=True)
            assert out.decode().strip() == "local"
        finally:
            await asyncio.to_thread(remove_everywhere, c, tag)
            local[1].close()
            dead[1].close()


class StalledEngine:
    """A fake engine (only what cannot be real: an engine whose `docker save` hangs): it
    says it has the image, then never sends a byte of it."""

    def __init__(self, path: str):
        self.path = path
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(8)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            request = conn.recv(65536).decode(errors="replace")
            if "/json" in request.split("\r\n", 1)[0]:
                body = b'{"Id": "sha256:' + b"0" * 64 + b'", "Size": 1000}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            # /images/NAME/get: no answer at all

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()


async def test_a_stalled_source_ends_in_a_timeout_not_a_hang(lab):
    folder = tempfile.mkdtemp(prefix="tuiorch-stall-")
    stalled = StalledEngine(os.path.join(folder, "engine.sock"))
    client = docker.DockerClient(base_url="unix://" + stalled.path, version="1.41", timeout=30)
    tag = f"tuiorch/stalled:{uuid.uuid4().hex[:10]}"
    try:
        async with engine_through_ssh(lab, lab.node(3)) as node3:
            t0 = time.monotonic()
            with pytest.raises(OperationTimeout) as info:
                await ensure_image(tag, node3, "node3", [("node1", client)], allow_pull=False, timeout=2)
            assert time.monotonic() - t0 < 5
        assert f"copying image {tag} from node1 did not finish in time" in str(info.value)
    finally:
        client.close()
        stalled.close()
        shutil.rmtree(folder, ignore_errors=True)


class _Channel:
    """Just what asyncssh's SSHChannel._deliver_data touches."""

    def __init__(self, window: int, buffered: int):
        self._init_recv_window = 1000
        self._recv_window = window
        self._recv_buf = [(b"x" * buffered, None)] if buffered else []
        self._encoding = None
        self._session = None
        self.adjusts: list[bytes] = []
        self.logger = type("L", (), {"debug2": staticmethod(lambda *a: None)})()

    def send_packet(self, pkttype, *args) -> None:
        self.adjusts.append(b"".join(args))


def test_the_ssh_window_is_reopened_only_for_delivered_bytes():
    from asyncssh.channel import SSHChannel

    from tui_orch.nodes import sshflow

    sshflow.apply()  # as importing images does; False only when asyncssh itself is fixed
    sshflow.apply()  # idempotent
    original = getattr(SSHChannel._deliver_data, "__wrapped__", None)
    if original is not None:  # the flaw this works around, as found in asyncssh 2.24
        flawed = _Channel(window=100, buffered=700)
        original(flawed, b"y" * 100, None)
        assert flawed._recv_window == 1000
    # 900 bytes received since the last adjust, 700 of them still buffered (the reader is slow)
    slow = _Channel(window=100, buffered=700)
    SSHChannel._deliver_data(slow, b"y" * 100, None)
    assert slow.adjusts == [] and slow._recv_window == 100  # unfixed asyncssh re-opened 900 here
    drained = _Channel(window=100, buffered=0)
    SSHChannel._deliver_data(drained, b"y" * 100, None)
    assert len(drained.adjusts) == 1 and drained._recv_window == 1000


async def test_a_node_brings_an_image_from_another_node_through_the_node_interface(lab) -> None:
    """Node.bring_image (what the controller calls, never docker-py itself): an image only
    node1 has is copied to node3 through their sessions."""
    from nodes_support import direct_client, specs, started

    from tui_orch.nodes.remote import RemoteNode

    tag = f"tuiorch/bring-{uuid.uuid4().hex[:8]}:1"
    clients = {n.name: direct_client(n) for n in lab.nodes}
    try:
        make_image(clients["node1"], tag, "brought", 1)
        async with started(RemoteNode(specs(lab)["node1"])) as n1, started(RemoteNode(specs(lab)["node3"])) as n3:
            assert not await n3.has_image(tag)
            assert await n3.bring_image(tag, [n1, n3], timeout=120) == "copied from node1"
            assert await n3.bring_image(tag, [n1, n3], timeout=120) == "present"
        assert has(clients["node3"], tag)
    finally:
        remove_everywhere(clients, tag)
        for client in clients.values():
            client.close()
