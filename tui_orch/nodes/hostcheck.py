"""What a host has and lacks for tui-orch: OS, kernel, Docker Engine, socket access, disk, clock.

``check_host`` looks at a host over an open SSH connection and returns a ``HostReport``; every
check is ok / warn / fail with one sentence. Nothing is changed on the host.

Every remote command is one constant script run with ``sh -c``; values (socket path, user
name) reach it only as positional parameters, quoted with shlex: they are never parsed as
shell code. The engine itself is asked through the SSH connection's own stream-local channel
(what the console later uses), so no docker CLI or curl is needed on the host.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import asyncssh

from tui_orch.errors import NodeError
from tui_orch.model import NodeSpec
from tui_orch.units import format_bytes

Status = Literal["ok", "warn", "fail"]
ApiState = Literal["ok", "no-socket", "prohibited", "refused", "bad-answer", "timeout", "unknown"]

DISK_WARN = 2 * 1024**3
DISK_FAIL = 256 * 1024**2
SKEW_WARN = 2.0
COMMAND_TIMEOUT = 30.0
API_TIMEOUT = 5.0
PROGRAMS = ("docker", "dockerd", "apt-get", "dnf", "yum", "apk", "zypper", "pacman", "usermod",
            "addgroup", "systemctl", "rc-update", "rc-service", "service", "sudo")

# Positional parameters: $1 socket path, $2 user name, $3 Docker's data root. Always quoted.
FACTS_SCRIPT = r"""sock=$1; user=$2; root=$3
echo @@date; date +%s.%N
echo @@os; cat /etc/os-release 2>/dev/null
echo; echo @@uname; uname -r; uname -m
echo @@id; id -un; id -u; id -Gn
echo @@usergroups; id -Gn -- "$user" 2>/dev/null
echo @@socket; [ -S "$sock" ] && echo exists; [ -r "$sock" ] && [ -w "$sock" ] && echo usable
stat -L -c '%U %G %a' -- "$sock" 2>/dev/null
echo @@programs
for p in """ + " ".join(PROGRAMS) + r"""; do command -v "$p" >/dev/null 2>&1 && echo "$p"; done
echo @@init
if [ -d /run/systemd/system ]; then echo systemd
elif command -v rc-service >/dev/null 2>&1; then echo openrc
elif command -v service >/dev/null 2>&1; then echo service
else echo none; fi
echo @@sudo
if [ "$(id -u)" = 0 ]; then echo root
elif ! command -v sudo >/dev/null 2>&1; then echo missing
elif out=$(sudo -n true 2>&1); then echo nopasswd
else echo password; printf '%s\n' "$out" | head -n 1; fi
echo @@df
d=$root; while [ ! -e "$d" ] && [ "$d" != / ]; do d=$(dirname -- "$d"); done
df -Pk -- / "$d" 2>/dev/null
echo @@end
"""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str

    def __str__(self) -> str:
        return f"{self.status:<5} {self.name:<7} {self.message}"


@dataclass(frozen=True)
class HostReport:
    """What check_host found. Plain values: tests build synthetic reports directly."""

    node: str
    user: str = ""  # the inventory's user (what new logins use); else the login user
    login_user: str = ""
    uid: int | None = None
    session_groups: tuple[str, ...] = ()  # of this SSH session
    user_groups: tuple[str, ...] = ()  # from the group database: what the next login gets
    os_id: str = ""
    os_like: tuple[str, ...] = ()
    os_version: str = ""
    os_name: str = ""
    kernel: str = ""
    arch: str = ""
    init: str = "none"  # systemd, openrc, service, none
    programs: tuple[str, ...] = ()
    sudo: str = "root"  # root, nopasswd, password, missing
    sudo_message: str = ""
    socket: str = "/var/run/docker.sock"
    socket_exists: bool = False
    socket_usable: bool = False
    socket_owner: str = ""
    socket_group: str = ""
    socket_mode: str = ""
    api: ApiState = "unknown"
    api_error: str = ""
    docker_version: str = ""
    api_version: str = ""
    docker_root: str = ""
    disk_free: tuple[tuple[str, int], ...] = ()  # (what, bytes free): / and Docker's data root
    clock_skew: float | None = None  # host minus this machine, seconds
    checks: tuple[Check, ...] = field(default=(), compare=False)

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    @property
    def docker_installed(self) -> bool:
        return "dockerd" in self.programs or "docker" in self.programs or self.api == "ok"

    @property
    def engine_answers(self) -> bool:
        return self.api == "ok"

    @property
    def group_pending(self) -> bool:
        """Not usable in this session, but the next login is in the socket's group."""
        return (not self.socket_usable and self.socket_exists and bool(self.socket_group)
                and self.socket_group in self.user_groups and self.socket_group not in self.session_groups
                and len(self.socket_mode) >= 2 and self.socket_mode[-2] in "67")

    @property
    def ready(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)


# --------------------------------------------------------------------------- looking


async def run_argv(conn: asyncssh.SSHClientConnection, argv: Sequence[str],
                   timeout: float = COMMAND_TIMEOUT) -> asyncssh.SSHCompletedProcess:
    """Run one command given as argv: every word quoted, nothing left for the shell to expand."""
    return await conn.run(shlex.join(argv), check=False, timeout=timeout)


async def check_host(conn: asyncssh.SSHClientConnection, spec: NodeSpec) -> HostReport:
    """Look at the host behind conn (read only) and judge what it has for tui-orch."""
    socket_path = spec.docker_socket
    api, api_error, version, info = await _ask_engine(conn, socket_path)
    root = str(info.get("DockerRootDir") or "/var/lib/docker")
    try:
        before = time.time()
        result = await run_argv(conn, ["sh", "-c", FACTS_SCRIPT, "sh", socket_path, spec.user or "", root])
        after = time.time()
    except asyncssh.TimeoutError:
        raise NodeError(spec.name, f"looking at the host took longer than {COMMAND_TIMEOUT:.0f} s "
                        f"(a slow login shell profile?); try again") from None
    except (asyncssh.Error, OSError) as exc:
        raise NodeError(spec.name, f"cannot run commands over SSH: {exc}") from None
    sections = _sections(str(result.stdout or ""))
    skew = _clock_skew((sections.get("date") or [""])[0], before, after)
    os_release = _os_release(sections.get("os", []))
    uname = sections.get("uname", []) + ["", ""]
    ident = sections.get("id", []) + ["", "", ""]
    login_user = ident[0].strip()
    sock = sections.get("socket", [])
    owner = next((line.split() for line in sock if len(line.split()) == 3), ["", "", ""])
    sudo = (sections.get("sudo") or ["missing"]) + [""]
    groups = tuple(ident[2].split())
    report = HostReport(
        node=spec.name,
        user=spec.user or login_user,
        login_user=login_user,
        uid=int(ident[1]) if ident[1].strip().isdigit() else None,
        session_groups=groups,
        user_groups=tuple(" ".join(sections.get("usergroups", [])).split()) if spec.user else groups,
        os_id=os_release.get("ID", "").lower(),
        os_like=tuple(os_release.get("ID_LIKE", "").lower().split()),
        os_version=os_release.get("VERSION_ID", ""),
        os_name=os_release.get("PRETTY_NAME", os_release.get("NAME", "")),
        kernel=uname[0].strip(),
        arch=uname[1].strip(),
        init=(sections.get("init") or ["none"])[0].strip(),
        programs=tuple(p.strip() for p in sections.get("programs", []) if p.strip()),
        sudo=sudo[0].strip(),
        sudo_message=sudo[1].strip(),
        socket=socket_path,
        socket_exists="exists" in sock,
        socket_usable="usable" in sock,
        socket_owner=owner[0],
        socket_group=owner[1],
        socket_mode=owner[2],
        api=api,
        api_error=api_error,
        docker_version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        docker_root=root if api == "ok" else "",
        disk_free=_df(sections.get("df", []), root),
        clock_skew=skew,
    )
    return _with_checks(report)


async def _ask_engine(conn: asyncssh.SSHClientConnection, socket_path: str
                      ) -> tuple[ApiState, str, dict[str, object], dict[str, object]]:
    try:
        version = await _api_get(conn, socket_path, "/version")
        info = await _api_get(conn, socket_path, "/info")
    except asyncssh.ChannelOpenError as exc:
        state: ApiState = "prohibited" if exc.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED else "refused"
        return state, exc.reason or "open failed", {}, {}
    except (asyncio.TimeoutError, TimeoutError):
        return "timeout", f"no answer within {API_TIMEOUT:.0f} s", {}, {}
    except (ValueError, OSError, asyncssh.Error) as exc:
        return "bad-answer", str(exc) or type(exc).__name__, {}, {}
    return "ok", "", version, info


async def _api_get(conn: asyncssh.SSHClientConnection, socket_path: str, path: str) -> dict[str, object]:
    """GET path from the engine through a stream-local channel of this SSH connection."""
    reader, writer = await asyncio.wait_for(conn.open_unix_connection(socket_path), API_TIMEOUT)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(1 << 20), API_TIMEOUT)
        while True:
            more = await asyncio.wait_for(reader.read(1 << 20), API_TIMEOUT)
            if not more or len(data) > 4 << 20:
                break
            data += more
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    words = head.split(None, 2)
    if len(words) < 2 or not words[0].startswith(b"HTTP/") or words[1] != b"200":
        raise ValueError(f"the socket answered {head[:80]!r}, not a Docker Engine")
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("the engine's answer is not a JSON object")
    return value


def _clock_skew(text: str, before: float, after: float) -> float | None:
    """The host's clock minus ours; 0 when within what the round trip cannot tell apart."""
    seconds, _, fraction = text.strip().partition(".")
    if not seconds.isdigit():
        return None
    remote = float(seconds) + (float("0." + fraction) if fraction.isdigit() else 0.5)
    skew = remote - (before + after) / 2
    slack = (after - before) / 2 + (0.0 if fraction.isdigit() else 0.5)
    return 0.0 if abs(skew) <= slack else skew - slack * (1 if skew > 0 else -1)


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@") and line[2:].isalpha():
            current = out.setdefault(line[2:], [])
        elif current is not None and line.strip():
            current.append(line)
    return out


def _os_release(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        key, eq, value = line.partition("=")
        if eq and key.strip().isidentifier():
            try:
                words = shlex.split(value)
            except ValueError:
                words = [value.strip("'\"")]
            out[key.strip()] = " ".join(words)
    return out


def _df(lines: list[str], root: str) -> tuple[tuple[str, int], ...]:
    """Free bytes on / and on Docker's data root (once when they are one filesystem)."""
    rows = [line.split(None, 5) for line in lines[1:]]
    rows = [r for r in rows if len(r) == 6 and r[3].isdigit()]
    out: list[tuple[str, int]] = []
    for i, row in enumerate(rows[:2]):
        if i == 1 and row == rows[0]:
            out[0] = (f"/ (and Docker's data root {root})", out[0][1])
            continue
        out.append(("/" if i == 0 else f"Docker's data root {root}", int(row[3]) * 1024))
    return tuple(out)


# --------------------------------------------------------------------------- judging


def _with_checks(r: HostReport) -> HostReport:
    return replace(r, checks=evaluate(r))


def evaluate(r: HostReport) -> tuple[Check, ...]:
    """Each aspect of the host as ok / warn / fail with one sentence."""
    checks = []
    name = r.os_name or r.os_id or "an unknown system"
    kernel = f", kernel {r.kernel} {r.arch}".rstrip() if r.kernel else ""
    known = os_family(r) != ""
    checks.append(Check("os", "ok" if known else "warn",
                        f"{name}{kernel}" + ("" if known else ": tui-orch cannot install Docker here by itself")))
    if r.engine_answers:
        checks.append(Check("docker", "ok", f"Docker Engine {r.docker_version} (API {r.api_version}) answers on {r.socket}"))
    elif r.api == "prohibited":
        checks.append(Check("docker", "fail", f"sshd does not let SSH users reach {r.socket} ({r.api_error}): "
                            f"set 'AllowStreamLocalForwarding yes' in its sshd_config"))
    elif r.docker_installed:
        why = "no such socket" if not r.socket_exists else r.api_error or r.api
        checks.append(Check("docker", "fail", f"Docker is installed but no engine answers on {r.socket} "
                            f"({why}): is it running?"))
    else:
        checks.append(Check("docker", "fail", "Docker Engine is not installed"))
    who = r.user or r.login_user or "the SSH user"
    if r.is_root or r.socket_usable:
        if r.socket_exists:
            checks.append(Check("socket", "ok", f"{who} can use {r.socket}"))
    elif r.group_pending:
        checks.append(Check("socket", "warn", f"{who} is now in group {r.socket_group}: it can use {r.socket} "
                            f"from its next SSH login on"))
    elif r.socket_exists:
        checks.append(Check("socket", "fail", f"{who} cannot use {r.socket} (owner {r.socket_owner}:{r.socket_group}, "
                            f"mode {r.socket_mode}) and is not in group {r.socket_group or 'docker'}"))
    for mount, free in r.disk_free:
        status: Status = "fail" if free < DISK_FAIL else "warn" if free < DISK_WARN else "ok"
        checks.append(Check("disk", status, f"{format_bytes(free)} free on {mount}"))
    if r.clock_skew is None:
        checks.append(Check("clock", "warn", "the host's clock could not be read"))
    else:
        bad = abs(r.clock_skew) > SKEW_WARN
        checks.append(Check("clock", "warn" if bad else "ok", f"{r.clock_skew:+.1f} s from this machine's clock"
                            + (": enable time sync (NTP) on the host" if bad else "")))
    return tuple(checks)


def os_family(r: HostReport) -> str:
    """debian, fedora, amzn, rhel, alpine, suse, arch, or '' when unknown."""
    ids = (r.os_id, *r.os_like)
    for family, names in (("debian", {"debian", "ubuntu", "raspbian"}), ("fedora", {"fedora"}),
                          ("amzn", {"amzn"}), ("alpine", {"alpine"}), ("suse", {"suse", "opensuse", "sles"}),
                          ("arch", {"arch"}), ("rhel", {"rhel", "centos", "rocky", "almalinux", "ol"})):
        if r.os_id in names:
            return family
    for family, names in (("debian", {"debian", "ubuntu"}), ("rhel", {"rhel", "centos", "fedora"}),
                          ("suse", {"suse", "opensuse"}), ("arch", {"arch"})):
        if names & set(ids[1:]):
            return family
    return ""
