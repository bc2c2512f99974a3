"""Replicas on a node cut off (its sshd killed: the engine and the containers keep running,
healthy): their replacements elsewhere cannot pass the health gate, then the node comes back.
The healthy originals are kept and the replacements retired (never both, never neither),
by the controller that saw the cut and by a NEW controller (another process's view: new
Store, Fleet and Controller over the same state folder) started while the node was away.

The health gate is held by the test: a replica turns healthy once it has reached the test's
gate server one time (then for good). The gate is closed before the cut, so the originals
stay healthy and the replacements started during the cut never become healthy."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading

import pytest

from controller_support import cleanup, manifest, owned, prefix
from nodes_support import http_get, inside, wait_for
from tui_orch.controller import Controller
from tui_orch.inventory import load_inventory
from tui_orch.model import NodeState, ReplicaState
from tui_orch.nodes.fleet import Fleet
from tui_orch.store import open_store

SERVICE = """
services:
  {name}:
    image: tuiorch/busybox:1
    # healthy for good once the gate on the lab's client (10.77.0.254:{gate}) answered; httpd on
    # the node's address on the lab network
    command: ["sh", "-c", "n=$${{TUI_ORCH_NODE#node}}; (until wget -q -O /dev/null http://10.77.0.254:{gate}/;
              do sleep 0.2; done; touch /tmp/ready) & exec httpd -f -p 10.77.0.$$((n+1)):$$PORT -h /www"]
    network_mode: host
    ports:
      - target: 8080
    healthcheck:
      test: ["CMD-SHELL", "test -e /tmp/ready"]
      interval: 300ms
      timeout: 1s
      retries: 1
    stop_grace_period: 1s
    deploy:
      replicas: 2
      placement:
        max_replicas_per_node: 1
"""


class Gate:
    """An HTTP server on the lab's client address (an ephemeral port) that answers 200 while
    open and refuses connections once closed."""

    def __init__(self, lab) -> None:
        self.server = inside(lab).call(http.server.ThreadingHTTPServer, (lab.client_address, 0),
                                       http.server.SimpleHTTPRequestHandler)
        self.server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)


def answers(lab, rep) -> bool:
    """A client on the lab network gets 200 from the replica."""
    return http_get(lab, f"http://{lab.node(rep.node).lab_address}:{rep.ports[0]}/VERSION", timeout=1)[0] == 200


async def open_controller(lab, state, ready: list[str]):
    store = open_store(state)
    fleet = Fleet(load_inventory(lab.inventory))
    await fleet.start()
    for name in ready:
        await fleet[name].wait_state(NodeState.READY, timeout=30)
    return store, fleet, Controller(store, fleet, grace=2.0, period=1.0)


async def close_controller(store, fleet, ctl) -> None:
    with contextlib.suppress(Exception):
        await ctl.close()
    with contextlib.suppress(Exception):
        await fleet.close()
    store.close()


@pytest.mark.parametrize("new_controller", [False, True], ids=["same-controller", "new-controller"])
async def test_healthy_copies_back_from_a_cut_are_kept_and_unhealthy_replacements_retired(
        lab, tmp_path, new_controller):
    pre = prefix()
    gate = Gate(lab)
    state = tmp_path / "state"
    names = [n.name for n in lab.nodes]
    store, fleet, ctl = await open_controller(lab, state, names)
    try:
        result = await ctl.apply(manifest(SERVICE.format(name=pre, gate=gate.port)))
        assert result.ok, result
        await ctl.start()
        gate.close()  # from now on no new replica becomes healthy
        victim, other = store.get_replica(f"{pre}.1"), store.get_replica(f"{pre}.2")
        cut = victim.node
        lab.kill_sshd(cut)
        try:
            def replaced() -> bool:
                rep = store.get_replica(victim.key)
                return rep is not None and rep.node != cut and rep.container_id is not None

            await wait_for(replaced, timeout=30, interval=0.1)
            replacement = store.get_replica(victim.key)
            assert replacement.state == ReplicaState.STARTING, replacement  # the gate is closed
            if new_controller:  # the controller that saw the cut goes; a new one starts meanwhile
                await close_controller(store, fleet, ctl)
                store, fleet, ctl = await open_controller(lab, state, [n for n in names if n != cut])
                await ctl.start()
                await asyncio.sleep(2)  # a pass or two while the node is still away
        finally:
            lab.start_sshd(cut)
        await fleet[cut].reconnect()
        await fleet[cut].wait_state(NodeState.READY, timeout=60)

        def settled() -> bool:
            rep = store.get_replica(victim.key)
            ids = {c["Id"] for cs in owned(lab, pre).values() for c in cs}
            return rep is not None and rep.container_id == victim.container_id and replacement.container_id not in ids

        await wait_for(settled, timeout=30, interval=0.2)
        await asyncio.sleep(2)  # and it stays so over a few passes
        reps = store.replicas(pre)
        assert sorted((r.key, r.container_id, r.node) for r in reps) == sorted(
            (r.key, r.container_id, r.node) for r in (victim, other)), reps
        assert all(r.state == ReplicaState.RUNNING for r in reps), reps
        found = [c for cs in owned(lab, pre).values() for c in cs]
        assert sorted(c["Id"] for c in found if c["State"] == "running") == sorted(
            r.container_id for r in reps), found
        assert len({r.node for r in reps}) == 2 and all(answers(lab, r) for r in reps), reps
        assert any(e.kind == "reschedule" and "kept" in e.message for e in store.events(service=pre))
    finally:
        gate.close()
        await close_controller(store, fleet, ctl)
        cleanup(lab, pre)
