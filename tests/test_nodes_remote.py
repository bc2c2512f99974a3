"""RemoteNode and Fleet against the lab: real sshd, real engines, host-key checking on."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import time
import uuid

import pytest

from nodes_support import (  # noqa: F401  (fixtures)
    fingerprint_of,
    containers, descendants, direct_client, inside, next_event, node1, signal_all, specs, sshd_pids_of, started,
)
from tui_orch.errors import NodeUnavailable, OperationTimeout
from tui_orch.inventory import load_inventory
from tui_orch.model import NodeSpec, NodeState
from tui_orch.nodes.fleet import Fleet, NodeChange
from tui_orch.nodes.remote import RemoteNode, quote_command
from tui_orch.nodes.supervised import backoff_delays
from tui_orch.nodes.ssh import connect_options, route


async def test_fleet_connects_every_lab_node(lab):
    fleet = Fleet(load_inventory(lab.inventory))
    t0 = time.monotonic()
    try:
        await fleet.start()
        took = time.monotonic() - t0
        print(f"\nfleet of {len(fleet.nodes)} connected in {took:.2f} s")
        assert [n.name for n in fleet.ready()] == ["node1", "node2", "node3"]
        for node in fleet.nodes.values():
            assert node.status.hostname
            assert node.status.docker_version.startswith("20.")
            assert node.capacity is not None
            assert node.capacity.cpus == os.cpu_count()
            assert node.capacity.memory > 100 * 2**20
        infos = fleet.node_infos()
        assert [i.name for i in infos] == ["node1", "node2", "node3"]
        assert all(i.schedulable and i.capacity.cpus > 0 for i in infos)
        assert dict(infos[2].labels) == {"zone": "c", "disk": "hdd"}
        assert took < 10
    finally:
        await fleet.close()


def test_connect_options_keep_host_key_checking_on(lab):
    opts = connect_options(specs(lab)["node1"])
    trusted = opts["known_hosts"].match("127.0.0.2", "127.0.0.2", 2222)[0]
    assert {k.get_fingerprint("sha256") for k in trusted} == {fingerprint_of(lab.node(1).host_key_pub)}
    assert opts["client_keys"] == [str(lab.client_key)]
    assert (opts["host"], opts["port"], opts["username"]) == ("127.0.0.2", 2222, "root")
    assert (opts["connect_timeout"], opts["keepalive_interval"], opts["keepalive_count_max"]) == (5.0, 1.0, 3)
    jump = dataclasses.replace(specs(lab)["node1"], proxy_jump="bastion", known_hosts="/nonexistent/kh")
    hops = route(jump)
    assert [h.label for h in hops] == ["jump host bastion", "node1"]
    opts = connect_options(jump, hops[0])
    assert opts["tunnel"] is None and opts["host"] == "bastion"  # each hop is its own connection
    assert opts["known_hosts"] is not None  # a missing file trusts nothing; it never turns checks off
    assert opts["client_keys"] == [str(lab.client_key)]  # the inventory's key for the jump host too


async def test_metrics_flow_once_ready(node1):
    # The lab's root shell sources ~/.bashrc (pyenv init): a busy machine can delay the sampler.
    await asyncio.wait_for(_until(lambda: node1.metrics is not None), 90)
    assert node1.metrics.mem_total > 0
    assert len(node1.history.samples) >= 1


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.05)


async def test_wrong_key_is_auth_failed_and_not_retried(lab, tmp_path):
    wrong = tmp_path / "wrong_key"
    wrong.write_bytes(lab.nodes[0].host_key.read_bytes())  # a valid key that is not authorised
    wrong.chmod(0o600)
    spec = dataclasses.replace(specs(lab)["node1"], identity_file=str(wrong))
    node = RemoteNode(spec)
    seen: list[NodeState] = []
    node.on_state_change(lambda _n, _old, new: seen.append(new.state))
    async with started(node, NodeState.AUTH_FAILED, timeout=15):
        assert node.status.reason == (f"ssh root@127.0.0.2:2222 refused the key {wrong}; add the public key "
                                      f"to root's ~/.ssh/authorized_keys on the host")
        await asyncio.sleep(2)  # no retry: it waits for the operator
        assert seen == [NodeState.AUTH_FAILED]
        with pytest.raises(NodeUnavailable, match="AuthFailed"):
            await node.list_owned()


async def test_closed_port_is_unreachable_with_a_clear_reason(lab):
    spec = dataclasses.replace(specs(lab)["node1"], port=1)
    async with started(RemoteNode(spec), NodeState.UNREACHABLE, timeout=15) as node:
        assert node.status.reason == "ssh 127.0.0.2:1: connection refused; is sshd running on that port?"


async def test_unknown_name_is_unreachable(lab):
    spec = dataclasses.replace(specs(lab)["node1"], address="no-such-host.invalid")
    async with started(RemoteNode(spec), NodeState.UNREACHABLE, timeout=15) as node:
        assert "unknown host name" in node.status.reason


async def test_a_cut_node_goes_not_ready_fails_pending_work_and_comes_back(lab, containers):
    spec = specs(lab)["node3"]
    node = RemoteNode(spec)
    changes: list[NodeState] = []
    t00 = time.monotonic()
    node.on_state_change(lambda _n, _old, new: changes.append(new.state))
    node.on_state_change(lambda _n, _old, new: print(f"{time.monotonic() - t00:6.2f} {new.state.value} {new.reason}"))
    engine = direct_client(lab.node(3))
    async with started(node, timeout=30):
        victim = await node.run_container(containers.request(["sleep", "300"]))
        pending = asyncio.create_task(node.run(["sleep", "60"], timeout=120))
        await asyncio.sleep(0.3)
        try:
            t0 = time.monotonic()
            await asyncio.to_thread(lab.kill_sshd, "node3")
            await node.wait_state(NodeState.NOT_READY, timeout=5)
            detected = time.monotonic() - t0
            with pytest.raises(NodeUnavailable):
                await asyncio.wait_for(pending, 2)  # a caller never hangs on a lost node
            failed = time.monotonic() - t0
            with pytest.raises(NodeUnavailable):
                await node.list_owned()
            print(f"\nNotReady {detected:.2f} s after sshd was killed; pending op failed after {failed:.2f} s")
            assert detected < 5
            assert "ssh" in node.status.reason
            await asyncio.to_thread(engine.api.kill, victim.id)  # dies while the console is cut off
            # After 3 failed reconnects. (Another session sharing the lab may restart sshd
            # first: a lab that looks unhealthy is started by the next pytest session.)
            if await node.wait_state(NodeState.UNREACHABLE, NodeState.READY, timeout=20) == NodeState.UNREACHABLE:
                assert "connection refused" in node.status.reason
        finally:
            await asyncio.to_thread(lab.start_sshd, "node3")
        t1 = time.monotonic()
        await node.wait_state(NodeState.READY, timeout=120)
        print(f"Ready again {time.monotonic() - t1:.2f} s after sshd came back")
        missed = await next_event(node, victim.id, "die", timeout=10)  # replayed on reconnect
        assert missed.exit_code == 137
        fresh = await node.run_container(containers.request(["true"]))  # events flow again
        assert (await next_event(node, fresh.id, "die", timeout=10)).exit_code == 0
    states = [s for i, s in enumerate(changes) if i == 0 or changes[i - 1] != s]  # reasons change too
    assert states[:2] == [NodeState.READY, NodeState.NOT_READY]
    assert states[-1] == NodeState.READY


async def test_a_hung_host_is_not_ready_within_5_s_and_recovers(lab):
    node = RemoteNode(specs(lab)["node2"])
    async with started(node, timeout=30):
        await asyncio.wait_for(_until(lambda: node.metrics is not None), 90)
        pids = sshd_pids_of(node.connection)
        assert pids
        frozen = pids + descendants(pids)
        try:
            t0 = time.monotonic()
            signal_all(frozen, signal.SIGSTOP)  # the host stops answering; TCP stays open
            await node.wait_state(NodeState.NOT_READY, timeout=5)
            detected = time.monotonic() - t0
            reason = node.status.reason
            with pytest.raises(NodeUnavailable):  # keepalives give up: the connection is dropped
                await asyncio.wait_for(node.run(["true"], timeout=60), 8)
            lost = time.monotonic() - t0
        finally:
            signal_all(frozen, signal.SIGCONT)
        print(f"\nhung host: NotReady after {detected:.2f} s ({reason}); connection dropped after {lost:.2f} s")
        assert detected < 5
        await node.wait_state(NodeState.READY, timeout=60)


async def test_missing_heartbeats_make_a_node_not_ready_until_they_resume(lab):
    node = RemoteNode(specs(lab)["node1"])
    async with started(node, timeout=30):
        await asyncio.wait_for(_until(lambda: node.metrics is not None), 90)
        sampler = descendants(sshd_pids_of(node.connection))  # the session's shells: the sampler
        assert sampler
        try:
            t0 = time.monotonic()
            signal_all(sampler, signal.SIGSTOP)
            await node.wait_state(NodeState.NOT_READY, timeout=6)
            print(f"\nno samples: NotReady after {time.monotonic() - t0:.2f} s")
            assert node.status.reason == "no heartbeat for 3 s"
        finally:
            signal_all(sampler, signal.SIGCONT)
        await node.wait_state(NodeState.READY, timeout=10)
        assert node.connection is not None and (await node.run(["true"], timeout=90)).ok


async def test_fleet_start_never_waits_on_a_silent_host_past_its_connect_timeout(lab):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts TCP, never says a word of SSH
    port = silent.getsockname()[1]
    try:
        inventory = load_inventory(lab.inventory)
        hanging = NodeSpec(name="hanging", address="127.0.0.1", port=port, known_hosts=str(lab.known_hosts))
        fleet = Fleet(dataclasses.replace(inventory, nodes=(inventory.nodes[0], hanging)))
        t0 = time.monotonic()
        try:
            await fleet.start()
            took = time.monotonic() - t0
            assert took < 8, took
            assert fleet["node1"].status.state == NodeState.READY
            assert fleet["hanging"].status.state == NodeState.UNREACHABLE
            assert fleet["hanging"].status.reason == (f"ssh 127.0.0.1:{port}: no answer within 5 s; "
                                                      f"is the host up and the address right?")
        finally:
            await fleet.close()
    finally:
        silent.close()


async def test_run_quotes_every_word(node1, tmp_path):
    marker = f"/tmp/pwned-{uuid.uuid4().hex[:8]}"
    hostile = [f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker}", f"a' ; touch {marker}; '",
               f'"; touch {marker}; "', f"x\ntouch {marker}", "; rm -rf /nonexistent-tui-orch", "*", "$HOME"]
    result = await node1.run(["printf", "%s|"] + hostile, timeout=90)
    assert result.ok, result.stderr
    assert result.stdout == "|".join(hostile) + "|"
    assert not os.path.exists(marker)
    assert quote_command(["echo", "a b"]) == "echo 'a b'"
    with pytest.raises(TypeError):
        await node1.run("echo hello")  # type: ignore[arg-type]


async def test_remote_ops_have_timeouts(node1):
    t0 = time.monotonic()
    with pytest.raises(OperationTimeout, match="within 0.5 s"):
        await node1.run(["sleep", "10"], timeout=0.5)
    assert time.monotonic() - t0 < 2
    assert (await node1.run(["true"], timeout=90)).ok  # the connection is still fine


async def test_hostile_docker_socket_path_is_no_docker_and_runs_nothing(lab):
    marker = f"/tmp/pwned-{uuid.uuid4().hex[:8]}"
    path = f"/tmp/none $(touch {marker}); touch {marker}; '\"\nx"
    spec = dataclasses.replace(specs(lab)["node1"], docker_socket=path)
    async with started(RemoteNode(spec), NodeState.NO_DOCKER, timeout=20) as node:
        assert node.status.reason.startswith(f"no Docker Engine at {path} on root@127.0.0.2:2222: install")
    assert not os.path.exists(marker)


async def test_fleet_subscription_sees_state_changes_and_events(lab, containers):
    inventory = load_inventory(lab.inventory)
    fleet = Fleet(dataclasses.replace(inventory, nodes=inventory.nodes[:2]))
    queue = fleet.subscribe()
    try:
        await fleet.start()
        await asyncio.wait_for(_until(lambda: len(fleet.ready()) == 2), 20)
        changes = [queue.get_nowait() for _ in range(queue.qsize())]
        assert {c.node for c in changes if isinstance(c, NodeChange) and c.new.state == NodeState.READY} == \
            {"node1", "node2"}
        info = await fleet["node2"].run_container(containers.request(["true"]))
        async with asyncio.timeout(10):
            while True:
                item = await queue.get()
                if getattr(item, "action", None) == "die" and item.container_id == info.id:
                    break
        assert item.node == "node2" and item.exit_code == 0
    finally:
        await fleet.close()


def test_backoff_doubles_from_half_a_second_to_30_s_with_jitter():
    for _ in range(20):
        delays = backoff_delays()
        for want in (0.5, 1, 2, 4, 8, 16, 30, 30):
            got = next(delays)
            assert want * 0.8 <= got <= want * 1.2


async def test_ports_in_use_reads_a_port_another_process_listens_on(lab, node1):  # noqa: F811
    """A socket another process listens on in node1's network namespace: node1 says so (read
    over its SSH connection); one listening on this machine's own namespace is not node1's."""

    def listening() -> socket.socket:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        return s

    s = inside(lab, "node1").call(listening)
    here = listening()
    try:
        assert here.getsockname()[1] not in await node1.ports_in_use()
        port = s.getsockname()[1]
        assert port in await node1.ports_in_use()
        assert port in node1.ports_seen
    finally:
        s.close()
        here.close()
    assert port not in await node1.ports_in_use()
