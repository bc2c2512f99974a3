"""`build:` on the lab, through the real `tui-orch` command: this machine has no Docker Engine,
so `apply --build-on node1` builds on node1's engine (the build log streamed to the terminal),
the image is copied to the other nodes that run replicas and the containers run it; a second
apply with nothing changed is "unchanged" (the same image id: no rollout); a Dockerfile whose
RUN fails stops the apply with one clear error and nothing changed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import docker.errors

from controller_support import cleanup, owned, prefix
from nodes_support import direct_client

# the lab's engines have no bridge network (LAB.md): RUN steps use the node's network, as the
# lab's containers do
STACK = """\
name: {pre}
services:
  {svc}:
    build: {{context: ./app, network: host}}
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    network_mode: host
    deploy:
      replicas: 3
      placement: {{max_replicas_per_node: 1}}
      update_config: {{monitor: 0s}}
"""
DOCKERFILE = "FROM tuiorch/busybox:1\nCOPY greeting.txt /greeting.txt\nRUN echo built-{pre} > /built.txt\n"


def tui(lab, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "tui-orch"
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}  # no engine on this machine
    return subprocess.run([str(exe), *args, "--state", str(state), "--inventory", str(lab.inventory)],
                          capture_output=True, text=True, timeout=300, env=env)


def running(lab, pre: str) -> dict[str, tuple[str, str]]:
    """container id -> (node, image) of the running containers of ``pre``'s services."""
    return {c["Id"]: (node, c["Image"]) for node, cs in owned(lab, pre).items() for c in cs if c["State"] == "running"}


def files_in_containers(lab, pre: str) -> list[str]:
    out = []
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for c in owned(lab, pre)[lab_node.name]:
                code, text = client.containers.get(c["Id"]).exec_run(["cat", "/greeting.txt", "/built.txt"])
                out.append(f"{code}:{text.decode()}")
        finally:
            client.close()
    return out


def remove_images(lab, pre: str) -> None:
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for image in client.api.images():
                for tag in image.get("RepoTags") or ():
                    if tag.startswith(f"{pre}-"):
                        with contextlib.suppress(docker.errors.APIError):
                            client.api.remove_image(tag, force=True)
        finally:
            client.close()


def test_a_build_on_a_node_is_copied_and_run_and_a_failed_build_changes_nothing(lab, tmp_path):
    pre, state = prefix(), tmp_path / "state"
    svc = f"{pre}web"
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "greeting.txt").write_text(f"hello from {pre}\n")
    (tmp_path / "app" / "Dockerfile").write_text(DOCKERFILE.format(pre=pre))
    file = tmp_path / "compose.yaml"
    file.write_text(STACK.format(pre=pre, svc=svc))
    try:
        applied = tui(lab, state, "apply", "-f", str(file), "--build-on", "node1")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        out = applied.stdout
        assert f"building {svc} as {pre}-{svc} on node1\n" in out, out
        assert f"{svc} | Step 1/3 : FROM tuiorch/busybox:1\n" in out, out  # the build log, streamed
        built = re.search(rf"^built {svc}: ({pre}-{svc}:latest-[0-9a-f]{{12}})$", out, re.MULTILINE)
        assert built, out
        ref = built.group(1)
        first = running(lab, pre)
        assert sorted(node for node, _ in first.values()) == ["node1", "node2", "node3"], first
        assert {image for _, image in first.values()} == {ref}
        assert files_in_containers(lab, pre) == [f"0:hello from {pre}\nbuilt-{pre}\n"] * 3

        again = tui(lab, state, "apply", "-f", str(file), "--build-on", "node1")
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"unchanged: {svc}\n" in again.stdout and "revision" not in again.stdout, again.stdout
        assert running(lab, pre) == first

        (tmp_path / "app" / "Dockerfile").write_text(DOCKERFILE.format(pre=pre) + "RUN echo failing; exit 3\n")
        failed = tui(lab, state, "apply", "-f", str(file), "--build-on", "node1")
        assert failed.returncode != 0
        errors = [line for line in failed.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert errors[0].startswith(f"tui-orch: the build of {svc} failed on node1: "), errors
        assert "returned a non-zero code: 3" in errors[0] and errors[0].endswith("(nothing was changed)"), errors
        assert running(lab, pre) == first
        services = json.loads(tui(lab, state, "get", "services", "-o", "json").stdout)
        assert [(s["name"], s["image"]) for s in services] == [(svc, ref)], services
    finally:
        cleanup(lab, pre)
        remove_images(lab, pre)
