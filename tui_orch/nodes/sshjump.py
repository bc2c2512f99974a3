"""A private ssh_config for ``ssh -F`` that reaches a node through its jump hosts with every
hop's own settings (OpenSSH's ``-J`` takes no per-hop options).

One ``Host`` entry per hop, named ``tui-orch-jump-N`` and ``tui-orch-node``: HostName, Port,
User, each IdentityFile, UserKnownHostsFile and ``StrictHostKeyChecking yes`` (a new or changed
key is refused on every hop, never learnt), each hop's ProxyJump the hop before it. Values are
written quoted as ssh_config reads them, ``%`` doubled where ssh expands tokens; a value that
ssh_config cannot hold (a double quote, a control character) is refused with a sentence.

The file holds no secret but names keys and hosts: it lives in a folder of this process's own
(mode 0700, file 0600), named after its content (the same route, the same file), and the folder
is removed when the process ends. OpenSSH hands ``-F FILE`` on to the ssh it starts for a jump
host through ``sh -c``, unquoted: the folder's path is checked to be plain characters."""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence

from tui_orch.errors import TuiOrchError
from tui_orch.nodes.sshconfig import Hop

TARGET = "tui-orch-node"
PLAIN_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")  # safe unquoted in the command line ssh builds
_folder: str | None = None


def _value(node: str, hop: Hop, name: str, value: str, tokens: bool = False) -> str:
    """``value`` as ssh_config reads it: quoted, ``%`` doubled when ssh expands tokens in it."""
    if '"' in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise TuiOrchError(f"{node}: {name} {value!r} of {hop.label} cannot be written to an ssh_config "
                           f"(a double quote or control character); fix the inventory or ~/.ssh/config")
    return '"' + (value.replace("%", "%%") if tokens else value) + '"'


def _alias(i: int, hops: Sequence[Hop]) -> str:
    return TARGET if i == len(hops) - 1 else f"tui-orch-jump-{i + 1}"


def config_text(node: str, hops: Sequence[Hop]) -> str:
    """The ssh_config of the route ``hops`` (jump hosts first, the node last)."""
    lines = [f"# tui-orch: the route to {node}, written for one shell; ~/.ssh/config is not read"]
    for i, hop in enumerate(hops):
        s = hop.settings
        lines += [f"Host {_alias(i, hops)}", f"    HostName {_value(node, hop, 'host', s.host)}",
                  f"    Port {int(s.port)}"]
        if s.user:
            lines.append(f"    User {_value(node, hop, 'user', s.user)}")
        lines += [f"    IdentityFile {_value(node, hop, 'identity file', f, tokens=True)}" for f in s.identity_files]
        files = " ".join(_value(node, hop, "known_hosts file", f, tokens=True) for f in s.known_hosts) or "/dev/null"
        lines += [f"    UserKnownHostsFile {files}", "    GlobalKnownHostsFile none",
                  "    StrictHostKeyChecking yes", "    UpdateHostKeys no"]
        if i > 0:
            lines.append(f"    ProxyJump {_alias(i - 1, hops)}")
    return "\n".join(lines) + "\n"


def _private_folder() -> str:
    global _folder
    if _folder is None or not os.path.isdir(_folder):
        _folder = tempfile.mkdtemp(prefix="tui-orch-ssh-")  # mode 0700
        atexit.register(shutil.rmtree, _folder, True)
    if not PLAIN_PATH.match(_folder):
        raise TuiOrchError(f"the temporary folder {_folder!r} has characters ssh would pass to a shell; "
                           f"set TMPDIR to a plain path such as /tmp")
    return _folder


def private_config(node: str, hops: Sequence[Hop]) -> str:
    """The path of a file (mode 0600) holding ``config_text(node, hops)``."""
    text = config_text(node, hops)
    path = os.path.join(_private_folder(), hashlib.sha256(text.encode()).hexdigest()[:16] + ".ssh_config")
    if not os.path.exists(path):
        fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(path + ".new", path)
    return path
