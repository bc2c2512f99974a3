"""Start and stop the lab, inject faults into one node, and say what is wrong with it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from labparts import etcd
from labparts.engine import (
    _containerd_pid, _dockerd_pid, _launch_dockerd, _start_containerd, _stop_node_parts, engine_ping,
)
from labparts.image import _image_id, build_image_archive, ensure_images, find_busybox
from labparts.layout import (
    DEFAULT_NODES, ENGINE_STOP_TIMEOUT, IMAGE_REPO, IMAGE_VERSIONS, Lab, LabError, NodeLab, _as_lab,
    _existing_nodes, layout,
)
from labparts.netns import ensure_network, network_problems, remove_network, set_link
from labparts.proxyimage import PROXY_IMAGE, ensure_proxy_image
from labparts.processes import _alive, _log_tail, _terminate
from labparts.setup import (
    _check_paths, _keygen, _prepare_dirs, _write_lab_files, _write_node_configs, check_host,
)
from labparts.sshd import _launch_sshd, _sshd_pid, kill_sshd, sshd_accepts


def _wait_ready(nodes: "list[NodeLab]", spawned: "dict[str, int]", timeout: float) -> None:
    """Until every engine answers /_ping and every sshd accepts and shows its banner."""
    deadline = time.monotonic() + timeout
    waiting = {n.name: n for n in nodes}
    while waiting:
        for name, node in list(waiting.items()):
            pid = spawned.get(name)
            if pid and not _alive(pid):
                raise LabError(f"{name}: dockerd exited: {_log_tail(node.dir / 'dockerd.log')}")
            if engine_ping(node, timeout=1) and _sshd_pid(node) and sshd_accepts(node, timeout=1):
                del waiting[name]
        if not waiting:
            break
        if time.monotonic() > deadline:
            problems = []
            for node in waiting.values():
                if not engine_ping(node):
                    problems.append(f"{node.name}: the engine does not answer on {node.socket} "
                                    f"({_log_tail(node.dir / 'dockerd.log', 2)})")
                else:
                    problems.append(f"{node.name}: sshd does not accept on {node.address}:{node.port} "
                                    f"({_log_tail(node.dir / 'sshd.log', 2)})")
            raise LabError(f"not ready within {timeout:.0f} s: " + "; ".join(problems))
        time.sleep(0.1)


def _start_nodes(lab: Lab, nodes: "list[NodeLab]", timeout: float, sshd: bool = True) -> "dict[str, str]":
    """Start what is not running of these nodes; {name: 'started'|'already running'|...}."""
    state: dict[str, str] = {}
    ensure_network(nodes)
    for node in nodes:
        _write_node_configs(lab, node)
        set_link(node, up=True)  # down after a kill_node (its power loss)
    restarted = {n.name: _start_containerd(n, timeout) for n in nodes}
    spawned = {}
    for node in nodes:
        pid = _launch_dockerd(node)
        if pid:
            spawned[node.name] = pid
        launched_sshd = _launch_sshd(node) if sshd else False
        parts = [p for p, on in (("containerd", restarted[node.name]), ("dockerd", bool(pid)),
                                 ("sshd", launched_sshd)) if on]
        state[node.name] = "already running" if not parts else (
            "started" if len(parts) == 3 else "started " + " and ".join(parts))
    _wait_ready(nodes, spawned, timeout)
    return state


@contextlib.contextmanager
def _locked(lab: Lab) -> Iterator[None]:
    lab.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(lab.dir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def start_lab(n: int = DEFAULT_NODES, labdir: "str | os.PathLike[str] | None" = None,
              timeout: float = 90, report: "dict | None" = None) -> Lab:
    """Start the lab (what already runs is left alone) and return it once every engine
    answers and every sshd accepts. Raises LabError with one clear sentence."""
    lab = layout(n, labdir)
    check_host()
    _check_paths(lab)
    with _locked(lab):
        _prepare_dirs(lab)
        _keygen(lab.client_key, "tui-orch lab client")
        for node in lab.nodes:
            _keygen(node.host_key, f"tui-orch lab {node.name}")
        _write_lab_files(lab)
        etcd.launch(lab.dir)  # the cluster elects a leader while the nodes start
        state = _start_nodes(lab, lab.nodes, timeout)
        etcd.wait_healthy(lab.dir, timeout)
        archive, ids = build_image_archive(find_busybox())
        for node in lab.nodes:
            loaded = ensure_images(node, archive, ids)
            loaded = ensure_proxy_image(node) or loaded  # the edge proxies' image (labparts/proxyimage.py)
            if loaded and state[node.name] == "already running":
                state[node.name] = "already running, images loaded"
    if report is not None:
        report.update(state)
    return lab


def stop_lab(lab: "Lab | str | os.PathLike[str] | None" = None, timeout: float = ENGINE_STOP_TIMEOUT) -> Lab:
    """Stop every node in the lab dir (sshd, engine, containerd) by their pid files. The
    engines stop their containers first. Data, keys and configs stay."""
    lab = lab if isinstance(lab, Lab) else layout(None, lab)
    everything = layout(max(len(lab.nodes), _existing_nodes(lab.dir)), lab.dir)
    if not everything.dir.exists():
        return everything
    with _locked(everything):
        for node in everything.nodes:
            kill_sshd(node)
        engines = [p for p in (_dockerd_pid(n) for n in everything.nodes) if p]
        _terminate(engines, timeout)  # all engines shut down side by side
        for node in everything.nodes:
            _stop_node_parts(node, hard=False)
        remove_network(everything.nodes)
        etcd.stop(everything.dir)
    return everything

def kill_node(node: NodeLab) -> None:
    """'Node crash': SIGKILL this node's sshd (and its connections), engine, containerd and
    every container on it, as a power loss would; its link goes down, so the other nodes get
    no answer at all from its address (not even a reset). start_node brings it back."""
    set_link(node, up=False)
    _stop_node_parts(node, hard=True)


def start_node(node: NodeLab, timeout: float = 90) -> None:
    """Start this node's containerd, engine and sshd (what runs is left alone)."""
    lab = layout(max(node.index, _existing_nodes(node.dir.parent)), node.dir.parent)
    _start_nodes(lab, [lab.node(node.name)], timeout)


def node_problems(node: NodeLab) -> "list[str]":
    problems = network_problems([node])
    if not _containerd_pid(node):
        problems.append(f"{node.name}: containerd is not running")
    if not _dockerd_pid(node):
        problems.append(f"{node.name}: dockerd is not running")
    elif not engine_ping(node):
        problems.append(f"{node.name}: the engine does not answer on {node.socket}")
    if not _sshd_pid(node):
        problems.append(f"{node.name}: sshd is not running")
    elif not sshd_accepts(node):
        problems.append(f"{node.name}: sshd does not accept on {node.address}:{node.port}")
    return problems


def problems(lab: "Lab | str | os.PathLike[str] | None" = None, n: "int | None" = None) -> "list[str]":
    """What keeps the lab from being healthy; empty when it is running and ready."""
    lab = _as_lab(lab, n)
    found = [f"{p} is missing" for p in (lab.client_key, lab.known_hosts, lab.inventory) if not p.exists()]
    found += etcd.problems(lab.dir)
    for node in lab.nodes:
        trouble = node_problems(node)
        found += trouble
        if not trouble:
            for image in [f"{IMAGE_REPO}:{v}" for v in IMAGE_VERSIONS] + [PROXY_IMAGE]:
                with contextlib.suppress(OSError):
                    if not _image_id(node, image):
                        found.append(f"{node.name}: image {image} is missing")
    return found


def is_healthy(lab: "Lab | str | os.PathLike[str] | None" = None, n: "int | None" = None) -> bool:
    return not problems(lab, n)


def memory_kib(node: NodeLab) -> "dict[str, int]":
    """Resident memory (Pss, KiB) of this node's own processes."""
    out = {}
    for name, pid in (("sshd", _sshd_pid(node)), ("dockerd", _dockerd_pid(node)),
                      ("containerd", _containerd_pid(node))):
        if not pid:
            continue
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            out[name] = next(int(l.split()[1]) for l in text.splitlines() if l.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return out


# --------------------------------------------------------------------------------------
# Command line
