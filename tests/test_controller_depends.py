"""depends_on and a one-shot job on the lab: the database passes its health gate, the
migration (restart "no") runs to exit 0, and only then does the web service start."""

from __future__ import annotations

from controller_support import controller, manifest, prefix

STACK = """
services:
  {p}db:
    image: tuiorch/busybox:1
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; sleep 3600"]
    network_mode: none
    stop_grace_period: 1s
    healthcheck: {{test: "test -f /tmp/ready", interval: 1s, retries: 30}}
  {p}migrate:
    image: tuiorch/busybox:1
    command: ["sh", "-c", "sleep 1; exit {code}"]
    network_mode: none
    restart: "no"
    depends_on:
      {p}db: {{condition: service_healthy}}
  {p}web:
    image: tuiorch/busybox:1
    command: ["sleep", "3600"]
    network_mode: none
    stop_grace_period: 1s
    depends_on:
      {p}migrate: {{condition: service_completed_successfully}}
"""


async def test_web_starts_after_db_is_healthy_and_migrate_completed(lab, tmp_path):
    p = prefix()
    async with controller(lab, tmp_path / "state", p) as (ctl, store, _fleet):
        result = await ctl.apply(manifest(STACK.format(p=p, code=0)))
        assert result.ok, result
        assert result.completed == [f"{p}migrate.1"] and sorted(result.started) == [f"{p}db.1", f"{p}web.1"]
        db, mig, web = (store.replicas(f"{p}{s}")[0] for s in ("db", "migrate", "web"))
        assert db.health.value == "healthy"
        assert db.started_at < mig.started_at < web.started_at
        assert [row["state"] for row in ctl.query().get_replicas(None) if row["service"] == f"{p}migrate"] == ["completed"]


async def test_a_failed_migration_stops_web(lab, tmp_path):
    p = prefix()
    async with controller(lab, tmp_path / "state", p) as (ctl, store, _fleet):
        result = await ctl.apply(manifest(STACK.format(p=p, code=3)))
        assert not result.ok
        assert (f"{p}web: not started: its dependency {p}migrate failed ({p}migrate.1: exited with code 3)"
                in result.failed), result.failed
        assert store.replicas(f"{p}web") == []
