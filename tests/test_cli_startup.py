"""What the console's first frame waits for (benchmarks/console.py: target <= 1 s). Every
module imported before it: what only a real host (asyncssh, docker-py) or a first placement
(numpy) needs must stay out of that path (each check runs in a fresh interpreter, so modules
a test imported earlier do not count). And the cyclic collector, paused until then."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("asyncssh", "docker", "requests", "urllib3", "numpy")


def loaded_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported once ``code`` has run."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, sys
        print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
    """)
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_console_modules_import_no_host_library_nor_numpy() -> None:
    assert loaded_after("""
        import tui_orch.cli, tui_orch.cli_console, tui_orch.controller, tui_orch.ui.app
        import tui_orch.nodes.fleet, tui_orch.nodes.sim.node, tui_orch.ui.demo
        from tui_orch.cli import build_parser
        build_parser()
    """) == []


def test_building_the_demo_console_imports_none_of_them() -> None:
    """What cmd_demo and run_console build before the first frame: fleet, controller, app."""
    assert loaded_after("""
        import asyncio, tempfile
        from pathlib import Path
        from tui_orch.controller import Controller
        from tui_orch.nodes.fleet import Fleet
        from tui_orch.nodes.sim.node import SimulatedNode
        from tui_orch.nodes.sim.simulator import Simulator
        from tui_orch.store import open_store
        from tui_orch.ui import demo
        from tui_orch.ui.app import OrchApp
        from tui_orch.ui.settings import UiSettings

        async def main():
            sim = Simulator(1)
            fleet = Fleet(demo.demo_inventory(5), lambda spec: SimulatedNode(spec, sim))
            store = open_store(Path(tempfile.mkdtemp()))
            OrchApp(Controller(store, fleet), UiSettings())
            demo.demo_manifests(demo.examples_dir())
            store.close()

        asyncio.run(main())
    """) == []


def test_building_real_nodes_imports_neither_asyncssh_nor_docker() -> None:
    """The console builds its remote and local nodes before the first frame; they import
    asyncssh and docker-py when they first connect, once the frame is up."""
    assert loaded_after("""
        import asyncio
        from tui_orch.model import NodeSpec
        from tui_orch.nodes.fleet import make_node

        async def main():
            make_node(NodeSpec("r", address="127.0.0.2", port=2222))
            make_node(NodeSpec("l", local=True))

        asyncio.run(main())
    """) == []


def test_a_remote_node_connects_only_with_the_ssh_flow_fix_in_place() -> None:
    """The fix of nodes/sshflow.py must be active before the first SSH connection."""
    code = """
        import asyncio
        from tui_orch.model import NodeSpec, NodeState
        from tui_orch.nodes.fleet import make_node

        async def main():
            node = make_node(NodeSpec("r", address="127.0.0.1", port=1), connect_timeout=2)
            await node.start()  # its first attempt: connection refused
            state = node.status.state
            await node.close()
            assert state == NodeState.UNREACHABLE, node.status

        asyncio.run(main())
        from asyncssh.channel import SSHChannel
        from tui_orch.nodes import sshflow
        assert sshflow._applied or not sshflow.needed()
        assert sshflow._applied == hasattr(SSHChannel._deliver_data, "__wrapped__")
    """
    assert loaded_after(code)[0] == "asyncssh"


def test_placement_loads_numpy_on_first_use_only() -> None:
    assert loaded_after("from tui_orch.placement import Plan, PlacementOptions, Start") == []
    assert loaded_after("from tui_orch import placement; placement.plan") == ["numpy"]


def test_the_lazy_placement_names_are_the_real_ones() -> None:
    from tui_orch import placement

    names = {name: getattr(placement, name) for name in ("plan", "place", "Placer", "rebalance", "NodePool", "Request")}
    modules = {name: sys.modules[f"tui_orch.placement.{name}"] for name in ("engine", "pool", "planner", "rebalance")}
    assert names["plan"] is modules["planner"].plan and names["place"] is modules["planner"].place
    assert names["Placer"] is modules["engine"].Placer
    assert names["rebalance"] is modules["rebalance"].rebalance and placement.rebalance is names["rebalance"]
    assert names["NodePool"] is modules["pool"].NodePool and names["Request"] is modules["pool"].Request
    assert set(placement.__all__) <= set(dir(placement))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        placement.nope  # noqa: B018


def test_the_collector_is_paused_only_until_the_first_frame() -> None:
    import gc

    from tui_orch.cli_console import collector_paused, resume_collector
    from tui_orch.errors import TuiOrchError

    seen: list[bool] = []

    @collector_paused
    def console(args: object) -> int:
        seen.append(gc.isenabled())
        resume_collector()  # what the app's start does once the first frame is up
        seen.append(gc.isenabled())
        return 0

    @collector_paused
    def fails_before_its_first_frame(args: object) -> int:
        seen.append(gc.isenabled())
        raise TuiOrchError("--nodes wants at least 1 node, not 0")

    try:
        assert console(None) == 0
        with pytest.raises(TuiOrchError):
            fails_before_its_first_frame(None)
        assert seen == [False, True, False]
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
