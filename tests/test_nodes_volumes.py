"""Volumes on the lab's engines through the Node interface: a volume's content reaches
another node streamed through this process (owners, modes and bytes kept; checksums of both
sides equal, progress reported), a name already taken there is refused and left alone, a
failed copy leaves nothing behind; list shows users; remove refuses a used volume."""

from __future__ import annotations

import contextlib
import io
import re
import tarfile
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import pytest

from nodes_support import IMAGE, TEST_LABEL, direct_client, specs, started
from tui_orch.errors import NodeError
from tui_orch.model import VolumeSpec
from tui_orch.nodes.base import LABEL_VOLUME, VERIFIED_ON_NODE, VERIFIED_READ_BACK
from tui_orch.nodes.remote import RemoteNode

pytestmark = pytest.mark.lab

SCRIPT = ("mkdir -p /v/sub && echo hello > /v/sub/a.txt && chown 1234:5678 /v/sub/a.txt && chmod 640 /v/sub/a.txt"
          " && busybox dd if=/dev/urandom of=/v/blob bs=1024 count=3000 2>/dev/null && ln -s sub/a.txt /v/link")


@pytest.fixture
def volume(lab) -> Iterator[str]:
    """A volume name for this test, removed from every node (with its containers) after."""
    name = f"tuiorch-test-{uuid.uuid4().hex[:8]}_data"
    yield name
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for c in client.api.containers(all=True, filters={"volume": name}):
                client.api.remove_container(c["Id"], force=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_volume(name, force=True)
        finally:
            client.close()


def fill(client: docker.DockerClient, name: str, labels: dict[str, str] | None = None) -> None:
    client.api.create_volume(name, labels=labels if labels is not None else {LABEL_VOLUME: name})
    out = client.containers.run(IMAGE, ["sh", "-c", SCRIPT], volumes={name: {"bind": "/v", "mode": "rw"}},
                                network_mode="none", remove=True, labels={TEST_LABEL: "volumes"})
    assert out == b""


def listing(client: docker.DockerClient, name: str) -> bytes:
    """What a container sees in the volume: names, owners, modes and contents."""
    return client.containers.run(IMAGE, ["sh", "-c", "cd /v && ls -lnR . | sed 's/ [A-Z][a-z][a-z] .* / /' "
                                         "&& cat sub/a.txt && busybox sha256sum blob"],
                                 volumes={name: {"bind": "/v", "mode": "ro"}}, network_mode="none", remove=True,
                                 labels={TEST_LABEL: "volumes"})


async def test_a_volume_reaches_another_node_with_equal_checksums(lab, volume: str) -> None:
    one, two = direct_client(lab.nodes[0]), direct_client(lab.nodes[1])
    fill(one, volume)
    seen: list[tuple[str, int]] = []
    async with started(RemoteNode(specs(lab)["node1"])) as src, started(RemoteNode(specs(lab)["node2"])) as dst:
        copy = await dst.copy_volume_from(src, volume, IMAGE, progress=lambda p, n, t: seen.append((p, n)))
        assert copy.source_checksum == copy.target_checksum
        assert copy.verified == VERIFIED_ON_NODE  # the image has a shell: no read-back through the console
        assert copy.files == 2 and copy.content_bytes == 6 + 3000 * 1024
        assert listing(two, volume) == listing(one, volume)
        assert re.search(rb"1234 +5678 +6 a.txt", listing(two, volume)) and b"hello" in listing(two, volume)
        assert two.api.inspect_volume(volume)["Labels"] == {LABEL_VOLUME: volume}
        assert seen and seen[-1] == ("verify", copy.bytes_sent)
        listed = {v.name: v for v in await dst.list_volumes()}
        assert listed[volume].users == ()
        # no helper container is left on either node
        for client in (one, two):
            assert client.api.containers(all=True, filters={"volume": volume}) == []
        # a second copy to the same node is refused and does not touch the copy there
        with pytest.raises(NodeError, match="already exists there"):
            await dst.copy_volume_from(src, volume, IMAGE)
        assert b"hello" in listing(two, volume)


def shell_less_image(clients: list[docker.DockerClient]) -> str:
    """An image of one file and no shell (as a distroless one), on each engine given."""
    tag = f"tuiorch/no-shell-{uuid.uuid4().hex[:8]}:1"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("marker")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    for client in clients:
        repo, _, version = tag.rpartition(":")
        client.api.import_image_from_data(buf.getvalue(), repository=repo, tag=version)
    return tag


@pytest.mark.parametrize("case", ["image without a shell", "hard link"])
async def test_a_copy_the_node_cannot_checksum_is_read_back(lab, volume: str, case: str) -> None:
    # without a shell the checksum cannot be taken on the node; a hard link is listed there as
    # a second file but in the tar as a link: both are settled by reading the copy back
    one, two = direct_client(lab.nodes[0]), direct_client(lab.nodes[1])
    fill(one, volume)
    image = IMAGE
    if case == "hard link":
        one.containers.run(IMAGE, ["sh", "-c", "busybox ln /v/blob /v/again"], volumes={volume: {"bind": "/v"}},
                           network_mode="none", remove=True, labels={TEST_LABEL: "volumes"})
    else:
        image = shell_less_image([one, two])
    try:
        async with started(RemoteNode(specs(lab)["node1"])) as src, started(RemoteNode(specs(lab)["node2"])) as dst:
            copy = await dst.copy_volume_from(src, volume, image)
        assert (copy.verified, copy.source_checksum) == (VERIFIED_READ_BACK, copy.target_checksum)
        assert listing(two, volume) == listing(one, volume)
        for client in (one, two):
            assert client.api.containers(all=True, filters={"volume": volume}) == []
    finally:
        if image != IMAGE:
            for client in (one, two):
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_image(image, force=True)


async def test_a_failed_copy_leaves_no_volume_on_the_target(lab, volume: str) -> None:
    one, three = direct_client(lab.nodes[0]), direct_client(lab.nodes[2])
    fill(one, volume)
    async with started(RemoteNode(specs(lab)["node1"])) as src, started(RemoteNode(specs(lab)["node3"])) as dst:
        with pytest.raises(NodeError, match="helper container"):
            await dst.copy_volume_from(src, volume, "tuiorch/no-such-image:9")
    with pytest.raises(docker.errors.NotFound):
        three.api.inspect_volume(volume)


async def test_remove_refuses_a_used_volume_and_a_foreign_one(lab, volume: str) -> None:
    one = direct_client(lab.nodes[0])
    fill(one, volume)
    holder = one.containers.create(IMAGE, ["sleep", "30"], volumes={volume: {"bind": "/v"}}, name=f"{volume}-user",
                                   labels={TEST_LABEL: "volumes"}, network_mode="none")
    async with started(RemoteNode(specs(lab)["node1"])) as node:
        assert [v.users for v in await node.list_volumes() if v.name == volume] == [(f"{volume}-user",)]
        with pytest.raises(NodeError, match=f"used by container {volume}-user"):
            await node.remove_volume(volume)
        holder.remove(force=True)
        await node.remove_volume(volume)
        assert volume not in {v.name for v in await node.list_volumes()}
        fill(one, volume, labels={})
        with pytest.raises(NodeError, match="not tui-orch's"):
            await node.remove_volume(volume)
    assert one.api.inspect_volume(volume)["Name"] == volume


async def test_ensure_volume_creates_once_and_never_an_external_one(lab, volume: str) -> None:
    wanted = VolumeSpec("data", volume, "local", (("device", "tmpfs"), ("o", "size=1m"), ("type", "tmpfs")), (("team", "db"),))
    async with started(RemoteNode(specs(lab)["node1"])) as node:
        assert await node.ensure_volume(wanted, (("tui-orch.owner", "abc"),)) == "created"
        assert await node.ensure_volume(wanted, (("tui-orch.owner", "abc"),)) == "present"
        client = direct_client(lab.nodes[0])
        try:
            attrs = client.api.inspect_volume(volume)
        finally:
            client.close()
        assert (attrs["Driver"], attrs["Options"]) == ("local", {"device": "tmpfs", "o": "size=1m", "type": "tmpfs"})
        assert attrs["Labels"] == {"team": "db", LABEL_VOLUME: "data", "tui-orch.owner": "abc"}
        [found] = [v for v in await node.list_volumes() if v.name == volume]
        assert found.label(LABEL_VOLUME) == "data"
        external = VolumeSpec("pg", volume + "-ext", external=True)
        with pytest.raises(NodeError, match=re.escape(
                f"node1: external volume {volume}-ext (volumes.pg) does not exist on this node; create it there "
                f"(docker volume create {volume}-ext), or drop external: true to let tui-orch create it")):
            await node.ensure_volume(external, ())
