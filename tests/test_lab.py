"""The lab itself: every node is reachable the way a real server is (SSH with host-key
checking on, then the Docker API through a socket forwarded over that connection), each
node is an engine of its own, and the fault helpers do what they say."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import asyncssh
import docker
import pytest

from nodes_support import engine_through_ssh, lab_connect
from tui_orch.inventory import load_inventory

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("index", [1, 2, 3])
async def test_engine_answers_through_ssh_and_runs_the_lab_image(lab, index):
    node = lab.node(index)
    async with engine_through_ssh(lab, node) as client:
        assert await asyncio.to_thread(client.ping) is True
        out = await asyncio.to_thread(
            client.containers.run, "tuiorch/busybox:1", ["cat", "/VERSION"], network_mode="host", remove=True
        )
        assert out.decode().strip() == "1"


async def test_each_node_is_an_engine_of_its_own(lab):
    seen = {}
    for node in lab.nodes:
        async with engine_through_ssh(lab, node) as client:
            info = await asyncio.to_thread(client.info)
            assert info["DockerRootDir"] == str(node.data_root)
            # no pull can leave the machine: registry traffic goes to a closed loopback port
            assert info["HttpsProxy"].startswith("http://127.0.0.1:"), info["HttpsProxy"]
            seen[node.name] = info["ID"]
            image = await asyncio.to_thread(client.images.get, "tuiorch/busybox:2")
            assert image.labels["org.tui-orch.lab.version"] == "2"
    assert len(set(seen.values())) == len(lab.nodes), seen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_version_2_serves_its_www_folder_on_loopback(lab):
    port = _free_port()
    script = f"httpd -p 127.0.0.1:{port} -h /www && wget -q -O- http://127.0.0.1:{port}/VERSION && cat /VERSION"
    async with engine_through_ssh(lab, lab.node(1)) as client:
        out = await asyncio.to_thread(
            client.containers.run, "tuiorch/busybox:2", ["sh", "-c", script], network_mode="host", remove=True
        )
    assert out.decode().split() == ["2", "2"]


async def test_an_unknown_host_key_is_refused(lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        conn = await lab_connect(lab, lab.node(1), known_hosts=str(empty))
        conn.close()


async def test_another_hosts_key_is_refused(lab, tmp_path):
    node1, node2 = lab.node(1), lab.node(2)
    wrong = tmp_path / "known_hosts"
    kind, key = node2.host_key_pub.read_text().split()[:2]
    wrong.write_text(f"[{node1.address}]:{node1.port} {kind} {key}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        conn = await lab_connect(lab, node1, known_hosts=str(wrong))
        conn.close()


def test_the_lab_inventories_load(lab):
    written = load_inventory(lab.inventory)
    example = load_inventory(REPO / "examples" / "lab-inventory.yaml")
    for inv in (written, example):
        assert inv.names == ("node1", "node2", "node3")
        assert [dict(n.labels) for n in inv.nodes] == [
            {"zone": "a", "disk": "ssd"},
            {"zone": "b", "disk": "ssd"},
            {"zone": "c", "disk": "hdd"},
        ]
    for spec, node in zip(written.nodes, lab.nodes):
        assert (spec.address, spec.port, spec.user) == (node.address, node.port, node.user)
        assert spec.docker_socket == str(node.socket)
        assert spec.identity_file == str(lab.client_key)
        assert spec.known_hosts == str(lab.known_hosts)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


async def test_kill_sshd_cuts_the_connection_and_start_sshd_restores_it(lab):
    node = lab.node(3)
    conn = await lab_connect(lab, node)
    try:
        await asyncio.to_thread(lab.kill_sshd, node)
        await asyncio.wait_for(conn.wait_closed(), timeout=10)
        with pytest.raises(OSError):
            await lab_connect(lab, node)
    finally:
        conn.close()
        await asyncio.to_thread(lab.start_sshd, node)
    async with engine_through_ssh(lab, node) as client:  # the engine kept running
        assert await asyncio.to_thread(client.ping) is True


def _remove_container(node, container_id: str) -> None:
    client = docker.DockerClient(base_url=node.docker_host, timeout=30)
    try:
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_container(container_id, force=True)
    finally:
        client.close()


async def test_kill_node_stops_everything_on_it_and_start_node_brings_it_back(lab):
    node = lab.node(3)
    async with engine_through_ssh(lab, node) as client:
        container = await asyncio.to_thread(
            client.containers.run, "tuiorch/busybox:1", ["sleep", "600"], network_mode="host", detach=True
        )
        await asyncio.to_thread(container.reload)
        pid = container.attrs["State"]["Pid"]
        assert pid > 0 and _running(pid)
    try:
        await asyncio.to_thread(lab.kill_node, node)
        assert not _running(pid)  # the replica died with its node
        with pytest.raises(OSError):
            await lab_connect(lab, node)
        await asyncio.to_thread(lab.start_node, node)
        async with engine_through_ssh(lab, node) as client:
            after = await asyncio.to_thread(client.containers.get, container.id)
            assert after.status == "exited"  # it does not come back by itself (no restart policy)
    finally:
        await asyncio.to_thread(lab.start_node, node)
        await asyncio.to_thread(_remove_container, node, container.id)


def _host_links() -> set[str]:
    return {line.split(":")[0].strip().split("@")[0] for line in
            Path("/proc/net/dev").read_text().splitlines()[2:] if ":" in line} | {
        p.name for p in Path("/sys/class/net").iterdir()}


async def test_each_node_has_a_network_of_its_own_and_clients_reach_published_ports(lab):
    """As separate hosts: each node's engine has its own bridge and published ports; a client on
    the lab network reaches node1's published port at node1's address, node2's containers reach
    it too, and node1's loopback is its own. The machine's own interfaces are untouched."""
    from nodes_support import direct_client, http_get, inside

    before = _host_links()
    one, two = lab.node(1), lab.node(2)
    c1, c2 = direct_client(one), direct_client(two)
    web = None
    try:
        assert {n["Driver"] for n in c1.api.networks()} >= {"bridge", "host"}
        web = await asyncio.to_thread(
            c1.containers.run, "tuiorch/busybox:2", ["httpd", "-f", "-p", "80", "-h", "/www"],
            ports={"80/tcp": 18080}, detach=True)
        url = f"http://{one.lab_address}:18080/VERSION"
        for _ in range(50):
            status, body = await asyncio.to_thread(http_get, lab, url)
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert (status, body.strip()) == (200, "2")
        out = await asyncio.to_thread(c2.containers.run, "tuiorch/busybox:1", ["wget", "-q", "-O-", url], remove=True)
        assert out.decode().strip() == "2"  # from a container of node2, on its bridge
        # node1's port is not on node2's loopback, nor on this machine's
        assert (await asyncio.to_thread(http_get, lab, "http://127.0.0.1:18080/VERSION", two.name))[0] == 0
        ids = {n.name: inside(lab, n.name).call(lambda: Path("/proc/thread-self/ns/net").stat().st_ino)
               for n in lab.nodes}
        assert len(set(ids.values())) == len(lab.nodes), ids
    finally:
        if web is not None:
            await asyncio.to_thread(web.remove, force=True)
        c1.close()
        c2.close()
    assert _host_links() == before
    assert not {"tlbr0", "vc"} & before and not any(link in before for link in (f"v{n.index}" for n in lab.nodes))
