"""Real-world stacks (tests/stacks/*/compose.yaml, written as users write them) validate through
the CLI as a user runs it, and show what a user checks: the secret's value nowhere, the volume
named <project>_<key>, the left-out profile, the deploy order and the socket note in the plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tui_orch.manifest import load_manifest
from ui_support import sim_controller

STACKS = Path(__file__).parent / "stacks"
NAMES = sorted(p.name for p in STACKS.iterdir() if (p / "compose.yaml").is_file())
PLANTED = "PLANTED"  # every dummy secret value in the stacks holds it


def tui_orch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUI_ORCH_", "COMPOSE_"))}
    env.pop("GRAFANA_ADMIN_PASSWORD", None)
    return subprocess.run([sys.executable, "-m", "tui_orch", *args], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)


def validated(name: str, *extra: str) -> dict[str, Any]:
    """``tui-orch validate -o json`` of one stack (run from its folder, as users do): valid."""
    result = tui_orch("validate", "-o", "json", "compose.yaml", *extra, cwd=STACKS / name)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    [doc] = json.loads(result.stdout)
    assert doc["valid"] and not [w for w in doc["warnings"] if w["severity"] == "error"]
    return {**doc, "by_name": {s["name"]: s for s in doc["services"]}}


def test_there_are_at_least_15_stacks() -> None:
    assert len(NAMES) >= 18, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_stack_validates_and_no_secret_value_is_printed(name: str) -> None:
    text = tui_orch("validate", "compose.yaml", cwd=STACKS / name)
    assert text.returncode == 0, text.stderr
    assert "error" not in text.stderr.lower() and text.stdout.startswith("compose.yaml: valid, ")
    as_json = tui_orch("validate", "-o", "json", "compose.yaml", cwd=STACKS / name)
    for out in (text.stdout, text.stderr, as_json.stdout, as_json.stderr):
        assert PLANTED not in out


def test_postgres_adminer_volume_and_secret() -> None:
    db = validated("postgres-adminer")["by_name"]["db"]
    assert [v["name"] for v in db["volumes"]] == ["postgres-adminer_pgdata"]
    [secret] = db["secrets"]
    assert (secret["name"], secret["target"], secret["content"]) == ("db_password", "/run/secrets/db_password", None)


def test_wordpress_reads_dot_env_and_waits_for_a_healthy_db() -> None:
    wp = validated("wordpress-mariadb")["by_name"]["wordpress"]
    assert wp["ports"][0]["published"] == 8081  # WORDPRESS_PORT from .env, not the :-80 default
    assert [(d["service"], d["condition"]) for d in wp["depends_on"]] == [("db", "service_healthy")]
    assert sorted(v["name"] for v in wp["volumes"]) == ["wordpress-mariadb_wp_data"]


def test_nginx_config_file_is_a_local_read_only_bind() -> None:
    [mount] = validated("nginx-proxy")["by_name"]["proxy"]["mounts"]
    assert (mount["type"], mount["target"], mount["read_only"], mount["local"]) == ("bind", "/etc/nginx/nginx.conf", True, True)


def test_prometheus_grafana_configs_secret_from_dot_env_and_project_name() -> None:
    doc = validated("prometheus-grafana")
    grafana = doc["by_name"]["grafana"]
    assert doc["name"] == "monitoring" and [v["name"] for v in grafana["volumes"]] == ["monitoring_grafana_data"]
    assert {c["target"] for c in grafana["configs"]} == {"/etc/grafana/provisioning/datasources/datasource.yml"}
    assert grafana["secrets"][0]["origin"] == "environment"


def test_built_image_is_tagged_as_compose_tags_it() -> None:
    web = validated("redis-app")["by_name"]["web"]
    assert web["image"] == "redis-app-web" and web["build"]["context"].endswith("app")


def test_elasticsearch_ulimits_and_capabilities() -> None:
    es = validated("elasticsearch")["by_name"]["es01"]
    assert es["settings"]["cap_add"] == ["IPC_LOCK"] and len(es["settings"]["ulimits"]) == 2


def test_profiles_leave_the_debug_tools_out_unless_activated() -> None:
    result = tui_orch("validate", "compose.yaml", cwd=STACKS / "profiles-debug")
    assert "left out: debug-shell (profiles: debug; none active); activate with --profile debug" in result.stdout
    assert sorted(validated("profiles-debug", "--profile", "debug")["by_name"]) == ["api", "debug-shell", "pgadmin"]


def test_include_and_extends() -> None:
    inc = validated("include-db")["by_name"]
    assert [v["name"] for v in inc["postgres"]["volumes"]] == ["include-db_db"]
    ext = validated("extends-common")["by_name"]
    assert ext["reports"]["command"] == ["worker", "--queue", "reports"] and ext["thumbnails"]["replicas"] == 3
    assert ["CONCURRENCY", "4"] in ext["reports"]["environment"] and ext["emails"]["settings"]["logging"]


def test_monitoring_agent_is_global_with_host_pid_and_tmpfs_stack_is_read_only() -> None:
    agent = validated("monitoring-agent")["by_name"]
    assert agent["node-exporter"]["mode"] == "global" and agent["node-exporter"]["settings"]["pid"] == "host"
    assert "SYS_PTRACE" in agent["cadvisor"]["settings"]["cap_add"]
    api = validated("tmpfs-readonly")["by_name"]["api"]
    assert api["settings"]["read_only"] and len(api["tmpfs"]) + sum(m["type"] == "tmpfs" for m in api["mounts"]) == 3


def test_anchors_merge_keys_and_volumes_from() -> None:
    w = validated("anchors-workers")["by_name"]
    assert w["worker-fast"]["replicas"] == 4 and ["CONCURRENCY", "8"] in w["worker-fast"]["environment"]
    assert w["scheduler"]["image"] == "ghcr.io/example/jobs:1.9.0"
    assert validated("nextcloud-cron")["by_name"]["cron"]["volumes_from"] == ["app"]


async def test_plans_show_the_deploy_order_and_the_socket_note(tmp_path: Path) -> None:
    """apply --dry-run's plan on simulated nodes (the lab is not needed to plan)."""
    plans = {}
    for name in ("migration", "gitea-postgres", "traefik", "postgres-adminer"):
        async with sim_controller(tmp_path / name) as (ctl, _sim):
            result = await ctl.apply(load_manifest(STACKS / name / "compose.yaml", environ={}), dry_run=True)
            assert result.ok, result
            plans[name] = result.plan
    assert "deploy order: db; then migrate (after db healthy); then api (after db healthy, migrate completed successfully)" in plans["migration"], plans["migration"]
    assert "deploy order: db; then gitea (after db healthy)" in plans["gitea-postgres"], plans["gitea-postgres"]
    assert ("note: traefik mounts the Docker socket (/var/run/docker.sock): its containers control the Docker engine "
            "of the node they run on") in plans["traefik"].splitlines(), plans["traefik"]
    assert "Docker socket" not in plans["postgres-adminer"]
    assert all(PLANTED not in plan for plan in plans.values())


@pytest.mark.parametrize("name", NAMES)
async def test_each_stack_plans_on_simulated_nodes(name: str, tmp_path: Path) -> None:
    """apply --dry-run reads more than validate (each relative file bind): every stack plans."""
    async with sim_controller(tmp_path / "state") as (ctl, _sim):
        result = await ctl.apply(load_manifest(STACKS / name / "compose.yaml", environ={}), dry_run=True)
    assert result.ok and not result.failed, result
    assert "to start" in result.plan and PLANTED not in result.plan
