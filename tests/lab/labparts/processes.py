"""Finding, spawning and ending the lab's own processes (pid files checked against /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from labparts.layout import LabError, SYSTEM_PATH


def _read_pid(path: Path) -> "int | None":
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie counts as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _owned_pid(pid_file: Path, marker: str) -> "int | None":
    """The pid in pid_file when that process runs and is ours (marker in its command line)."""
    pid = _read_pid(pid_file)
    if pid and _alive(pid) and marker in _cmdline(pid):
        return pid
    return None


def _children() -> "dict[int, list[int]]":
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(text.rsplit(")", 1)[-1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> "list[int]":
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: "list[int]", timeout: float) -> "list[int]":
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    return left


def _terminate(pids: "list[int]", timeout: float) -> None:
    """SIGTERM, wait up to timeout, then SIGKILL what is left and wait for it."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    left = _wait_gone(pids, timeout)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    left = _wait_gone(left, 10)
    if left:
        raise LabError(f"processes {left} did not exit even after SIGKILL")


def _clean_env() -> "dict[str, str]":
    # no NOTIFY_SOCKET, DOCKER_HOST, proxies or XDG_RUNTIME_DIR leak into the daemons
    return {"PATH": SYSTEM_PATH, "HOME": "/root", "LANG": "C.UTF-8"}


# The engines' registry client goes through a proxy on a closed loopback port: a pull of an
# image that is not there fails at once instead of reaching out to a public registry.
NO_REGISTRY_PROXY = "http://127.0.0.1:9"


def _engine_env() -> "dict[str, str]":
    env = _clean_env()
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[key] = NO_REGISTRY_PROXY
    return env


def _spawn(argv: "list[str]", log: Path, env: "dict[str, str] | None" = None) -> int:
    """Start a daemon detached (new session, reparented to init); returns its pid."""
    script = 'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    try:
        out = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(log), *argv],
            env=env or _clean_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
            start_new_session=True, timeout=30, check=True,
        )
        return int(out.stdout.strip())
    except (subprocess.SubprocessError, ValueError) as exc:
        raise LabError(f"could not start {argv[0]}: {exc}")


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------------------
# The Docker API over a unix socket, with the standard library



def _write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
