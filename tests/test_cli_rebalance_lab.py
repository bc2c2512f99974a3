"""`tui-orch rebalance` on the lab, through cli.main as a user types it: three services spread
over the three nodes (each deployed while the others were cordoned); the plan says it frees
two nodes and changes nothing; --apply moves the replicas start-first, and a watcher that
lists the engines all along never sees a service without a running container."""

from __future__ import annotations

import threading
import time

from controller_support import cleanup, prefix
from nodes_support import direct_client
from tui_orch.cli import main
from tui_orch.nodes.base import LABEL_SERVICE

SERVICE = """
services:
  {name}:
    image: tuiorch/busybox:1
    command: ["sleep", "100000"]
    healthcheck: {{test: ["CMD", "true"], interval: 1s, timeout: 2s, retries: 2}}
    deploy:
      replicas: 1
      resources: {{reservations: {{cpus: "0.1", memory: 16M}}}}
      update_config: {{parallelism: 1, monitor: 1s, order: stop-first}}
"""


def where(lab, pre: str) -> dict[str, list[str]]:
    """Service -> the nodes where a container of it runs now (from the engines)."""
    out: dict[str, list[str]] = {}
    for lab_node in lab.nodes:
        client = direct_client(lab_node)
        try:
            for c in client.api.containers(filters={"label": LABEL_SERVICE}):
                service = (c.get("Labels") or {}).get(LABEL_SERVICE, "")
                if service.startswith(pre):
                    out.setdefault(service, []).append(lab_node.name)
        finally:
            client.close()
    return out


def test_rebalance_frees_two_nodes_without_a_gap(lab, tmp_path, capsys):
    pre = prefix()
    common = ["--state", str(tmp_path / "state"), "--inventory", str(lab.inventory)]
    names = [f"{pre}{k}" for k in "abc"]
    nodes = [n.name for n in lab.nodes]
    try:
        for name, node in zip(names, nodes):
            for other in nodes:
                assert main(["node", "uncordon" if other == node else "cordon", other, *common]) == 0
            path = tmp_path / f"{name}.yaml"
            path.write_text(SERVICE.format(name=name))
            assert main(["apply", "-f", str(path), *common]) == 0, capsys.readouterr()
        for node in nodes:
            assert main(["node", "uncordon", node, *common]) == 0
        before = where(lab, pre)
        assert before == {name: [node] for name, node in zip(names, nodes)}
        capsys.readouterr()

        assert main(["rebalance", *common]) == 0
        out = capsys.readouterr().out
        assert "rebalance frees 2 node(s) (3 -> 1 in use)" in out and "dry run: nothing moved" in out, out
        assert where(lab, pre) == before

        gaps: list[str] = []
        stop = threading.Event()

        def watch() -> None:  # every service keeps a running container all along (start-first)
            while not stop.is_set():
                now = where(lab, pre)
                gaps.extend(name for name in names if not now.get(name))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            code = main(["rebalance", "--apply", *common])
        finally:
            stop.set()
            watcher.join(10)
        out = capsys.readouterr().out
        assert code == 0, out
        assert out.count("rebalance from revision 1 to 1: completed") == 2, out
        assert "moved to" in out and "1 replica(s) moved" in out, out
        assert not gaps, f"services without a running container during the move: {sorted(set(gaps))}"
        after = where(lab, pre)
        assert len({node for found in after.values() for node in found}) == 1, after
        assert all(len(found) == 1 for found in after.values()) and set(after) == set(names), after

        assert main(["rebalance", *common]) == 0
        assert "nothing to move" in capsys.readouterr().out
    finally:
        for node in nodes:
            main(["node", "uncordon", node, *common])
        cleanup(lab, pre)
