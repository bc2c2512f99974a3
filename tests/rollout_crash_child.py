"""Child of tests/test_controller_crash.py: a controller that runs one command until it is killed.

    python tests/rollout_crash_child.py STATE INVENTORY MANIFEST (apply|restart) SERVICE

Prints ``acting`` once its nodes are Ready and it begins the command, ``done`` when the
command returned (the parent usually kills it before).
"""

from __future__ import annotations

import asyncio
import sys

from tui_orch.controller import Controller
from tui_orch.inventory import load_inventory
from tui_orch.manifest import load_manifest
from tui_orch.model import NodeState
from tui_orch.nodes.fleet import Fleet
from tui_orch.store import open_store


async def main(state: str, inventory: str, manifest: str, action: str, service: str) -> None:
    store = open_store(state)
    fleet = Fleet(load_inventory(inventory))
    await fleet.start()
    for node in fleet.nodes.values():
        await node.wait_state(NodeState.READY, timeout=30)
    ctl = Controller(store, fleet)
    await ctl.start()
    print("acting", flush=True)
    if action == "apply":
        await ctl.apply(load_manifest(manifest))
    else:
        await ctl.rollout_restart(service)
    print("done", flush=True)
    await ctl.close()
    await fleet.close()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
