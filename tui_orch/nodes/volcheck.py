"""The checksum of a volume computed on its own node, so a copy is verified without reading
it back through this process.

A short-lived container of the replica's image mounts the volume read-only and lists it with
``find`` and ``sha256sum`` (nodes/tardigest.py's ListingDigest turns that into the same
checksum the tar stream gives). Only its listing (one line per file) crosses the network:
for 200 MiB this takes about a second where reading the copy back took six.

Returns None whenever that cannot be done or is not understood (an image without a shell or
those tools, a log driver that keeps nothing, an odd file name): the caller then reads the
volume back, which always works. A checksum that comes back unequal is also re-checked by
the read-back before a copy is called bad (hard links, devices and the like are listed
differently by the two methods).
"""

from __future__ import annotations

import contextlib
import struct
import uuid
from collections.abc import Iterator

import docker
import docker.errors
import docker.types
import requests

from tui_orch.nodes.images import _url
from tui_orch.nodes.tardigest import ListingDigest

LIST_TIMEOUT = 600.0  # seconds the listing may stay silent (hashing one very large file)
# The tools as commands of their own, else as applets of a busybox binary (images made of
# busybox alone often link only a few applets).
SCRIPT = """tool() { if command -v "$1" >/dev/null 2>&1; then echo "$1"; elif command -v busybox >/dev/null 2>&1; \
then echo "busybox $1"; else exit 89; fi; }
F=$(tool find) && S=$(tool sha256sum) && R=$(tool readlink) || exit 89
export R H="$2"
cd "$1" || exit 90
echo '#d'; $F . -type d || exit 91
echo '#l'; $F . -type l -exec sh -c 'for p; do printf "%s\\n" "$p"; $R "$p" || exit 1; done' sh {} + || exit 92
echo '#f'
$F . -type f -name "$H" -exec $S {} + 2>/dev/null & a=$!
$F . -type f ! -name "$H" -exec $S {} + >&2 2>/dev/null & b=$!
wait $a || exit 93
wait $b || exit 93
echo '#end'
"""
# Two hashing processes (hashing is what the check spends its time on), the files split by
# the last character of their name; the second one's lines go to stderr, a stream of its own.
HALF = "*[02468acegikmoqsuwyACEGIKMOQSUWY]"


def volume_checksum(client: docker.DockerClient, volume: str, image: str, mount: str, labels: dict[str, str],
                    responses: list[requests.Response]) -> str | None:
    """Blocking: the checksum of ``volume`` on this engine, or None (see the module's docstring).
    The listing's response is appended to ``responses`` so the caller can abort it."""
    api = client.api
    try:
        created = api.create_container(
            image=image, entrypoint=["sh", "-c", SCRIPT], command=["tui-orch-check", mount, HALF], user="0",
            labels=labels, network_disabled=True, name=f"tui-orch-volume-check-{uuid.uuid4().hex[:10]}",
            host_config=api.create_host_config(mounts=[docker.types.Mount(target=mount, source=volume,
                                                                          type="volume", read_only=True)]))
    except (docker.errors.DockerException, requests.RequestException, OSError):
        return None
    helper = str(created["Id"])
    try:
        return _listed(client, helper, responses)
    except (docker.errors.DockerException, requests.RequestException, OSError, ValueError):
        return None
    finally:
        with contextlib.suppress(Exception):
            api.remove_container(helper, force=True, v=True)


def _listed(client: docker.DockerClient, helper: str, responses: list[requests.Response]) -> str | None:
    client.api.start(helper)  # an image without sh fails here
    resp = client.api.get(_url(client, f"/containers/{helper}/logs"),
                          params={"follow": 1, "stdout": 1, "stderr": 1}, stream=True, timeout=(10, LIST_TIMEOUT))
    responses.append(resp)
    try:
        if resp.status_code != 200:
            return None
        digest = ListingDigest()
        pending = {1: b"", 2: b""}  # stdout's and stderr's line cut by a frame's end
        for kind, payload in _frames(resp):
            *whole, pending[kind] = (pending[kind] + payload).split(b"\n")
            for line in whole:
                text = line.decode("utf-8", "surrogateescape")
                if kind == 1:
                    digest.feed_line(text)
                else:
                    digest.feed_file_line(text)
    finally:
        resp.close()
    if pending[1] or pending[2]:
        return None  # a line without its end: the listing was cut short
    if client.api.wait(helper, timeout=60).get("StatusCode") != 0:
        return None
    return digest.result()


def _frames(resp: requests.Response) -> Iterator[tuple[int, bytes]]:
    """(1 for stdout, 2 for stderr; payload) of the engine's multiplexed log stream (an
    8-byte header per frame)."""
    raw = resp.raw
    while True:
        header = raw.read(8)
        if not header:
            return
        if len(header) < 8:
            raise ValueError("the log stream was cut short")
        kind, size = struct.unpack(">BxxxL", header)
        payload = raw.read(size)
        if len(payload) < size or kind not in (1, 2):
            raise ValueError("the log stream was cut short")
        yield kind, payload
