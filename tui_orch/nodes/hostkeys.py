"""Trusting host keys: walk the node's route hop by hop (jump hosts first) over the one
connection path of nodes/ssh.py; the first hop whose key is unknown is offered, naming it; its
key is recorded only when the operator says yes. A changed or ``@revoked`` key raises and is
never offered; a host vouched for by a ``@cert-authority`` line needs nothing recorded."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui_orch.errors import AuthFailed, HostKeyUnknown, TuiOrchError
from tui_orch.model import NodeSpec
from tui_orch.nodes import ssh
from tui_orch.nodes.base import DEFAULT_CONNECT_TIMEOUT
from tui_orch.nodes.sshconfig import Hop


@dataclass(frozen=True)
class Offer:
    """A hop's key that is not trusted yet."""

    node: str
    hop: str  # "node1" or "jump host bastion"
    where: str  # user@host:port
    fingerprint: str
    algorithm: str
    file: str  # the known_hosts file it would be recorded in
    line: str  # the line that would be appended
    host: str = ""  # the hop's host name or address and port, as connected to
    port: int = 22
    jump: bool = False  # a jump host (proxy_jump) on the way to ``node``, not the node itself


@dataclass(frozen=True)
class TrustResult:
    trusted: bool  # every hop's key is accepted now
    recorded: tuple[Offer, ...]  # what this call wrote
    message: str  # one sentence per hop, what was done


Confirm = Callable[[Offer], bool]


def _needs_ssh(spec: NodeSpec) -> None:
    if spec.local or spec.simulated:
        raise TuiOrchError(f"{spec.name} is reached without SSH; there is no host key to trust")


def _line(hop: Hop, key: ssh.asyncssh.SSHKey) -> str:
    s = hop.settings
    host = s.host if s.port == 22 else f"[{s.host}]:{s.port}"
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{host} {algorithm} {blob}\n"


def append_line(path: str, line: str) -> None:
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


def _name(spec: NodeSpec, hop: Hop) -> str:
    """node1 (127.0.0.2:2222), or node1: jump host bastion (127.0.0.20:2222)."""
    return f"{spec.name}{': ' + hop.label if hop.jump else ''} ({hop.settings.address})"


def _accepted(spec: NodeSpec, hop: Hop) -> str:
    """What vouches for an accepted hop: a recorded key, or a @cert-authority line."""
    files = ", ".join(hop.settings.known_hosts)
    name = _name(spec, hop)
    if not ssh.recorded_keys(spec, hop) and ssh.ca_keys(spec, hop):
        return f"{name}: its host certificate is signed by a @cert-authority key in {files}; nothing to record"
    return f"{name}: the host key is already trusted in {files}"


async def _offer(spec: NodeSpec, hop: Hop, tunnel: ssh.Conn | None, confirm: Confirm,
                 timeout: float) -> Offer | None:
    """Show the key the hop presents; record it when ``confirm`` says yes (None: declined)."""
    key = await ssh.fetch_host_key(spec, hop, tunnel, timeout)
    offer = Offer(spec.name, hop.label, hop.settings.where, ssh.fingerprint(key), key.get_algorithm(),
                  hop.settings.known_hosts[0], _line(hop, key), hop.settings.host, hop.settings.port, hop.jump)
    if not confirm(offer):
        return None
    append_line(offer.file, offer.line)
    return offer


async def _walk(spec: NodeSpec, confirm: Confirm, timeout: float) -> TrustResult:
    recorded: list[Offer] = []
    said: list[str] = []
    conn = None
    try:
        for hop in ssh.route(spec):
            while True:
                try:
                    nxt = await ssh.connect_hop(spec, hop, conn, timeout)
                except AuthFailed:
                    if hop.jump:
                        raise  # nothing behind it can be checked
                    said.append(_accepted(spec, hop))  # the key exchange passed: the key is trusted
                    return TrustResult(True, tuple(recorded), "\n".join(said))
                except HostKeyUnknown:
                    if any(r.hop == hop.label for r in recorded):
                        raise TuiOrchError(f"{_name(spec, hop)}: the key just recorded in "
                                           f"{hop.settings.known_hosts[0]} is still not accepted (a HostKeyAlias?); "
                                           f"check ~/.ssh/config") from None
                    offer = await _offer(spec, hop, conn, confirm, timeout)
                    if offer is None:
                        said.append(f"{_name(spec, hop)}: not trusted; nothing was written to "
                                    f"{hop.settings.known_hosts[0]}")
                        return TrustResult(False, tuple(recorded), "\n".join(said))
                    recorded.append(offer)
                    said.append(f"{_name(spec, hop)}: trusted host key {offer.fingerprint}, recorded in {offer.file}")
                    continue  # connect again: now it must pass
                if not any(r.hop == hop.label for r in recorded):
                    said.append(_accepted(spec, hop))
                nxt.set_tunnel(conn)
                conn = nxt
                break
    finally:
        if conn is not None:
            conn.close()
    return TrustResult(True, tuple(recorded), "\n".join(said))


async def trust(spec: NodeSpec, confirm: Confirm, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> TrustResult:
    """Walk the node's route and record each unknown hop key ``confirm`` accepts. A changed or
    revoked key raises (HostKeyChanged, HostKeyRevoked); so do AuthFailed and Unreachable of a
    jump host, named in the message."""
    _needs_ssh(spec)
    return await _walk(spec, confirm, timeout)


async def fetch_offer(spec: NodeSpec) -> Offer:
    """The first key on the node's route that is not trusted (a jump host's, when that is the
    one: ``jump``, ``hop``, ``host`` and ``port`` say which). A changed key raises HostKeyChanged
    (never offered); a route trusted all along raises TuiOrchError saying so."""
    seen: list[Offer] = []
    result = await trust(spec, lambda offer: bool(seen.append(offer)))
    if not seen:
        raise TuiOrchError(result.message)
    return seen[0]


async def fetch_fingerprint(spec: NodeSpec) -> tuple[str, str]:
    """``fetch_offer``'s SHA256 fingerprint and key type (a jump host's type names it)."""
    offer = await fetch_offer(spec)
    if offer.hop == offer.node:
        return offer.fingerprint, offer.algorithm
    # The console's trust dialog shows (fingerprint, type) under the node's own address: the
    # type names the jump host, so a jump host's key is never taken for the node's.
    return offer.fingerprint, f"{offer.hop}'s ({offer.where}) {offer.algorithm}"


async def trust_node(spec: NodeSpec, fingerprint: str | None = None) -> str:
    """Record the node's route keys as ``tui-orch trust NODE --yes`` does; with ``fingerprint``,
    only the key the operator saw, if the host still presents it. Returns what was done."""
    presented: list[str] = []

    def same_key(offer: Offer) -> bool:
        presented.append(offer.fingerprint)
        return fingerprint is None or offer.fingerprint == fingerprint

    result = await trust(spec, same_key)
    accepted = any(offer.fingerprint == fingerprint for offer in result.recorded)
    if fingerprint is not None and presented and presented[-1] != fingerprint and not accepted:
        raise TuiOrchError(f"{spec.name}: the host now presents {presented[-1]}, not the {fingerprint} "
                           f"you accepted; nothing was written. Look again before trusting it")
    return result.message
