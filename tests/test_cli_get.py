"""`get` and `apply` look at the nodes, not only at the saved state: containers removed
behind tui-orch's back show as gone and `apply` starts them again; the replicas of a node
that cannot be listed are unknown, never counted as running."""

from __future__ import annotations

import json
from pathlib import Path

from controller_support import cleanup, prefix
from nodes_support import direct_client
from test_controller_nodeloss import SERVICE  # 2 replicas of `sleep`, one per node
from test_controller_unowned import running_ids, tui


def get(lab, state: Path, what: str, inventory: Path | None = None) -> tuple[list[dict], str]:
    result = tui(lab, state, "get", what, "-o", "json", inventory=inventory)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_get_and_apply_see_containers_removed_behind_their_back(lab, tmp_path):
    pre, state, file = prefix(), tmp_path / "state", tmp_path / "web.yaml"
    file.write_text(SERVICE.format(name=pre))
    try:
        assert tui(lab, state, "apply", "-f", str(file)).returncode == 0
        reps, _ = get(lab, state, "replicas")
        assert sorted(r["state"] for r in reps) == ["running", "running"]
        victim = reps[0]
        lab_node = next(n for n in lab.nodes if n.name == victim["node"])
        client = direct_client(lab_node)
        try:
            client.api.remove_container(victim["container_id"], force=True)  # behind tui-orch's back
        finally:
            client.close()

        services, _ = get(lab, state, "services")
        assert [(s["name"], s["desired"], s["running"], s["healthy"]) for s in services] == [(pre, 2, 1, 1)]
        reps, _ = get(lab, state, "replicas")
        assert {r["key"]: r["state"] for r in reps}[victim["key"]] == "gone"

        applied = tui(lab, state, "apply", "-f", str(file))  # the same file: it starts what is missing
        assert applied.returncode == 0, applied.stderr
        assert f"running: {victim['key']}" in applied.stdout
        assert len(running_ids(lab, pre)) == 2
        services, _ = get(lab, state, "services")
        assert [(s["running"], s["healthy"]) for s in services] == [(2, 2)]

        # a node that cannot be reached (here: a wrong port): its replica is unknown
        text = Path(lab.inventory).read_text()
        n = int(victim["node"].removeprefix("node"))
        bad = tmp_path / "bad.yaml"
        bad.write_text(text.replace(f"address: 127.0.0.{n + 1}\n    port: 2222", f"address: 127.0.0.{n + 1}\n    port: 1"))
        reps, err = get(lab, state, "replicas", inventory=bad)
        assert {r["key"]: r["state"] for r in reps}[victim["key"]] == "unknown"
        assert f"node {victim['node']} could not be listed" in err
        services, _ = get(lab, state, "services", inventory=bad)
        assert [(s["running"], s["healthy"]) for s in services] == [(1, 1)]
    finally:
        cleanup(lab, pre)
