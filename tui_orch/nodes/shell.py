"""The command line that opens a shell in a replica's container: ``docker exec -it`` on this
machine, or over ``ssh -t`` for a remote node with the same host-key checking as the console
(the console suspends itself, runs it on the terminal, and resumes; ui/shell.py).

Through jump hosts, ``ssh -J`` cannot be used: it takes no per-hop options, so a jump host was
reached without the inventory's identity_file and known_hosts. The route (nodes/sshconfig.py,
the one the console connects by) is written instead to a private ssh_config (sshjump.py) that
``ssh -F`` reads: every hop with its host, port, user, keys and known_hosts files, its host key
always checked."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from tui_orch.errors import TuiOrchError
from tui_orch.model import NodeSpec
from tui_orch.nodes.sshconfig import route
from tui_orch.nodes.sshjump import TARGET, private_config

DEFAULT_SOCKET = "/var/run/docker.sock"


def _ssh_option(name: str, value: str) -> str:
    """``-o Name=value``'s argument; a value with blanks is quoted as ssh_config reads it."""
    if any(ch.isspace() for ch in value):
        value = '"' + value.replace('"', '') + '"'
    return f"{name}={value}"


def docker_words(spec: NodeSpec, container_id: str, shell: str = "sh",
                 command: Sequence[str] | None = None) -> list[str]:
    """``docker [-H unix://SOCKET] exec -it ID SHELL`` (or ``exec ID COMMAND...``)."""
    words = ["docker"]
    if spec.docker_socket and spec.docker_socket != DEFAULT_SOCKET:
        words += ["-H", f"unix://{spec.docker_socket}"]
    if command is None:
        return words + ["exec", "-it", container_id, shell]
    return words + ["exec", container_id, *command]


def shell_argv(spec: NodeSpec, container_id: str, shell: str = "sh",
               command: Sequence[str] | None = None) -> list[str]:
    """The argv that opens ``shell`` in the container on ``spec``'s host. ``command`` runs
    that instead, without a terminal (scripts and tests). Raises TuiOrchError for a
    simulated node, which has nothing to exec into."""
    if spec.simulated:
        raise TuiOrchError(f"{spec.name} is a simulated node: its replicas have no shell to open")
    if not container_id:
        raise TuiOrchError(f"{spec.name}: this replica has no container yet; there is nothing to open a shell in")
    words = docker_words(spec, container_id, shell, command)
    if spec.local:
        return words
    hops = route(spec)
    if len(hops) > 1:
        argv = ["ssh", "-F", private_config(spec.name, hops), "-t" if command is None else "-T"]
        return argv + ["--", TARGET, *(shlex.quote(w) for w in words)]
    argv = ["ssh", "-t" if command is None else "-T"]
    if spec.port:
        argv += ["-p", str(spec.port)]
    if spec.identity_file:
        argv += ["-i", os.path.expanduser(spec.identity_file)]
    if spec.known_hosts:
        argv += ["-o", _ssh_option("UserKnownHostsFile", os.path.expanduser(spec.known_hosts))]
    argv += ["-o", "StrictHostKeyChecking=yes"]  # never trust a new or changed key on the way
    target = f"{spec.user}@{spec.address}" if spec.user else spec.address
    # ssh joins the words after the host into one line for the remote shell: quote each one.
    return argv + ["--", target, *(shlex.quote(w) for w in words)]
