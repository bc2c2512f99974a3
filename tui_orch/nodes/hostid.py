"""Which machine, and which network namespace on it, a node runs on.

Two Docker Engines on one machine (the test lab, or a user's second engine) share the host's
ports whenever they share its network namespace: a container with host networking, or a
published port, binds the same port space on both. The identity is the kernel's boot id (a
new random UUID at every boot, unique per machine) and the inode of the network namespace
(unique per live namespace within one boot): ``"<boot id>/net:<inode>"``. It is read once per
connection, with the facts a node already gathers; "" means unknown (a host of its own).
"""

from __future__ import annotations

import contextlib
import os
import re

BOOT_ID = "/proc/sys/kernel/random/boot_id"
NET_NS = "/proc/self/ns/net"
MARK = "tui-orch-host-id"

# One line of shell, appended to a node's facts script: "tui-orch-host-id <boot id> net:[<inode>]"
# (missing words when the host has no /proc, e.g. not Linux).
SHELL = f"echo {MARK} $(cat {BOOT_ID} 2>/dev/null) $(readlink {NET_NS} 2>/dev/null)"

_BOOT = re.compile(r"^[0-9a-fA-F-]{16,64}$")
_NET = re.compile(r"^net:\[(\d+)\]$")


def host_id(boot_id: str, netns_inode: int | str | None) -> str:
    """The identity from its two parts; "" unless both are known and well formed."""
    boot = boot_id.strip().lower()
    inode = str(netns_inode).strip() if netns_inode is not None else ""
    if not _BOOT.match(boot) or not inode.isdigit() or inode == "0":
        return ""
    return f"{boot}/net:{inode}"


def parse(output: str) -> tuple[str, str]:
    """Split ``output`` of a script that ran ``SHELL`` into (the identity, the other lines)."""
    found = ""
    rest: list[str] = []
    for line in output.splitlines():
        words = line.split()
        if words and words[0] == MARK:
            net = _NET.match(words[2]) if len(words) == 3 else None
            found = host_id(words[1], net.group(1)) if net else ""
        else:
            rest.append(line)
    return found, "\n".join(rest)


def local_host_id() -> str:
    """The identity of the machine and network namespace this process runs in ("" if unknown)."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        with open(BOOT_ID, encoding="ascii") as f:
            boot = f.read()
        return host_id(boot, os.stat(NET_NS).st_ino)
    return ""


__all__ = ["SHELL", "host_id", "local_host_id", "parse"]
