"""SSH to a node: connect options (inventory, then ~/.ssh/config), host-key checking that is
always on, connection failures classified into node states, and ``trust`` for new hosts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from tui_orch.errors import (
    AuthFailed,
    HostKeyChanged,
    HostKeyUnknown,
    NodeError,
    Unreachable,
)
from tui_orch.inventory import SshSettings, ssh_settings
from tui_orch.model import NodeSpec
from tui_orch.nodes import sshflow

# defined in base.py (so that building a node imports no asyncssh), still reachable here
from tui_orch.nodes.base import DEFAULT_CONNECT_TIMEOUT, OPERATOR_ERRORS, reason_of, state_of  # noqa: F401

# Every forwarded stream (Docker API, image copies) must bound memory when its reader is slow.
sshflow.apply()

KEEPALIVE_INTERVAL = 1.0
KEEPALIVE_COUNT_MAX = 3
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
USER_SSH_CONFIG = "~/.ssh/config"


def user_ssh_config() -> list[str]:
    """[~/.ssh/config] when it exists, so asyncssh applies aliases, IdentityFile, ProxyJump."""
    path = os.path.expanduser(USER_SSH_CONFIG)
    return [path] if os.path.isfile(path) else []


def known_hosts_file(spec: NodeSpec) -> str:
    return os.path.expanduser(spec.known_hosts or DEFAULT_KNOWN_HOSTS)


def settings(spec: NodeSpec) -> SshSettings:
    """Host, port, user, identity files and jump host once ~/.ssh/config is applied."""
    try:
        local_user = getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        local_user = None
    return ssh_settings(spec, local_user=local_user)


def where(spec: NodeSpec) -> str:
    s = settings(spec)
    return f"{s.user}@{s.host}:{s.port}" if s.user else f"{s.host}:{s.port}"


def _known_hosts_arg(spec: NodeSpec) -> str | asyncssh.SSHKnownHosts:
    path = known_hosts_file(spec)
    # A missing file means: no key is trusted yet (never None: that would turn checking off).
    return path if os.path.exists(path) else asyncssh.import_known_hosts("")


def _route_options(spec: NodeSpec) -> dict[str, Any]:
    """What decides where the TCP connection goes: host, port, config file, jump host."""
    opts: dict[str, Any] = {"host": spec.address, "config": user_ssh_config()}
    if spec.port:
        opts["port"] = spec.port
    if spec.proxy_jump:
        opts["tunnel"] = spec.proxy_jump
    return opts


def connect_options(spec: NodeSpec, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> dict[str, Any]:
    """Keyword arguments for ``asyncssh.connect`` for this node (host-key checking on)."""
    opts = _route_options(spec)
    if spec.user:
        opts["username"] = spec.user
    if spec.identity_file:
        # The agent (SSH_AUTH_SOCK or IdentityAgent) is still offered next to these keys.
        opts["client_keys"] = [os.path.expanduser(spec.identity_file)]
    opts.update(
        known_hosts=_known_hosts_arg(spec),
        connect_timeout=connect_timeout,
        keepalive_interval=KEEPALIVE_INTERVAL,
        keepalive_count_max=KEEPALIVE_COUNT_MAX,
    )
    return opts


def fingerprint(key: asyncssh.SSHKey) -> str:
    """SHA256:... as ssh-keygen -l prints it."""
    return key.get_fingerprint("sha256")


def _addr(host: str, port: int) -> str:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except (OSError, IndexError):
        return ""


def recorded_keys(spec: NodeSpec) -> list[asyncssh.SSHKey]:
    """The keys known_hosts holds for this node's host and port."""
    s = settings(spec)
    path = known_hosts_file(spec)
    if not os.path.exists(path):
        return []
    try:
        known = asyncssh.read_known_hosts(path)
    except (OSError, ValueError) as exc:
        raise NodeError(spec.name, f"cannot read known_hosts {path}: {exc}") from None
    return list(known.match(s.host, _addr(s.host, s.port), s.port if s.port != 22 else None)[0])


async def fetch_host_key(spec: NodeSpec, timeout: float = DEFAULT_CONNECT_TIMEOUT,
                         algs: list[str] | None = None) -> asyncssh.SSHKey:
    """The key the host presents (no authentication, nothing trusted)."""
    opts = _route_options(spec)
    if algs:
        opts["server_host_key_algs"] = algs
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(**opts), timeout)
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise unreachable(spec, exc, timeout) from None
    if key is None:
        raise NodeError(spec.name, f"ssh {where(spec)} presented no host key")
    return key


async def host_key_error(spec: NodeSpec, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> NodeError:
    """Why the host key was not accepted: HostKeyUnknown or HostKeyChanged, with the
    fingerprint of the key the host presents."""
    s = settings(spec)
    address = f"{s.host}:{s.port}"
    recorded = recorded_keys(spec)
    if not recorded:
        key = await fetch_host_key(spec, timeout)
        return HostKeyUnknown(spec.name, fingerprint(key), address)
    # Ask for the recorded key types, so a host that also has another key type is not
    # mistaken for a changed one.
    algs = sorted({a.decode() for k in recorded for a in k.sig_algorithms})
    try:
        key = await fetch_host_key(spec, timeout, algs)
    except Unreachable:
        key = await fetch_host_key(spec, timeout)
    if any(key == r for r in recorded):
        return NodeError(spec.name, f"ssh {address}: the host key matches known_hosts but was "
                                    f"refused (revoked or marked in {known_hosts_file(spec)})")
    return HostKeyChanged(spec.name, fingerprint(key), address)


def unreachable(spec: NodeSpec, exc: BaseException, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Unreachable:
    """One sentence for a failure to reach the host."""
    s = settings(spec)
    target = f"ssh {s.host}:{s.port}"
    if isinstance(exc, asyncio.TimeoutError):
        text = f"{target}: no answer within {timeout:g} s; is the host up and the address right?"
    elif isinstance(exc, ConnectionRefusedError):
        text = f"{target}: connection refused; is sshd running on that port?"
    elif isinstance(exc, socket.gaierror):
        text = f"ssh {s.host}: unknown host name ({exc.strerror or exc}); check the address"
    elif isinstance(exc, asyncssh.Error):
        text = f"{target}: {exc.reason or type(exc).__name__}"
    elif isinstance(exc, OSError):
        text = f"{target}: {exc.strerror or exc}"
    else:
        text = f"{target}: {exc}"
    return Unreachable(spec.name, text)


def auth_failed(spec: NodeSpec) -> AuthFailed:
    s = settings(spec)
    keys = ", ".join(s.identity_files) or "offered (~/.ssh/id_*, ssh-agent)"
    what = f"the key {keys}" if s.identity_files else f"the keys {keys}"
    return AuthFailed(spec.name, f"ssh {where(spec)} refused {what}; add the public key to "
                                 f"{s.user or 'the user'}'s ~/.ssh/authorized_keys on the host")


async def connect(spec: NodeSpec, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                  **extra: Any) -> asyncssh.SSHClientConnection:
    """Open the SSH connection, or raise a classified NodeError (HostKeyUnknown,
    HostKeyChanged, AuthFailed, Unreachable)."""
    opts = connect_options(spec, connect_timeout)
    opts.update(extra)
    try:
        # asyncssh applies connect_timeout to the whole handshake; the outer bound is a backstop.
        return await asyncio.wait_for(asyncssh.connect(**opts), connect_timeout + 2)
    except asyncssh.HostKeyNotVerifiable:
        raise await host_key_error(spec, connect_timeout) from None
    except asyncssh.PermissionDenied:
        raise auth_failed(spec) from None
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise unreachable(spec, exc, connect_timeout) from None
    except ValueError as exc:  # unreadable key file, bad known_hosts line...
        raise NodeError(spec.name, f"cannot connect to {where(spec)}: {exc}") from None


# --------------------------------------------------------------------------- trust


def _known_hosts_line(spec: NodeSpec, key: asyncssh.SSHKey) -> str:
    s = settings(spec)
    host = s.host if s.port == 22 else f"[{s.host}]:{s.port}"
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{host} {algorithm} {blob}\n"


def _append_line(path: str, line: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if f.tell() > 0:
            with open(path, "rb") as r:
                r.seek(-1, os.SEEK_END)
                if r.read(1) != b"\n":
                    f.write("\n")
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


async def trust(spec: NodeSpec, yes: bool = False, confirm: Callable[[str], bool] | None = None,
                timeout: float = DEFAULT_CONNECT_TIMEOUT) -> str:
    """Fetch the node's host key and record it in its known_hosts file after ``confirm``
    (given the fingerprint) returns True, or at once with ``yes``. Returns one sentence
    saying what was done. A different key already recorded raises HostKeyChanged."""
    s = settings(spec)
    address = f"{s.host}:{s.port}"
    path = known_hosts_file(spec)
    recorded = recorded_keys(spec)
    if recorded:
        error = await host_key_error(spec, timeout)
        if isinstance(error, HostKeyChanged):
            raise error
        return f"{spec.name} ({address}): the host key is already trusted in {path}"
    key = await fetch_host_key(spec, timeout)
    fp = fingerprint(key)
    if not yes and not (confirm is not None and confirm(fp)):
        return f"{spec.name} ({address}): not trusted; nothing was written to {path}"
    _append_line(path, _known_hosts_line(spec, key))
    return f"{spec.name} ({address}): trusted host key {fp}, recorded in {path}"


def cmd_trust(args: argparse.Namespace) -> int:
    """`tui-orch trust NODE [--yes]`: show the node's host key fingerprint, ask, record it."""
    from tui_orch import config

    spec = config.load(getattr(args, "inventory", None)).get(args.node)
    if spec.local or spec.simulated:
        print(f"{spec.name}: reached without SSH; there is no host key to trust")
        return 0
    yes = bool(getattr(args, "yes", False))

    def ask(fp: str) -> bool:
        print(f"{spec.name} ({where(spec)}) presents host key {fp}")
        if not sys.stdin.isatty():
            print("not a terminal: run again with --yes to trust this key", file=sys.stderr)
            return False
        try:
            answer = input("Trust this key? [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    message = asyncio.run(trust(spec, yes=yes, confirm=ask))
    print(message)
    return 0 if recorded_keys(spec) else 1
