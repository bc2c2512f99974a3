#!/usr/bin/env python3
"""The tui-orch test lab: N real worker "nodes" on this machine.

Node N = its own network namespace (tuiorch-nodeN, address 10.77.0.(N+1) on an isolated lab
bridge), its own containerd + Docker Engine inside it (socket LABDIR/nodeN/docker.sock; its own
docker0 bridge, iptables and published ports) and its own OpenSSH server, reached on
127.0.0.(N+1):2222 with its own ed25519 host key (a gate there serves each connection with
`sshd -i` inside the node's namespace: labparts/sshgate.py). The console reaches a node only as
it reaches a real server: SSH with a key and host-key checking on, then the Docker API through a
socket forwarded over that connection. Clients (tests, benchmarks) run in the namespace
tuiorch-client (10.77.0.254) and reach nodes at their lab addresses (labparts/netns.py).

    python3 tests/lab/lab.py start [--nodes 3]   # idempotent; prints a summary
    python3 tests/lab/lab.py status              # exit 0 when every node is healthy
    python3 tests/lab/lab.py env                 # eval "$(python3 tests/lab/lab.py env)"
    python3 tests/lab/lab.py stop

The lab dir is /tmp/tui-orch-lab unless TUI_ORCH_LAB_DIR (or --lab-dir) says otherwise.
It needs root and the Debian packages docker.io openssh-server busybox-static
(tests/lab/install-packages.sh), and iproute2. The lab's traffic stays inside its namespaces:
the bridge has no uplink, and the machine's own interfaces, routes and firewall are untouched.

From Python (the pytest fixture ``lab`` in tests/conftest.py uses this)::

    lab = start_lab(n=3)          # -> Lab(nodes=[NodeLab, ...], client_key, known_hosts, ...)
    kill_sshd(lab.nodes[2])       # "network cut": the engine keeps running
    start_sshd(lab.nodes[2])
    kill_node(lab.nodes[2])       # "node crash": its link down; sshd, engine, containers SIGKILLed
    start_node(lab.nodes[2])
    stop_lab(lab)

    with lab.inside() as client:  # threads in the client's namespace
        client.call(urllib.request.urlopen, "http://10.77.0.2:8080/")

This file (the command line) and its parts in tests/lab/labparts/ (layout, processes, netns,
sshd, sshgate, engine, image, setup, lifecycle) use only the Python standard library: they run before any
virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

# The parts (tests/lab/labparts/); every public name is re-exported: tests and benchmarks `import lab`.
from labparts.layout import (  # noqa: F401
    APPLETS, DEFAULT_LAB_DIR, DEFAULT_NODES, ENGINE_STOP_TIMEOUT, FIXED_MTIME, IMAGE_REPO, IMAGE_VERSIONS,
    INSTALL_HINT, Lab, LabError, NodeLab, SSH_PORT, SSH_USER, SYSTEM_PATH, lab_dir, layout, node_layout,
)
from labparts.processes import NO_REGISTRY_PROXY  # noqa: F401
from labparts.sshd import _sshd_pid, kill_sshd, sshd_accepts, start_sshd  # noqa: F401
from labparts.etcd import member_pid  # noqa: F401
from labparts.engine import _containerd_pid, _dockerd_pid, docker_api, engine_info, engine_ping  # noqa: F401
from labparts.image import build_image_archive, ensure_images, find_busybox  # noqa: F401
from labparts.setup import check_host, inventory_text  # noqa: F401
from labparts.lifecycle import (  # noqa: F401
    is_healthy, kill_node, memory_kib, node_problems, problems, start_lab, start_node, stop_lab,
)


def _cmd_start(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    state: dict[str, str] = {}
    lab = start_lab(args.nodes, args.lab_dir, timeout=args.timeout, report=state)
    took = time.monotonic() - t0
    print(f"tui-orch lab: {len(lab.nodes)} nodes ready in {took:.1f} s (lab dir {lab.dir})")
    for node in lab.nodes:
        print(f"  {node.name}  {node.lab_address} (netns {node.netns})  ssh {node.user}@{node.address}:{node.port}"
              f"  engine {node.docker_host}"
              f"  [{state.get(node.name, '?')}]")
    print(f"  client:      {lab.client_address} (netns tuiorch-client): "
          f"nsenter --net=/run/netns/tuiorch-client wget -q -O- http://{lab.nodes[0].lab_address}:PORT/")
    print(f"  etcd:        {','.join(lab.etcd_endpoints)} (3 members)")
    print(f"  inventory:   {lab.inventory}")
    print(f"  known_hosts: {lab.known_hosts}")
    print(f"  client key:  {lab.client_key}")
    n1 = lab.nodes[0]
    print(f"  try: ssh -i {lab.client_key} -o UserKnownHostsFile={lab.known_hosts} "
          f"-p {n1.port} {n1.user}@{n1.address} docker ps")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    lab = stop_lab(args.lab_dir)
    left = [n.name for n in lab.nodes if _sshd_pid(n) or _dockerd_pid(n) or _containerd_pid(n)]
    left += [m.name for m in lab.etcd_members() if member_pid(m)]
    if left:
        print(f"tui-orch lab: still running: {', '.join(left)}", file=sys.stderr)
        return 1
    print(f"tui-orch lab: stopped {len(lab.nodes)} nodes and etcd in {time.monotonic() - t0:.1f} s (data kept in {lab.dir})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    lab = layout(args.nodes, args.lab_dir)
    bad = problems(lab)
    print(f"tui-orch lab in {lab.dir}: {'healthy' if not bad else 'NOT healthy'}")
    for node in lab.nodes:
        parts = []
        for what, pid in (("sshd", _sshd_pid(node)), ("dockerd", _dockerd_pid(node)),
                          ("containerd", _containerd_pid(node))):
            parts.append(f"{what} {pid or '-'}")
        extra = ""
        if engine_ping(node):
            with contextlib.suppress(OSError, LabError, ValueError):
                info = engine_info(node)
                extra = f"  containers {info.get('ContainersRunning', 0)}/{info.get('Containers', 0)} running"
        mem = sum(memory_kib(node).values())
        print(f"  {node.name}  {node.address}:{node.port}  " + ", ".join(parts)
              + extra + (f"  mem {mem / 1024:.0f} MiB" if mem else ""))
    for m in lab.etcd_members():
        print(f"  {m.name}  {m.client_url}  etcd {member_pid(m) or '-'}")
    for p in bad:
        print(f"  problem: {p}")
    return 0 if not bad else 1


def _cmd_env(args: argparse.Namespace) -> int:
    lab = layout(args.nodes, args.lab_dir)
    print(f"export TUI_ORCH_LAB_DIR={lab.dir}")
    print(f"export TUI_ORCH_INVENTORY={lab.inventory}")
    return 0


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.py", description="The tui-orch test lab of real nodes.")
    lab_dir_help = f"default: $TUI_ORCH_LAB_DIR or {DEFAULT_LAB_DIR}"
    parser.add_argument("--lab-dir", default=None, help=lab_dir_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lab-dir", default=argparse.SUPPRESS, help=lab_dir_help)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="start the lab (idempotent)", parents=[common])
    p.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    p.add_argument("--timeout", type=float, default=90, help="seconds to wait for the nodes")
    sub.add_parser("stop", help="stop every node of the lab (data is kept)", parents=[common])
    for name, text in (("status", "is every node healthy? (exit 0 when it is)"),
                       ("env", "shell exports for using the lab")):
        p = sub.add_parser(name, help=text, parents=[common])
        p.add_argument("--nodes", type=int, default=None)
    args = parser.parse_args(argv)
    handler = {"start": _cmd_start, "stop": _cmd_stop, "status": _cmd_status, "env": _cmd_env}[args.command]
    try:
        return handler(args)
    except BrokenPipeError:  # e.g. `lab.py start | head -1`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (LabError, OSError) as exc:
        print(f"tui-orch lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
