"""Moving a volume's data between two lab nodes, against copying an image of the same size.

    .venv/bin/python benchmarks/volume_move.py [--mib 200]

Starts the lab (tests/lab/lab.py) when it is stopped and stops it again at the end; a
running lab is used and left running. On node1 it makes a volume of --mib MiB (random bytes
in 8 files plus 200 small ones) and an image of the same size; then, through the nodes'
SSH connections as the console reaches them:

  volume move   node2.copy_volume_from(node1): streamed through this process and checksummed
                on both sides (the source's from the stream, the copy's on node2 or, when
                that cannot be done, by reading it back: nodes/volumes.py); MB/s over the
                whole copy (checksumming the copy included); RSS growth of this process
                during the copy (peak sampled every 20 ms, minus the RSS just before)
                                         targets: RSS growth <= 20 MB; MB/s >= the image copy's
  copy phase    the same, up to the end of the copy (before checksumming it): information
  image copy    docker save on node1 | docker load on node2 (nodes/images.py), measured the
                same way (information, and the throughput target above)

Prints a table; exit status 1 when a target is missed. Everything it made is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import docker  # noqa: E402
import docker.errors  # noqa: E402

import lab as lab_tool  # noqa: E402
from benchlab import ensure_lab  # noqa: E402
from tui_orch.inventory import load_inventory  # noqa: E402
from tui_orch.nodes.base import LABEL_VOLUME  # noqa: E402
from tui_orch.nodes.images import ensure_image  # noqa: E402
from tui_orch.nodes.remote import RemoteNode  # noqa: E402
import tui_orch.nodes.volumes  # noqa: E402,F401  (imported before measuring: module code is not the copy's memory)

TARGET_RSS_MB = 20.0
IMAGE = f"{lab_tool.IMAGE_REPO}:1"
PAGE = 4096


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@contextlib.contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """{'before', 'peak'}: this process's RSS just before and its highest while inside."""
    seen = {"before": rss(), "peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen["peak"] = max(seen["peak"], rss())
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join()
        seen["peak"] = max(seen["peak"], rss())


def fill(client: docker.DockerClient, volume: str, mib: int, tag: str) -> None:
    """A volume and an image of ``mib`` MiB of random bytes each, on one engine."""
    part = max(1, mib // 8)
    script = (f"for i in 1 2 3 4 5 6 7 8; do busybox dd if=/dev/urandom of=/v/big$i bs=1048576 count={part} "
              f"2>/dev/null || exit 1; done; mkdir /v/small && for i in $(busybox seq 200); do "
              f"echo row $i > /v/small/$i; done")
    client.api.create_volume(volume, labels={LABEL_VOLUME: volume})
    client.containers.run(IMAGE, ["sh", "-c", script], volumes={volume: {"bind": "/v"}}, network_mode="none",
                          remove=True)
    c = client.containers.run(IMAGE, ["sh", "-c", f"busybox dd if=/dev/urandom of=/blob bs=1048576 count={mib} "
                                      "2>/dev/null"], network_mode="none", detach=True)
    try:
        assert c.wait(timeout=300)["StatusCode"] == 0
        repo, _, version = tag.rpartition(":")
        c.commit(repository=repo, tag=version)
    finally:
        c.remove(force=True)


async def measured(work: Awaitable[Any]) -> tuple[Any, float, float]:
    """(result, seconds, RSS growth in MB) of one awaited operation. The disks are synced
    first (not timed): the lab's nodes share this machine's disk, and the writeback of what
    the step before wrote (hundreds of MB) would otherwise slow whichever case runs next."""
    os.sync()
    with peak_rss() as seen:
        start = time.perf_counter()
        result = await work
        seconds = time.perf_counter() - start
    return result, seconds, (seen["peak"] - seen["before"]) / 1e6


async def run(lab: lab_tool.Lab, volume: str, tag: str) -> list[tuple[str, float, float, float]]:
    """(what, MB, seconds, RSS growth MB) of the volume move and the image copy."""
    specs = {s.name: s for s in load_inventory(lab.inventory).nodes}
    one, two = RemoteNode(specs["node1"], op_timeout=120), RemoteNode(specs["node2"], op_timeout=120)
    try:
        await asyncio.gather(one.start(), two.start())
        marks: dict[str, float] = {}

        def progress(phase: str, _done: int, at: float) -> None:
            marks.setdefault(phase, at)
        copy, seconds, grew = await measured(two.copy_volume_from(one, volume, IMAGE, progress=progress))
        assert copy.source_checksum == copy.target_checksum
        print(f"the copy was checksummed: {copy.verified}")
        rows = [("volume move", copy.bytes_sent / 1e6, seconds, grew),
                ("  its copy", copy.bytes_sent / 1e6, marks.get("verify", seconds), grew)]
        sent = [0]
        how, seconds, grew = await measured(ensure_image(tag, two.docker, "node2", [("node1", one.docker)],
                                                         progress=lambda done, _t: sent.__setitem__(0, done),
                                                         allow_pull=False))
        assert how == "copied from node1", how
        rows.append(("image copy", sent[0] / 1e6, seconds, grew))
        return rows
    finally:
        await asyncio.gather(one.close(), two.close())


def clean(lab: lab_tool.Lab, volume: str, tag: str) -> None:
    for node in lab.nodes[:2]:
        client = docker.DockerClient(base_url=node.docker_host, timeout=60)
        try:
            for c in client.api.containers(all=True, filters={"volume": volume}):
                client.api.remove_container(c["Id"], force=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_volume(volume, force=True)
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_image(tag, force=True)
        finally:
            client.close()


def report(rows: list[tuple[str, float, float, float]]) -> int:
    (_, vol_mb, vol_s, vol_rss), (_, _, copy_s, _), (_, img_mb, img_s, img_rss) = rows
    vol_rate, img_rate = vol_mb / vol_s, img_mb / img_s
    misses = []
    if vol_rss > TARGET_RSS_MB:
        misses.append(f"RSS grew {vol_rss:.1f} MB during the volume move (target <= {TARGET_RSS_MB:g} MB)")
    if vol_rate < img_rate:
        misses.append(f"volume move {vol_rate:.1f} MB/s < image copy {img_rate:.1f} MB/s")
    print("tui-orch volume move benchmark (node1 -> node2 through this process)")
    print()
    print(f"{'case':<14} {'MB':>8} {'seconds':>8} {'MB/s':>8} {'RSS growth':>11}  target")
    print(f"{'volume move':<14} {vol_mb:>8.1f} {vol_s:>8.2f} {vol_rate:>8.1f} {vol_rss:>8.1f} MB  "
          f"RSS <= {TARGET_RSS_MB:g} MB, MB/s >= image copy")
    print(f"{'  copy phase':<14} {vol_mb:>8.1f} {copy_s:>8.2f} {vol_mb / copy_s:>8.1f} {'':>11}  (information: "
          f"before checksumming the copy)")
    print(f"{'image copy':<14} {img_mb:>8.1f} {img_s:>8.2f} {img_rate:>8.1f} {img_rss:>8.1f} MB  (information)")
    print()
    print("FAILED: " + "; ".join(misses) if misses else "all targets met")
    return 1 if misses else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=200, help="size of the volume and of the image")
    args = parser.parse_args()
    found = ensure_lab()
    if found is None:
        return 1
    lab, started = found
    run_id = uuid.uuid4().hex[:8]
    volume, tag = f"tuiorch-bench-{run_id}_data", f"tuiorch/bench-{run_id}:1"
    try:
        source = docker.DockerClient(base_url=lab.nodes[0].docker_host, timeout=300)
        try:
            fill(source, volume, args.mib, tag)
        finally:
            source.close()
        return report(asyncio.run(run(lab, volume, tag)))
    finally:
        clean(lab, volume, tag)
        if started:
            lab_tool.stop_lab(lab)


if __name__ == "__main__":
    sys.exit(main())
