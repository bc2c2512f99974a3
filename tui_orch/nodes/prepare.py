"""What ``tui-orch node prepare NODE`` does on a host (the verb itself is in cli_nodes.py):
install what a host lacks (Docker Engine, its service, access to its socket), with the
operator's consent, then check again.

    check_host  ->  plan_prepare (a pure function of the report)  ->  consent  ->  run each step
    ->  check_host again

A prepared host gives an empty plan: "ready: nothing to do". Commands come from the
distribution's own packages (apt-get, dnf, apk, zypper, pacman); when the login user is not
root they run through ``sudo -n`` (never prompting). Every command is an argv joined with
shlex: no value from the inventory or the host is ever read as shell code.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncssh

from tui_orch.model import NodeSpec
from tui_orch.nodes.hostcheck import Check, HostReport, check_host, os_family, run_argv

__all__ = ["Check", "HostReport", "PrepareResult", "Step", "StepResult", "check_host", "plan_prepare", "prepare"]

STEP_TIMEOUT = 900.0
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")
APT = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get")


@dataclass(frozen=True)
class Step:
    """One thing to do on the host: a command (argv), or ``manual`` text for the operator."""

    title: str
    argv: tuple[str, ...] = ()
    manual: str = ""

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def __str__(self) -> str:
        return f"{self.title}: {self.command}" if self.argv else f"{self.title}: {self.manual}"


@dataclass(frozen=True)
class StepResult:
    step: Step
    ok: bool
    exit_status: int | None
    seconds: float
    output_tail: str = ""


@dataclass(frozen=True)
class PrepareResult:
    node: str
    ready: bool
    changed: bool
    before: HostReport
    after: HostReport
    steps: tuple[StepResult, ...] = ()
    message: str = ""


# --------------------------------------------------------------------------- planning


def plan_prepare(report: HostReport) -> list[Step]:
    """What to do so the host can run tui-orch's replicas; [] when nothing is needed."""
    sudo: tuple[str, ...] = () if report.is_root else ("sudo", "-n")
    steps: list[Step] = []
    can_use = report.is_root or report.socket_usable
    if not report.docker_installed:
        steps += _install(report) + _start(report)
    elif report.api == "prohibited":
        steps.append(Step("let SSH users reach the Docker socket", manual=(
            f"sshd refuses to connect SSH users to {report.socket} ({report.api_error}): set "
            f"'AllowStreamLocalForwarding yes' in /etc/ssh/sshd_config and reload sshd")))
    elif not report.engine_answers and (can_use or not report.socket_exists):
        steps += _start(report)
    if not can_use and not report.group_pending:
        steps += _group(report)
    steps = [Step(s.title, sudo + s.argv) if s.argv else s for s in steps]
    if sudo and any(s.argv for s in steps) and report.sudo != "nopasswd":
        why = "sudo is not installed" if report.sudo == "missing" else (
            f"sudo asks for a password ({report.sudo_message or 'sudo -n true failed'})")
        steps.insert(0, Step("get root without a password prompt", manual=(
            f"{why}: connect as root, or allow {report.user or report.login_user} passwordless sudo "
            f"(e.g. a line '{report.user or report.login_user} ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/), "
            f"or run the commands below by hand")))
    return steps


def _install(r: HostReport) -> list[Step]:
    family = os_family(r)
    what = "install Docker Engine from the distribution's packages"
    if family == "debian":
        return [Step("update the package lists (apt-get)", APT + ("update",)),
                Step(f"{what} (apt-get: docker.io)", APT + ("install", "-y", "docker.io"))]
    if family == "fedora":
        return [Step(f"{what} (dnf: moby-engine)", ("dnf", "install", "-y", "moby-engine"))]
    if family == "amzn":
        tool = "dnf" if "dnf" in r.programs or "yum" not in r.programs else "yum"
        return [Step(f"{what} ({tool}: docker)", (tool, "install", "-y", "docker"))]
    if family == "alpine":
        return [Step(f"{what} (apk: docker)", ("apk", "add", "docker"))]
    if family == "suse":
        return [Step(f"{what} (zypper: docker)", ("zypper", "--non-interactive", "install", "docker"))]
    if family == "arch":
        return [Step(f"{what} (pacman: docker)", ("pacman", "-S", "--noconfirm", "--needed", "docker"))]
    name = r.os_name or r.os_id or "this system"
    if family == "rhel":
        return [Step("install Docker Engine", manual=(
            f"{name} ships no Docker Engine package: install it from Docker's repository "
            f"(https://docs.docker.com/engine/install/), then run node prepare again"))]
    return [Step("install Docker Engine", manual=(
        f"tui-orch does not know how to install Docker on {name}: install Docker Engine "
        f"(https://docs.docker.com/engine/install/), then run node prepare again"))]


def _start(r: HostReport) -> list[Step]:
    init = "openrc" if os_family(r) == "alpine" and r.init != "systemd" else r.init
    if init == "systemd":
        return [Step("start Docker now and at every boot", ("systemctl", "enable", "--now", "docker"))]
    if init == "openrc":
        return [Step("start Docker at every boot", ("rc-update", "add", "docker", "default")),
                Step("start Docker now", ("rc-service", "docker", "start"))]
    return [Step("start Docker now", ("service", "docker", "start"))]


def _group(r: HostReport) -> list[Step]:
    user = r.user or r.login_user
    group = r.socket_group if r.socket_exists and r.socket_group else "docker"
    if not USER_RE.match(user):
        return [Step("give the SSH user the Docker socket", manual=(
            f"the user name {user!r} is not a plain user name: add the SSH user to group {group} by hand"))]
    if r.socket_exists and group == "root":
        return [Step("give the SSH user the Docker socket", manual=(
            f"{r.socket} belongs to group root (mode {r.socket_mode}): run the engine with a 'docker' group "
            f"(dockerd --group docker) and add {user} to it, or connect as root"))]
    if os_family(r) == "alpine" and "usermod" not in r.programs:
        return [Step(f"add {user} to group {group} (takes effect at its next login)", ("addgroup", user, group))]
    return [Step(f"add {user} to group {group} (takes effect at its next login)", ("usermod", "-aG", group, user))]


# --------------------------------------------------------------------------- doing


async def prepare(conn: asyncssh.SSHClientConnection, spec: NodeSpec, yes: bool,
                  confirm: Callable[[str], bool], out: Callable[[str], None]) -> PrepareResult:
    """Check the host, show the plan, run it with consent (``yes`` or ``confirm``), check again."""
    out(f"checking {spec.name} ({spec.address})")
    before = await check_host(conn, spec)
    _show(before, out)
    steps = plan_prepare(before)
    if not steps:
        message = "ready: nothing to do" if before.ready else "not ready, and nothing tui-orch can install fixes it"
        out(message)
        return PrepareResult(spec.name, before.ready, False, before, before, (), message)
    manual = [s for s in steps if not s.argv]
    runnable = [s for s in steps if s.argv]
    if manual:
        out(f"{spec.name} needs these done by hand first:")
        for step in manual:
            out(f"  - {step.title}: {step.manual}")
    if runnable:
        out(("then tui-orch would run:" if manual else f"to prepare {spec.name}, tui-orch would run:"))
        for i, step in enumerate(runnable, 1):
            out(f"  {i}. {step.title}\n       $ {step.command}")
    if manual:
        message = "not ready: do the steps above by hand, then run node prepare again"
        out(message)
        return PrepareResult(spec.name, False, False, before, before, (), message)
    if not (yes or confirm(f"run these {len(runnable)} steps on {spec.name}?")):
        message = "nothing changed (not confirmed; use --yes to run without asking)"
        out(message)
        return PrepareResult(spec.name, False, False, before, before, (), message)
    results: list[StepResult] = []
    for i, step in enumerate(runnable, 1):
        result = await _run_step(conn, step)
        results.append(result)
        if result.ok:
            out(f"[{i}/{len(runnable)}] {step.title}: ok ({result.seconds:.1f} s)")
        else:
            out(f"[{i}/{len(runnable)}] {step.title}: FAILED (exit {result.exit_status}): {result.output_tail}")
            break
    out(f"checking {spec.name} again")
    after = await check_host(conn, spec)
    _show(after, out)
    failed = not all(r.ok for r in results)
    ready = after.ready and not failed
    message = "ready" if ready else "not ready: " + ("a step failed" if failed else "; ".join(
        c.message for c in after.checks if c.status == "fail"))
    out(message)
    return PrepareResult(spec.name, ready, True, before, after, tuple(results), message)


async def _run_step(conn: asyncssh.SSHClientConnection, step: Step) -> StepResult:
    started = time.monotonic()
    try:
        done = await run_argv(conn, step.argv, timeout=STEP_TIMEOUT)
    except asyncssh.TimeoutError:
        return StepResult(step, False, None, time.monotonic() - started, f"no result within {STEP_TIMEOUT:.0f} s")
    except (asyncssh.Error, OSError) as exc:
        return StepResult(step, False, None, time.monotonic() - started, str(exc))
    text = str(done.stderr or "").strip() or str(done.stdout or "").strip()
    tail = " | ".join(text.splitlines()[-3:])[-400:]
    return StepResult(step, done.exit_status == 0, done.exit_status, time.monotonic() - started, tail)


def _show(report: HostReport, out: Callable[[str], None]) -> None:
    for check in report.checks:
        out(f"  {check}")
