"""How a node is reached over SSH, resolved once for every command: the inventory's values
first, then ~/.ssh/config as OpenSSH reads it, then OpenSSH's defaults.

~/.ssh/config is read by asyncssh's own parser (Host, Match, Include, tokens), the one that
also applies the rest of that file when connecting: what tui-orch shows (``nodes --offline``,
messages, the line ``trust`` writes) and what it connects to can never disagree, and a
``Port`` in a ``Match`` block counts as it does for ``ssh``.

A route is a list of hops: each jump host of ``proxy_jump`` (inventory, else ProxyJump), then
the node. The inventory's ``known_hosts`` and ``identity_file`` apply to every hop.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
from asyncssh import config as asyncssh_config

from tui_orch.errors import NodeError
from tui_orch.model import NodeSpec

DEFAULT_PORT = 22
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
USER_SSH_CONFIG = "~/.ssh/config"


def _local_ips() -> Iterator[str]:
    """This machine's addresses (what ``Match localnetwork`` compares), from psutil."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            text = address.address.split("%", 1)[0]
            try:
                ipaddress.ip_address(text)
            except ValueError:  # a MAC address
                continue
            yield text


# asyncssh evaluates ``Match localnetwork`` only with the optional ifaddr package, and otherwise
# refuses the whole config ("requires ifaddr module"); psutil (a dependency) lists the same
# addresses, so the condition is evaluated as OpenSSH does.
if getattr(asyncssh_config, "_ifaddr_available", True) is False:  # seen in asyncssh 2.24
    asyncssh_config._ifaddr_available = True
    asyncssh_config._get_local_ips = _local_ips


@dataclass(frozen=True)
class SshSettings:
    """One hop once the inventory and ~/.ssh/config are applied."""

    alias: str  # the name given (inventory address or jump host); ~/.ssh/config matches it
    host: str  # HostName
    port: int
    user: str | None
    identity_files: tuple[str, ...]  # every one named, existing or not (missing ones: warnings)
    known_hosts: tuple[str, ...]  # files read; trust writes to the first
    proxy_jump: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def where(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address


@dataclass(frozen=True)
class Hop:
    """One SSH connection of a route: a jump host or the node itself."""

    label: str  # "node1" or "jump host bastion": how messages name this hop
    settings: SshSettings
    jump: bool


def user_ssh_config() -> list[str]:
    """[~/.ssh/config] when it exists (read at each call: HOME may differ in tests)."""
    path = os.path.expanduser(USER_SSH_CONFIG)
    return [path] if os.path.isfile(path) else []


def local_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        return None


def _config(node: str, alias: str, user: str | None, port: int | None) -> asyncssh_config.SSHClientConfig:
    try:
        return asyncssh_config.SSHClientConfig.load(
            None, user_ssh_config(), False, False, False, local_user() or "", user or (), alias, port or ())
    except (OSError, ValueError) as exc:
        raise NodeError(node, f"cannot read {USER_SSH_CONFIG}: {exc}; fix that file") from None


def _paths(value: object) -> list[str]:
    values = value if isinstance(value, (list, tuple)) else [value] if value else []
    return [os.path.expanduser(str(v)) for v in values if str(v).lower() != "none"]


def resolve(node: str, alias: str, user: str | None = None, port: int | None = None,
            identity_file: str | None = None, known_hosts: str | None = None,
            proxy_jump: str | None = None) -> SshSettings:
    """Settings of one hop: the given values first, then ~/.ssh/config, then defaults."""
    cfg = _config(node, alias, user, port)
    identities = ([os.path.expanduser(identity_file)] if identity_file else []) + _paths(cfg.get("IdentityFile"))
    if known_hosts:
        files = [os.path.expanduser(known_hosts)]
    else:
        user_files = cfg.get("UserKnownHostsFile")
        files = _paths(user_files) if user_files is not None else [os.path.expanduser(DEFAULT_KNOWN_HOSTS)]
        files += _paths(cfg.get("GlobalKnownHostsFile"))
    jump = proxy_jump or (str(cfg.get("ProxyJump")) if cfg.get("ProxyJump") else None)
    return SshSettings(
        alias=alias, host=str(cfg.get("Hostname", alias)), port=int(str(cfg.get("Port", DEFAULT_PORT))),
        user=str(cfg.get("User")) if cfg.get("User") else local_user(),
        identity_files=tuple(dict.fromkeys(identities)), known_hosts=tuple(dict.fromkeys(files)),
        proxy_jump=None if jump is None or jump.lower() == "none" else jump)


def settings(spec: NodeSpec) -> SshSettings:
    """The node's own hop (host, port, user, keys, known_hosts files, jump hosts)."""
    return resolve(spec.name, spec.address, spec.user, spec.port, spec.identity_file, spec.known_hosts,
                   spec.proxy_jump)


def _jump(spec: NodeSpec, word: str) -> Hop:
    user, _, hostport = word.rpartition("@")
    host, port = hostport, None
    if hostport.startswith("[") and "]" in hostport:  # [v6::addr]:port
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if not host or (port is not None and not port.isdigit()):
        raise NodeError(spec.name, f"proxy_jump {word!r} is not [user@]host[:port]; fix the inventory")
    s = resolve(spec.name, host, user or None, int(port) if port else None, spec.identity_file,
                spec.known_hosts)
    return Hop(f"jump host {host}", s, True)


def route(spec: NodeSpec) -> list[Hop]:
    """The hops to reach the node: its jump hosts in order, then the node."""
    target = settings(spec)
    jumps = [_jump(spec, w.strip()) for w in (target.proxy_jump or "").split(",") if w.strip()]
    return [*jumps, Hop(spec.name, target, False)]


def missing_identities(spec: NodeSpec) -> list[str]:
    """One warning per identity file named (inventory or ~/.ssh/config) that does not exist:
    like OpenSSH, the connection goes on with the other keys and the agent."""
    missing: dict[str, Hop] = {}
    for hop in reversed(route(spec)):  # the node's own first: a file it shares is not a jump's
        for path in hop.settings.identity_files:
            if not os.path.exists(path):
                missing.setdefault(path, hop)
    return [f"{spec.name}: identity file {path}{f' (for {hop.label})' if hop.jump else ''} does not exist; "
            f"trying the other keys and ssh-agent" for path, hop in missing.items()]
