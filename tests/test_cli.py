"""The headless commands as a user runs them: real process, exit codes, what is printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "tui_orch", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=60)


def test_version() -> None:
    from tui_orch import __version__

    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"tui-orch {__version__}"


@pytest.mark.parametrize("verb", ["validate", "nodes", "trust", "node prepare"])
def test_help_on_every_verb(verb: str) -> None:
    r = run(*verb.split(), "--help")
    assert r.returncode == 0 and "usage: tui-orch " + verb in r.stdout


def test_apply_help_says_a_dry_run_builds_nothing() -> None:
    r = run("apply", "--help")
    text = " ".join(r.stdout.split())
    assert r.returncode == 0 and "--dry-run show the plan; change nothing and build nothing" in text, r.stdout


def test_validate_takes_files_as_apply_does_with_f_too() -> None:
    named, with_f = run("validate", str(EXAMPLES / "web.yaml")), run("validate", "-f", str(EXAMPLES / "web.yaml"))
    assert (named.returncode, with_f.returncode) == (0, 0) and named.stdout == with_f.stdout, with_f.stderr
    none = run("validate")
    assert none.returncode == 2 and none.stderr.strip() == (
        "tui-orch validate: name a Compose file: tui-orch validate compose.yaml (or -f compose.yaml)")


def test_validate_prints_resolved_settings() -> None:
    r = run("validate", str(EXAMPLES / "web.yaml"))
    assert r.returncode == 0, r.stderr
    assert "web: tuiorch/busybox:1, 3 replicas" in r.stdout
    # Swarm's defaults are shown resolved
    assert "rollback: 1 at a time, stop-first, delay 0s, monitor 5s, on failure pause" in r.stdout
    assert "update: 1 at a time, start-first" in r.stdout


def test_validate_json() -> None:
    r = run("validate", str(EXAMPLES / "stack.yaml"), "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    names = [s["name"] for s in data[0]["services"]]
    assert names == sorted(names) or set(names) == {"frontend", "api", "agent", "batch"}
    agent = next(s for s in data[0]["services"] if s["name"] == "agent")
    assert agent["mode"] == "global"


def test_validate_reports_every_error_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "web.yaml"
    bad.write_text(
        "services:\n"
        "  web:\n"
        "    image: nginx\n"
        "    deploy:\n"
        "      replicas: three\n"
        "      resources:\n"
        "        limits:\n"
        "          memory: 12q\n"
    )
    r = run("validate", str(bad))
    assert r.returncode == 1
    assert f"{bad}:5:17: services.web.deploy.replicas: expected a whole number, got 'three'" in r.stderr
    assert f"{bad}:8:19: services.web.deploy.resources.limits.memory:" in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_missing_file_is_one_line(tmp_path: Path) -> None:
    r = run("validate", str(tmp_path / "nope.yaml"))
    assert r.returncode == 1
    assert "nope.yaml" in r.stderr and "Traceback" not in r.stderr


def test_nodes_without_inventory_is_this_machine(tmp_path: Path) -> None:
    r = run("nodes", "--offline", env={"TUI_ORCH_CONFIG": str(tmp_path), "TUI_ORCH_INVENTORY": ""})
    assert r.returncode == 0, r.stderr
    assert "this machine is the only node" in r.stdout
    assert "local" in r.stdout


def test_nodes_lists_an_inventory() -> None:
    r = run("nodes", "--offline", "--inventory", str(EXAMPLES / "nodes.yaml"), "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [n["name"] for n in data["nodes"]] == ["app-1", "app-2", "big-1", "this-machine"]
    app2 = data["nodes"][1]
    assert app2["reach"] == "ssh app-2.example.org:2202 via bastion" and app2["user"] == "deploy"


def test_options_before_the_verb_count_too() -> None:
    r = run("--inventory", str(EXAMPLES / "nodes.yaml"), "nodes", "--offline", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["inventory"] == str(EXAMPLES / "nodes.yaml")


def test_bad_inventory_is_one_clear_message(tmp_path: Path) -> None:
    f = tmp_path / "nodes.yaml"
    f.write_text("nodes:\n  - name: a\n    port: ssh\n")
    r = run("nodes", "--inventory", str(f))
    assert r.returncode == 1
    assert f"{f}:3:11: nodes[0].port: expected a port number" in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_shows_where_each_port_answers(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text('services:\n  web:\n    image: nginx\n    ports: ["8080:80", "9000", '
                                       '"127.0.0.1:53:53/udp", {target: 81, published: 8081, mode: host}]\n')
    r = run("validate", str(tmp_path / "app.yaml"))
    assert r.returncode == 0, r.stderr
    assert ("    ports: 8080 (every node) -> 80/tcp, dynamic -> 9000/tcp, 127.0.0.1:53 (each replica's node) -> 53/udp, "
            "8081 (each replica's node) -> 81/tcp") in r.stdout.splitlines(), r.stdout
