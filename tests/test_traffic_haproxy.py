"""The edge proxy for real: HAProxy 2.6 (master-worker) on 127.0.0.1, tiny HTTP replicas, and
rotation changed through the Runtime API (tui_orch.nodes.proxyapi) as the controller will."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import asyncssh
import pytest

from proxy_support import Load, Proxy, Replica, free_port, get, start_replica
from tui_orch.nodes.proxyapi import ProxyCommandFailed, ProxyUnreachable, runtime
from tui_orch.traffic import runtime as api
from tui_orch.traffic.model import Backend, Listener, ProxyConfig, Server
from tui_orch.traffic.sync import changes


@pytest.fixture
def proxy(tmp_path: Path, haproxy_argv):
    argv, env = haproxy_argv
    running = Proxy(tmp_path, argv, env)
    yield running
    running.stop()


@pytest.fixture
def replicas():
    started: list[Replica] = []

    def start(*names: str) -> list[Replica]:
        new = [start_replica(name) for name in names]
        started.extend(new)
        return new

    yield start
    for replica in started:
        if replica.process.poll() is None:
            replica.kill()


def config(proxy: Proxy, servers: list[Server], listeners: dict[str, int]) -> ProxyConfig:
    return ProxyConfig(
        listeners=tuple(Listener(name, port, "web", bind="127.0.0.1") for name, port in listeners.items()),
        backends=(Backend("web", tuple(servers)),),
        admin_socket=proxy.socket,
    )


def server(replica: Replica, state: str = "ready") -> Server:
    return Server(replica.name, "127.0.0.1", replica.port, state)


async def apply(proxy: Proxy, desired: ProxyConfig) -> list[str]:
    """One pass of the controller's sync: ask, compute, send; the commands sent."""
    layout, state = await proxy.ask([api.show_layout(), api.show_servers_state()])
    commands, reload = changes(desired, state, layout)
    assert not reload
    await proxy.ask(commands)
    return commands


async def sessions(proxy: Proxy, name: str) -> int:
    return api.parse_sessions((await proxy.ask([api.show_stat()]))[0])[("web", name)]


async def test_servers_added_at_run_time_share_the_requests_round_robin(proxy, replicas):
    r1, r2 = replicas("r1", "r2")
    port = free_port()
    proxy.start(config(proxy, [], {"web": port}))
    sent = await apply(proxy, config(proxy, [server(r1), server(r2)], {"web": port}))
    assert sent == [f"add server web/r1 127.0.0.1:{r1.port}", f"add server web/r2 127.0.0.1:{r2.port}",
                    "set server web/r1 state ready", "set server web/r2 state ready"]
    assert Counter(get(port) for _ in range(10)) == {"r1": 5, "r2": 5}


async def test_a_drained_server_finishes_its_slow_request_and_gets_no_new_one(proxy, replicas):
    r1, r2 = replicas("r1", "r2")
    port = free_port()
    proxy.start(config(proxy, [server(r1), server(r2, "maint")], {"web": port}))
    slow: list[str] = []
    in_flight = threading.Thread(target=lambda: slow.append(get(port, "/slow/1.5")))
    in_flight.start()
    deadline = time.monotonic() + 1.0
    while await sessions(proxy, "r1") != 1:  # the slow request reached r1
        assert time.monotonic() < deadline, "the slow request did not reach r1"
        await asyncio.sleep(0.01)
    await apply(proxy, config(proxy, [server(r1, "drain"), server(r2)], {"web": port}))
    assert [get(port) for _ in range(6)] == ["r2"] * 6
    assert await sessions(proxy, "r1") == 1  # still serving the slow request
    in_flight.join(5)
    assert slow == ["r1"]
    assert await sessions(proxy, "r1") == 0  # what tells the controller the drain is over


async def test_maint_takes_a_server_out_at_once_and_del_server_removes_it(proxy, replicas):
    r1, r2 = replicas("r1", "r2")
    port = free_port()
    proxy.start(config(proxy, [server(r1), server(r2)], {"web": port}))
    with pytest.raises(ProxyCommandFailed, match=r"refused `del server web/r1`: Only servers in maintenance"):
        await proxy.ask([api.del_server("web", "r1")])
    await proxy.ask([api.set_state("web", "r1", "maint")])
    assert [get(port) for _ in range(6)] == ["r2"] * 6
    assert await proxy.ask([api.del_server("web", "r1")]) == ["Server deleted."]
    state = api.parse_servers_state((await proxy.ask([api.show_servers_state()]))[0])
    assert list(state["web"]) == ["r2"]
    assert [get(port) for _ in range(4)] == ["r2"] * 4


async def test_a_reload_with_a_new_listener_loses_no_request_of_a_client_at_50_per_second(proxy, replicas):
    r1, r2 = replicas("r1", "r2")
    old, new = free_port(), free_port()
    proxy.start(config(proxy, [server(r1), server(r2)], {"web": old}))
    load = Load(old, rate=50)
    load.start()
    await asyncio.sleep(0.5)
    # the new listener, then four more reloads: each one hands the listening sockets over
    await asyncio.to_thread(proxy.reload, config(proxy, [server(r1), server(r2)], {"web": old, "api": new}))
    for i in range(4):
        await asyncio.sleep(0.3)
        await asyncio.to_thread(proxy.reload, config(proxy, [server(r1), server(r2)], {"web": old, "api": new}))
    await asyncio.sleep(0.5)
    load.stop()
    assert (load.failed, load.errors) == (0, [])
    assert load.sent >= 80 and set(load.served) == {"r1", "r2"}
    assert {get(new), get(new)} == {"r1", "r2"}


async def test_a_killed_replica_costs_no_request_retries_go_to_another_server(proxy, replicas):
    r1, r2, r3 = replicas("r1", "r2", "r3")
    port = free_port()
    proxy.start(config(proxy, [server(r1), server(r2), server(r3)], {"web": port}))
    load = Load(port, rate=50)
    load.start()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(load.between, r2.kill)  # still in rotation: the proxy is not told
    served_before = load.served.get("r2", 0)
    await asyncio.sleep(1.5)
    load.stop()
    assert (load.failed, load.errors) == (0, [])
    assert load.served["r2"] == served_before  # every connection refused by r2 went elsewhere
    assert load.served["r1"] > 20 and load.served["r3"] > 20
    # redispatched at once, not after HAProxy's 1 s turn-around before a retry on the same server
    assert load.slowest < 0.5, f"slowest request {load.slowest:.3f} s"


async def test_rotation_changes_take_effect_well_under_a_second(proxy, replicas):
    r1, r2 = replicas("r1", "r2")
    port = free_port()
    proxy.start(config(proxy, [server(r1)], {"web": port}))
    await proxy.ask([api.add_server("web", server(r2))])
    start = time.monotonic()
    await proxy.ask([api.enable_server("web", "r2")])
    while get(port) != "r2":
        pass
    to_first = time.monotonic() - start
    figures = {"enable server -> first request served": to_first}
    for state in ("maint", "drain"):
        await proxy.ask([api.set_state("web", "r2", "ready")])
        start = time.monotonic()
        await proxy.ask([api.set_state("web", "r2", state)])
        figures[f"set state {state} -> no new request"] = time.monotonic() - start
        assert [get(port) for _ in range(6)] == ["r1"] * 6
    for what, seconds in figures.items():
        print(f"{what}: {seconds * 1000:.1f} ms")
    assert all(seconds < 0.5 for seconds in figures.values()), figures


async def test_sync_takes_a_running_proxy_to_the_desired_servers_and_keeps_them_across_a_reload(proxy, replicas):
    r1, r2, r3 = replicas("r1", "r2", "r3")
    port, other = free_port(), free_port()
    first = config(proxy, [server(r1), server(r2, "drain")], {"web": port})
    proxy.start(first)
    # a file cannot say drain: the rendered `disabled` becomes drain on the first pass
    assert await apply(proxy, first) == ["set server web/r2 state drain"]
    assert await apply(proxy, first) == []
    second = config(proxy, [server(r2), server(r3)], {"web": port})
    assert await apply(proxy, second) == [
        f"add server web/r3 127.0.0.1:{r3.port}", "set server web/r2 state ready", "set server web/r3 state ready",
        "set server web/r1 state maint", "shutdown sessions server web/r1"]
    assert await apply(proxy, second) == ["del server web/r1"]
    assert await apply(proxy, second) == []
    assert Counter(get(port) for _ in range(4)) == {"r2": 2, "r3": 2}
    third = config(proxy, [server(r2), server(r3, "maint")], {"web": port, "api": other})
    layout, state = await proxy.ask([api.show_layout(), api.show_servers_state()])
    assert changes(third, state, layout) == ([], True)
    proxy.reload(third)
    assert await apply(proxy, third) == []
    assert [get(other) for _ in range(3)] == ["r2"] * 3


async def test_the_runtime_api_names_the_refused_command_and_an_absent_socket(proxy, tmp_path):
    proxy.start(config(proxy, [], {"web": free_port()}))
    with pytest.raises(ProxyCommandFailed) as failed:
        await proxy.ask([api.show_servers_state(), api.set_state("web", "nope", "ready")])
    assert str(failed.value) == "edge proxy: the edge proxy refused `set server web/nope state ready`: No such server."
    absent = str(tmp_path / "absent.sock")
    with pytest.raises(ProxyUnreachable, match="admin socket cannot be used"):
        await runtime(lambda: asyncio.open_unix_connection(absent), [api.show_stat()], 2.0, where="node1")


class _ForwardingServer(asyncssh.SSHServer):
    """An SSH server that lets anyone in and forwards stream-local channels, as a node's sshd."""

    def begin_auth(self, username: str) -> bool:
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        return True


async def test_the_runtime_api_through_an_ssh_channel_as_on_a_node(proxy, replicas):
    (r1,) = replicas("r1")
    port, ssh_port = free_port(), free_port()
    proxy.start(config(proxy, [], {"web": port}))
    sshd = await asyncssh.create_server(_ForwardingServer, "127.0.0.1", ssh_port,
                                          server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")])
    try:
        async with asyncssh.connect("127.0.0.1", ssh_port, known_hosts=None, username="test") as conn:
            open_stream = lambda: conn.open_unix_connection(proxy.socket)  # noqa: E731
            answers = await runtime(open_stream, [api.add_server("web", server(r1)), api.enable_server("web", "r1"),
                                                  api.show_servers_state()], 5.0, where="node1")
            assert answers[:2] == ["New server registered.", ""]
            assert api.parse_servers_state(answers[2])["web"]["r1"].state == "ready"
            assert get(port) == "r1"
            with pytest.raises(ProxyUnreachable, match=r"^node1: the edge proxy's admin socket cannot be used"):
                await runtime(lambda: conn.open_unix_connection("/nonexistent/admin.sock"), [api.show_stat()], 5.0,
                              where="node1")
    finally:
        sshd.close()


async def test_many_commands_with_long_answers_on_one_connection_do_not_block_each_other(proxy, replicas):
    """More commands than a socket buffer holds, each answer longer than its command: the
    answers are read while the commands are still being written."""
    (r1,) = replicas("r1")
    proxy.start(config(proxy, [server(r1)], {"web": free_port()}))
    commands = [api.show_servers_state()] * 30000
    answers = await proxy.ask(commands)
    assert len(answers) == 30000
    assert all(api.parse_servers_state(a)["web"]["r1"].port == r1.port for a in answers)
