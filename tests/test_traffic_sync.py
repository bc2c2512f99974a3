"""traffic.sync against a model of HAProxy's Runtime API (what 2.6 accepts and refuses, as
seen in tests/test_traffic_haproxy.py): the commands converge, never empty a backend of its
ready servers on the way, and ask for a reload exactly when the layout changes."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from tui_orch.traffic.haproxy import LAYOUT_VARIABLE, layout_digest
from tui_orch.traffic.model import Backend, Listener, ProxyConfig, Server
from tui_orch.traffic.sync import changes

HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
          "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
          "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
          "srv_check_addr srv_agent_addr srv_agent_port\n")
ADMIN = {"ready": 0, "drain": 8, "maint": 1}
Running = dict[str, dict[str, list]]  # backend -> server -> [address, port, state]


def state_text(running: Running) -> str:
    """`show servers state` as HAProxy 2.6 writes it for running."""
    lines = [HEADER]
    for b, (backend, servers) in enumerate(running.items(), start=3):
        for i, (name, (address, port, state)) in enumerate(servers.items(), start=1):
            op = 0 if state == "maint" else 2
            lines.append(f"{b} {backend} {i} {name} {address} {op} {ADMIN[state]} 1 1 7 1 0 0 0 0 0 0 - {port} - 0 0 - - 0\n")
    return "".join(lines)


def execute(running: Running, command: str) -> None:
    """What HAProxy does with command; AssertionError where HAProxy would refuse it."""
    words = command.split()
    backend, _, name = (words[3] if words[0] == "shutdown" else words[2]).partition("/")
    servers = running[backend]
    if words[:2] == ["add", "server"]:
        assert name not in servers, command
        address, _, port = words[3].rpartition(":")
        servers[name] = [address.strip("[]"), int(port), "maint"]  # a new server starts in maint
    elif words[:2] == ["del", "server"]:
        assert servers[name][2] == "maint", f"{command}: only servers in maintenance can be deleted"
        del servers[name]
    elif words[:2] == ["set", "server"] and words[3] == "addr":
        servers[name][:2] = [words[4], int(words[6])]
    elif words[:2] == ["set", "server"]:
        servers[name][2] = words[4]
    else:
        assert words[:3] == ["shutdown", "sessions", "server"] and name in servers, command


def ready(running: Running, backend: str) -> int:
    return sum(1 for s in running[backend].values() if s[2] == "ready")


names = st.sampled_from(["a", "b", "c", "d", "e"])
states = st.sampled_from(["ready", "drain", "maint"])
servers = st.dictionaries(names, st.tuples(st.sampled_from([8001, 8002]), states), max_size=5)


def desired_config(wanted: dict) -> ProxyConfig:
    return ProxyConfig(
        listeners=(Listener("web", 80, "web"),),
        backends=(Backend("web", tuple(Server(n, "10.0.0.1", p, s) for n, (p, s) in sorted(wanted.items()))),),
        admin_socket="/run/haproxy/admin.sock",
    )


@settings(max_examples=300, deadline=None)
@given(now=servers, wanted=servers)
def test_changes_converge_and_never_leave_a_backend_without_the_ready_servers_it_keeps(now, wanted):
    desired = desired_config(wanted)
    layout = f"{LAYOUT_VARIABLE}={layout_digest(desired)}"
    running: Running = {"web": {n: ["10.0.0.1", p, s] for n, (p, s) in now.items()}}
    for _ in range(2):  # a server leaving in drain or ready is deleted on the second pass
        commands, reload = changes(desired, state_text(running), layout)
        assert not reload
        start = ready(running, "web")
        for command in commands:
            execute(running, command)
            # ready servers first, drain and removal after: never below what the pass keeps
            assert ready(running, "web") >= min(start, sum(1 for _, s in wanted.values() if s == "ready"))
    assert running["web"] == {n: ["10.0.0.1", p, s] for n, (p, s) in wanted.items()}
    assert changes(desired, state_text(running), layout) == ([], False)


def test_a_replica_replaced_in_one_pass_is_added_and_ready_before_the_old_one_drains():
    desired = desired_config({"new": (8002, "ready"), "old": (8001, "drain")})
    running: Running = {"web": {"old": ["10.0.0.1", 8001, "ready"]}}
    commands, _ = changes(desired, state_text(running), f"{LAYOUT_VARIABLE}={layout_digest(desired)}")
    assert commands == ["add server web/new 10.0.0.1:8002", "set server web/new state ready",
                        "set server web/old state drain"]


def test_a_moved_server_changes_address_in_place():
    desired = desired_config({"a": (8002, "ready")})
    running: Running = {"web": {"a": ["10.0.0.1", 8001, "ready"]}}
    commands, _ = changes(desired, state_text(running), f"{LAYOUT_VARIABLE}={layout_digest(desired)}")
    assert commands == ["set server web/a addr 10.0.0.1 port 8002"]


def test_a_reload_is_needed_for_listeners_and_backends_never_for_servers():
    base = desired_config({"a": (8001, "ready")})
    running = state_text({"web": {"a": ["10.0.0.1", 8001, "ready"]}})
    layout = f"{LAYOUT_VARIABLE}={layout_digest(base)}"
    assert changes(desired_config({"b": (8002, "drain")}), running, layout)[1] is False
    more_listeners = ProxyConfig(base.listeners + (Listener("api", 81, "web"),), base.backends, base.admin_socket)
    other_port = ProxyConfig((Listener("web", 8080, "web"),), base.backends, base.admin_socket)
    more_backends = ProxyConfig(base.listeners, base.backends + (Backend("db"),), base.admin_socket)
    other_balance = ProxyConfig(base.listeners, (Backend("web", base.backends[0].servers, "leastconn"),), base.admin_socket)
    for changed in (more_listeners, other_port, more_backends, other_balance):
        assert changes(changed, running, layout) == ([], True)
    # a proxy whose configuration tui-orch did not render (no layout variable)
    assert changes(base, running, "Variable not found") == ([], True)
