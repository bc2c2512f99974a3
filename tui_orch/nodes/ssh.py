"""SSH to a node: the one connection path of every command (console, ``nodes``, ``node
prepare``, ``trust``). Settings come from nodes/sshconfig.py; host-key checking is always on;
jump hosts are connected hop by hop with the same known_hosts and keys, so a failure names
the hop; failures are classified into node states."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import asyncssh

from tui_orch.errors import (
    AuthFailed,
    HostKeyChanged,
    HostKeyRevoked,
    HostKeyUnknown,
    NodeError,
    Unreachable,
)
from tui_orch.model import NodeSpec
from tui_orch.nodes import sshflow
from tui_orch.nodes.sshconfig import Hop, SshSettings, route, settings, user_ssh_config

# defined in base.py (so that building a node imports no asyncssh), still reachable here
from tui_orch.nodes.base import DEFAULT_CONNECT_TIMEOUT, OPERATOR_ERRORS, reason_of, state_of  # noqa: F401

# Every forwarded stream (Docker API, image copies) must bound memory when its reader is slow.
sshflow.apply()

KEEPALIVE_INTERVAL = 1.0
KEEPALIVE_COUNT_MAX = 3
Conn = asyncssh.SSHClientConnection

def where(spec: NodeSpec) -> str:
    return settings(spec).where


def _read_known_hosts(label: str, s: SshSettings) -> asyncssh.SSHKnownHosts:
    files = [f for f in s.known_hosts if os.path.exists(f)]
    # No file means: no key is trusted yet (never None: that would turn checking off).
    try:
        return asyncssh.read_known_hosts(files) if files else asyncssh.import_known_hosts("")
    except (OSError, ValueError) as exc:
        raise NodeError(label, f"cannot read known_hosts {', '.join(files)}: {exc}") from None


def _revoked_known_hosts(s: SshSettings) -> asyncssh.SSHKnownHosts:
    """The ``@revoked`` lines as plain lines, so matching them by host needs no private API
    (asyncssh drops a revoked [host]:port line when nothing else matches that port)."""
    lines = []
    for path in s.known_hosts:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines += [line.split(None, 1)[1] for line in f if line.startswith("@revoked ")]
        except OSError:
            continue
    try:
        return asyncssh.import_known_hosts("\n".join(lines))
    except ValueError:
        return asyncssh.import_known_hosts("")


def _addr(host: str, port: int) -> str:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except (OSError, IndexError):
        return ""


def _match(known: asyncssh.SSHKnownHosts, s: SshSettings) -> tuple[list[Any], list[Any]]:
    """(host keys, CA keys) the file holds for this host and port."""
    found = known.match(s.host, _addr(s.host, s.port), s.port if s.port != 22 else None)
    return list(found[0]), list(found[1])


def recorded_keys(spec: NodeSpec, hop: Hop | None = None) -> list[asyncssh.SSHKey]:
    """The plain keys known_hosts holds for this hop (the node by default)."""
    hop = hop or route(spec)[-1]
    return _match(_read_known_hosts(spec.name, hop.settings), hop.settings)[0]


def ca_keys(spec: NodeSpec, hop: Hop) -> list[asyncssh.SSHKey]:
    """The ``@cert-authority`` keys that vouch for this hop's host."""
    return _match(_read_known_hosts(spec.name, hop.settings), hop.settings)[1]


def fingerprint(key: asyncssh.SSHKey) -> str:
    """SHA256:... as ssh-keygen -l prints it."""
    return key.get_fingerprint("sha256")


def _base_options(hop: Hop, tunnel: Conn | None) -> dict[str, Any]:
    s = hop.settings
    # The alias (not HostName) so ~/.ssh/config's other options still apply; tunnel=None so
    # its ProxyJump is not opened a second time (route() already made it hops).
    return {"host": s.alias, "port": s.port, "config": user_ssh_config(), "tunnel": tunnel}


def connect_options(spec: NodeSpec, hop: Hop | None = None, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                    tunnel: Conn | None = None) -> dict[str, Any]:
    """Keyword arguments for ``asyncssh.connect`` for one hop (host-key checking on)."""
    hop = hop or route(spec)[-1]
    s = hop.settings
    opts = _base_options(hop, tunnel)
    if s.user:
        opts["username"] = s.user
    present = [f for f in s.identity_files if os.path.exists(f)]
    if present:
        # The agent (SSH_AUTH_SOCK or IdentityAgent) is still offered next to these keys.
        opts["client_keys"] = present
    known = _read_known_hosts(spec.name, s)
    plain, cas = _match(known, s)
    if cas and not plain:
        # Vouched for by a @cert-authority line only: asyncssh would then accept certificate
        # types only, and a host without a certificate drops the connection ("Connection
        # lost"). Its full list instead: a certificate still wins, a plain key is "unknown".
        opts["server_host_key_algs"] = "default"
    opts.update(known_hosts=known, connect_timeout=connect_timeout,
                keepalive_interval=KEEPALIVE_INTERVAL, keepalive_count_max=KEEPALIVE_COUNT_MAX)
    return opts


async def fetch_host_key(spec: NodeSpec, hop: Hop | None = None, tunnel: Conn | None = None,
                         timeout: float = DEFAULT_CONNECT_TIMEOUT, algs: list[str] | None = None) -> asyncssh.SSHKey:
    """The key the hop presents (no authentication, nothing trusted)."""
    hop = hop or route(spec)[-1]
    opts = _base_options(hop, tunnel)
    if algs:
        opts["server_host_key_algs"] = algs
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(**opts), timeout)
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise unreachable(spec, hop, exc, timeout) from None
    if key is None:
        raise NodeError(spec.name, f"ssh {_named(hop)} presented no host key")
    return key


def _named(hop: Hop) -> str:
    """How a message names the hop: its address, and which jump host it is."""
    return f"{hop.settings.address} ({hop.label})" if hop.jump else hop.settings.address


async def host_key_error(spec: NodeSpec, hop: Hop, tunnel: Conn | None = None,
                         timeout: float = DEFAULT_CONNECT_TIMEOUT) -> NodeError:
    """Why the hop's key was not accepted: revoked, unknown or changed, with the fingerprint of
    the key it presents."""
    s = hop.settings
    recorded = recorded_keys(spec, hop)
    key = await fetch_host_key(spec, hop, tunnel, timeout)
    if recorded and not any(key == r for r in recorded):
        # Ask for the recorded key types, so a host that also has another key type is not
        # mistaken for a changed one.
        algs = sorted({a.decode() for k in recorded for a in k.sig_algorithms})
        try:
            key = await fetch_host_key(spec, hop, tunnel, timeout, algs)
        except Unreachable:
            pass
    revoked, _ = _match(_revoked_known_hosts(s), s)
    address = f"{s.address}, {hop.label}" if hop.jump else s.address
    if any(key == r for r in revoked):
        return HostKeyRevoked(spec.name, fingerprint(key), address)
    if not recorded:
        return HostKeyUnknown(spec.name, fingerprint(key), address)
    if any(key == r for r in recorded):
        return NodeError(spec.name, f"ssh {_named(hop)}: the host key matches known_hosts but was "
                                    f"refused (marked in {', '.join(s.known_hosts)})")
    return HostKeyChanged(spec.name, fingerprint(key), address)


def unreachable(spec: NodeSpec, hop: Hop, exc: BaseException,
                timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Unreachable:
    """One sentence for a failure to reach the hop."""
    s = hop.settings
    target = f"ssh {_named(hop)}"
    if isinstance(exc, asyncio.TimeoutError):
        text = f"{target}: no answer within {timeout:g} s; is the host up and the address right?"
    elif isinstance(exc, ConnectionRefusedError):
        text = f"{target}: connection refused; is sshd running on that port?"
    elif isinstance(exc, socket.gaierror):
        text = f"ssh {s.host}{f' ({hop.label})' if hop.jump else ''}: unknown host name " \
               f"({exc.strerror or exc}); check the address"
    elif isinstance(exc, asyncssh.Error):
        text = f"{target}: {exc.reason or type(exc).__name__}"
    elif isinstance(exc, OSError):
        text = f"{target}: {exc.strerror or exc}"
    else:
        text = f"{target}: {exc}"
    return Unreachable(spec.name, text)


def auth_failed(spec: NodeSpec, hop: Hop) -> AuthFailed:
    s = hop.settings
    present = [f for f in s.identity_files if os.path.exists(f)]
    missing = [f for f in s.identity_files if f not in present]
    what = f"the key {', '.join(present)}" if present else "the keys offered (~/.ssh/id_*, ssh-agent)"
    note = f" ({', '.join(missing)} does not exist)" if missing else ""
    whose = f" of {hop.label}" if hop.jump else ""
    return AuthFailed(spec.name, f"ssh {s.user + '@' if s.user else ''}{_named(hop)} refused {what}{note}; add the "
                                 f"public key to {s.user or 'the user'}'s ~/.ssh/authorized_keys on the host{whose}")


async def connect_hop(spec: NodeSpec, hop: Hop, tunnel: Conn | None = None,
                      connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, **extra: Any) -> Conn:
    """Open one hop's connection (through ``tunnel``), or raise a classified NodeError
    (HostKeyUnknown, HostKeyChanged, HostKeyRevoked, AuthFailed, Unreachable) naming it."""
    opts = connect_options(spec, hop, connect_timeout, tunnel)
    opts.update(extra)
    try:
        # asyncssh applies connect_timeout to the whole handshake; the outer bound is a backstop.
        return await asyncio.wait_for(asyncssh.connect(**opts), connect_timeout + 2)
    except asyncssh.HostKeyNotVerifiable:
        raise await host_key_error(spec, hop, tunnel, connect_timeout) from None
    except asyncssh.PermissionDenied:
        raise auth_failed(spec, hop) from None
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise unreachable(spec, hop, exc, connect_timeout) from None
    except ValueError as exc:  # unreadable key file, bad known_hosts line...
        raise NodeError(spec.name, f"cannot connect to {_named(hop)}: {exc}") from None


async def connect(spec: NodeSpec, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, **extra: Any) -> Conn:
    """Open the node's SSH connection through its jump hosts; ``extra`` goes to the last hop.
    Closing it closes the jump connections too."""
    hops = route(spec)
    conn: Conn | None = None
    try:
        for i, hop in enumerate(hops):
            more = extra if i == len(hops) - 1 else {}
            nxt = await connect_hop(spec, hop, conn, connect_timeout, **more)
            nxt.set_tunnel(conn)
            conn = nxt
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    assert conn is not None
    return conn
