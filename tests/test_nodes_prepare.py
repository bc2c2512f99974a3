"""node prepare: a prepared lab node is "ready: nothing to do"; plans for synthetic hosts
(Debian, Alpine, Fedora, RHEL, non-root users, sudo with a password) are the right commands;
hostile values in the inventory never run as shell code on the host."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shlex
import uuid

import pytest

from tui_orch.errors import NodeError
from tui_orch.inventory import load_inventory
from tui_orch.model import NodeSpec
from tui_orch.nodes import prepare as prep
from tui_orch.nodes.hostcheck import HostReport, evaluate, run_argv
from tui_orch.cli_nodes import cmd_node_prepare, node_prepare
from tui_orch.errors import HostKeyUnknown, Unreachable
from tui_orch.nodes.prepare import Step, check_host, plan_prepare, prepare
from tui_orch.nodes.ssh import connect

GIB = 1024**3


# --------------------------------------------------------------------------- synthetic hosts


def host(**changes: object) -> HostReport:
    """A fresh Debian 12 host, root, systemd, no Docker; override what a case needs."""
    base = HostReport(node="n1", user="root", login_user="root", uid=0, session_groups=("root",),
                      user_groups=("root",), os_id="debian", os_version="12", os_name="Debian GNU/Linux 12",
                      kernel="6.1.0", arch="x86_64", init="systemd", programs=("apt-get", "usermod", "systemctl"),
                      sudo="root", api="no-socket", disk_free=(("/", 50 * GIB),), clock_skew=0.1)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def deploy_user(**changes: object) -> dict[str, object]:
    """A non-root login 'deploy' (uid 1000)."""
    values: dict[str, object] = dict(user="deploy", login_user="deploy", uid=1000, session_groups=("deploy",),
                                     user_groups=("deploy",), sudo="nopasswd")
    values.update(changes)
    return values


def argvs(steps: list[Step]) -> list[tuple[str, ...]]:
    return [s.argv for s in steps]


APT = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get")
DOCKER_UP = dict(programs=("apt-get", "usermod", "systemctl", "docker", "dockerd"), api="ok", socket_exists=True,
                 socket_usable=True, socket_owner="root", socket_group="docker", socket_mode="660",
                 docker_version="24.0.7", api_version="1.43")


def test_debian_without_docker_installs_docker_io_and_starts_it():
    assert argvs(plan_prepare(host())) == [
        APT + ("update",),
        APT + ("install", "-y", "docker.io"),
        ("systemctl", "enable", "--now", "docker"),
    ]


def test_ubuntu_as_a_user_with_sudo_runs_every_step_through_sudo_n_and_joins_the_docker_group():
    r = host(os_id="ubuntu", os_like=("debian",), **deploy_user())
    assert argvs(plan_prepare(r)) == [
        ("sudo", "-n") + APT + ("update",),
        ("sudo", "-n") + APT + ("install", "-y", "docker.io"),
        ("sudo", "-n", "systemctl", "enable", "--now", "docker"),
        ("sudo", "-n", "usermod", "-aG", "docker", "deploy"),
    ]


def test_alpine_uses_apk_and_openrc():
    r = host(os_id="alpine", os_version="3.19", init="openrc", programs=("apk", "addgroup", "rc-service", "rc-update"))
    assert argvs(plan_prepare(r)) == [
        ("apk", "add", "docker"),
        ("rc-update", "add", "docker", "default"),
        ("rc-service", "docker", "start"),
    ]
    user = dataclasses.replace(r, **deploy_user())  # type: ignore[arg-type]
    assert plan_prepare(user)[-1].argv == ("sudo", "-n", "addgroup", "deploy", "docker")


def test_fedora_installs_moby_engine_and_amazon_linux_docker():
    fedora = host(os_id="fedora", os_version="40", programs=("dnf", "systemctl"))
    assert argvs(plan_prepare(fedora)) == [("dnf", "install", "-y", "moby-engine"),
                                            ("systemctl", "enable", "--now", "docker")]
    amazon = host(os_id="amzn", os_like=("centos", "rhel", "fedora"), os_version="2", programs=("yum",), init="systemd")
    assert plan_prepare(amazon)[0].argv == ("yum", "install", "-y", "docker")


def test_rhel_family_and_unknown_systems_get_a_manual_step_not_a_guess():
    for r in (host(os_id="rocky", os_like=("rhel", "centos", "fedora"), os_name="Rocky Linux 9.3"),
              host(os_id="plan9", os_name="Plan 9")):
        steps = plan_prepare(r)
        assert not steps[0].argv and "https://docs.docker.com/engine/install/" in steps[0].manual
        assert r.os_name in steps[0].manual


def test_a_user_who_cannot_use_the_socket_is_added_to_its_group():
    r = host(**{**DOCKER_UP, **deploy_user(), "socket_usable": False})  # type: ignore[arg-type]
    assert argvs(plan_prepare(r)) == [("sudo", "-n", "usermod", "-aG", "docker", "deploy")]
    fail = {c.name: c for c in evaluate(r)}["socket"]
    assert fail.status == "fail" and "deploy cannot use /var/run/docker.sock" in fail.message
    # after usermod, this session has not the group yet, the next login has: no step, a warning
    later = dataclasses.replace(r, user_groups=("deploy", "docker"))
    assert plan_prepare(later) == []
    assert {c.name: c.status for c in evaluate(later)}["socket"] == "warn"


def test_sudo_asking_for_a_password_is_a_manual_first_step():
    r = host(**deploy_user(sudo="password", sudo_message="sudo: a password is required"))
    steps = plan_prepare(r)
    assert not steps[0].argv
    assert "sudo asks for a password (sudo: a password is required)" in steps[0].manual
    assert "deploy ALL=(ALL) NOPASSWD: ALL" in steps[0].manual
    assert all(s.argv[:2] == ("sudo", "-n") for s in steps[1:]) and len(steps) == 5
    missing = plan_prepare(host(**deploy_user(sudo="missing")))
    assert missing[0].manual.startswith("sudo is not installed")


def test_an_installed_engine_that_is_down_is_started_and_a_refusing_sshd_is_explained():
    down = host(programs=("dockerd", "docker", "systemctl"), api="refused", api_error="open failed")
    assert argvs(plan_prepare(down)) == [("systemctl", "enable", "--now", "docker")]
    no_systemd = dataclasses.replace(down, init="service")
    assert argvs(plan_prepare(no_systemd)) == [("service", "docker", "start")]
    msg = {c.name: c for c in evaluate(down)}["docker"]
    assert msg.status == "fail" and "Docker is installed but no engine answers" in msg.message
    prohibited = host(**{**DOCKER_UP, "api": "prohibited", "api_error": "administratively prohibited"})
    steps = plan_prepare(prohibited)
    assert len(steps) == 1 and "AllowStreamLocalForwarding yes" in steps[0].manual


def test_a_ready_host_needs_nothing_and_warnings_are_not_failures():
    ready = host(**DOCKER_UP)
    assert plan_prepare(ready) == []
    assert all(c.status == "ok" for c in evaluate(ready))
    skewed = dataclasses.replace(ready, clock_skew=5.2, disk_free=(("/", GIB),))
    checks = {c.name: c for c in evaluate(skewed)}
    assert checks["clock"].status == "warn" and "NTP" in checks["clock"].message
    assert checks["disk"].status == "warn"
    full = dataclasses.replace(ready, disk_free=(("/", 100 * 1024**2),))
    assert {c.name: c.status for c in evaluate(full)}["disk"] == "fail"


HOSTILE = ["$(touch {m})", "`touch {m}`", "x; touch {m}", "x' ; touch {m} ; '", 'x" ; touch {m} ; "',
           "x\ntouch {m}", "-x && touch {m}", "x|touch {m}", "$'\\x41'; touch {m}"]


def test_hostile_user_names_are_never_put_into_a_command():
    for template in HOSTILE:
        value = template.format(m="/tmp/pwned")
        r = host(**{**DOCKER_UP, **deploy_user(user=value), "socket_usable": False})  # type: ignore[arg-type]
        steps = plan_prepare(r)
        assert [s.argv for s in steps] == [()], steps
        assert "not a plain user name" in steps[0].manual


def test_every_planned_command_is_quoted_word_by_word():
    reports = [host(), host(os_id="alpine", init="openrc"), host(os_id="fedora"),
               host(**deploy_user(user="we.ird-name_1$"))]
    for r in reports:
        for step in plan_prepare(r):
            if step.argv:
                assert shlex.split(step.command) == list(step.argv)


# --------------------------------------------------------------------------- the lab


def lab_spec(lab, name: str) -> NodeSpec:
    return load_inventory(lab.inventory).get(name)


async def test_a_prepared_lab_node_is_ready_with_nothing_to_do(lab):
    spec = lab_spec(lab, "node1")
    conn = await connect(spec)
    try:
        report = await check_host(conn, spec)
        assert report.ready and report.engine_answers and report.is_root
        assert report.docker_root == str(lab.node(1).data_root)
        assert {c.name for c in report.checks} >= {"os", "docker", "socket", "disk", "clock"}
        assert report.clock_skew is not None and abs(report.clock_skew) < 2
        lines: list[str] = []
        asked: list[str] = []
        for _ in range(2):  # and again: re-running changes nothing
            result = await prepare(conn, spec, yes=False, confirm=lambda q: asked.append(q) or False, out=lines.append)
            assert result.ready and not result.changed and result.steps == ()
            assert result.message == "ready: nothing to do"
        assert asked == []  # nothing to consent to, nothing installed
        assert lines[-1] == "ready: nothing to do"
        assert any("Docker Engine 20.10" in line for line in lines)
    finally:
        conn.close()


def test_the_cli_handler_reports_a_lab_node_ready(lab, capsys):
    args = argparse.Namespace(node="node2", yes=False, inventory=str(lab.inventory))
    assert cmd_node_prepare(args) == 0
    out = capsys.readouterr().out
    assert "checking node2 (127.0.0.3)" in out and out.rstrip().endswith("ready: nothing to do")


async def test_hostile_socket_paths_and_users_never_run_on_the_host(lab):
    spec = lab_spec(lab, "node1")
    folder = f"/tmp/tuiorch-pwned-{uuid.uuid4().hex[:8]}"
    conn = await connect(spec)
    gate = asyncio.Semaphore(3)  # sshd allows 10 sessions per connection

    async def one(i: int, template: str) -> str:
        marker = f"{folder}/m{i}"
        value = template.format(m=marker)
        async with gate:
            printed = await run_argv(conn, ["printf", "%s", value])
            assert printed.stdout == value  # through the login shell, byte for byte
            hostile = dataclasses.replace(spec, docker_socket="/tmp/" + value, user=value)
            report = await check_host(conn, hostile)
        assert report.socket == "/tmp/" + value and not report.socket_exists
        assert report.api != "ok" and report.user == value
        for step in plan_prepare(report):
            assert value not in step.argv
        return marker

    try:
        markers = await asyncio.gather(*(one(i, t) for i, t in enumerate(HOSTILE)))
        await run_argv(conn, ["mkdir", "-p", folder])  # so a missing marker is not a missing folder
        for marker in markers:
            found = await run_argv(conn, ["test", "-e", marker])
            assert found.exit_status == 1, f"{marker} exists: a hostile value ran on the host"
    finally:
        await run_argv(conn, ["rm", "-rf", "--", folder])
        conn.close()


async def test_nothing_runs_without_consent(lab):
    # a socket that is not there: the plan is to start Docker, which must not happen here
    spec = dataclasses.replace(lab_spec(lab, "node1"), docker_socket=f"/tmp/tuiorch-none-{uuid.uuid4().hex[:6]}.sock")
    lines: list[str] = []
    asked: list[str] = []

    code = await node_prepare(spec, yes=False, stdin_is_tty=True, out=lines.append,
                              ask=lambda q: asked.append(q) or "n")
    assert code == 1
    assert asked == ["run these 1 steps on node1? [y/N] "]
    assert any("$ service docker start" in line or "$ systemctl enable --now docker" in line for line in lines)
    assert lines[-1].startswith("nothing changed")
    lines.clear()
    code = await node_prepare(spec, yes=False, stdin_is_tty=False, out=lines.append,
                              ask=lambda q: pytest.fail("asked without a terminal"))
    assert code == 1 and "run again with --yes" in "\n".join(lines)


async def test_consented_steps_run_one_by_one_and_a_failure_stops_them(lab, monkeypatch):
    spec = lab_spec(lab, "node3")
    # what cannot be real here: installing packages on the lab's host; harmless steps instead
    plan = [Step("say hello", ("echo", "hello")), Step("break", ("sh", "-c", "echo first >&2; echo broken >&2; exit 3")),
            Step("never", ("touch", "/tmp/tuiorch-never-runs"))]
    monkeypatch.setattr(prep, "plan_prepare", lambda report: plan)
    conn = await connect(spec)
    lines: list[str] = []
    try:
        result = await prepare(conn, spec, yes=True, confirm=lambda q: pytest.fail("asked despite --yes"),
                               out=lines.append)
    finally:
        conn.close()
    assert [r.ok for r in result.steps] == [True, False]
    assert result.steps[1].exit_status == 3 and result.steps[1].output_tail == "first | broken"
    assert result.changed and not result.ready
    assert "[1/3] say hello: ok" in "\n".join(lines)
    assert "[2/3] break: FAILED (exit 3): first | broken" in "\n".join(lines)
    assert "checking node3 again" in lines


async def test_connection_problems_are_one_clear_sentence(lab, tmp_path):
    # the console's connection path (nodes/ssh.py): the same errors, the same sentences
    spec = lab_spec(lab, "node1")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    for known in (empty, tmp_path / "nope"):  # a missing file trusts nothing
        with pytest.raises(HostKeyUnknown, match=r"node1: unknown host key \(127.0.0.2:2222\)"):
            await node_prepare(dataclasses.replace(spec, known_hosts=str(known)), yes=False, stdin_is_tty=False)
    with pytest.raises(Unreachable, match=r"node1: ssh 127.0.0.2:1: connection refused"):
        await asyncio.wait_for(node_prepare(dataclasses.replace(spec, port=1), yes=False, stdin_is_tty=False), 10)
    with pytest.raises(NodeError, match="is this machine"):
        await node_prepare(NodeSpec(name="local", local=True), yes=False, stdin_is_tty=False)


def test_clock_skew_allows_for_the_round_trip():
    from tui_orch.nodes.hostcheck import _clock_skew

    assert _clock_skew("1000.5", 995.0, 995.2) == pytest.approx(5.3)
    assert _clock_skew("995.15", 995.0, 995.2) == 0.0  # within the round trip: no measurable skew
    assert _clock_skew("990", 995.0, 995.2) == pytest.approx(-4.0)  # no %N (busybox): ±0.5 s more slack
    assert _clock_skew("", 995.0, 995.2) is None
