"""traffic.model, traffic.haproxy and traffic.runtime without a proxy: names HAProxy takes as
they are, the rendered file, and HAProxy 2.6's answers (texts captured from the real binary)."""

from __future__ import annotations

import pytest

from tui_orch.traffic import haproxy, runtime as api
from tui_orch.traffic.model import Backend, Listener, ProxyConfig, Server

HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
          "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
          "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
          "srv_check_addr srv_agent_addr srv_agent_port")


@pytest.mark.parametrize("name", ["", "a b", "web/1", "x;show", "é", "a" * 65, "a\nb"])
def test_a_name_haproxy_would_split_or_misread_is_refused(name):
    with pytest.raises(ValueError, match="must be 1 to 64 characters among"):
        Server(name, "10.0.0.1", 80)


@pytest.mark.parametrize("make, message", [
    (lambda: Server("a", "db.local", 80), "does not appear to be an IPv4 or IPv6 address"),
    (lambda: Server("a", "10.0.0.1", 0), "port 0 must be a number from 1 to 65535"),
    (lambda: Server("a", "10.0.0.1", 80, "up"), "state 'up' is not one of ready, drain, maint"),
    (lambda: Backend("web", balance="static-rr"), "balance 'static-rr' is not one of roundrobin"),
    (lambda: Backend("web", (Server("a", "10.0.0.1", 80), Server("a", "10.0.0.2", 80))), "two servers share a name"),
    (lambda: ProxyConfig((Listener("web", 80, "api"),), (Backend("web"),), "/run/a.sock"), "backends that do not exist: api"),
    (lambda: ProxyConfig((Listener("a", 80, "web"), Listener("b", 80, "web")), (Backend("web"),), "/run/a.sock"),
     "two listeners share a port"),
    (lambda: ProxyConfig((), (), "run/a.sock"), "must be an absolute path without spaces"),
])
def test_a_config_haproxy_would_refuse_is_refused_here(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_rendered_file_keeps_rotation_and_connections_across_a_reload():
    config = ProxyConfig(
        (Listener("web", 8080, "web"), Listener("web-v6", 8081, "web", bind="::1")),
        (Backend("web", (Server("a", "10.0.0.1", 31000), Server("b", "10.0.0.2", 31001, "drain"),
                         Server("c", "fd00::3", 31002, "maint"))),),
        "/run/tui-orch/admin.sock",
    )
    text = haproxy.render(config)
    assert "    stats socket /run/tui-orch/admin.sock mode 600 level admin expose-fd listeners\n" in text
    assert f"    setenv TUIORCH_LAYOUT {haproxy.layout_digest(config)}\n" in text
    assert "frontend web\n    bind *:8080\n    default_backend web\n" in text
    assert "    bind [::1]:8081\n" in text
    assert ("backend web\n    balance roundrobin\n    server a 10.0.0.1:31000\n"
            "    server b 10.0.0.2:31001 disabled\n    server c [fd00::3]:31002 disabled\n") in text
    for line in ("master-worker", "hard-stop-after 30m", "mode tcp", "retries 3", "option redispatch 1",
                 "timeout connect 2s", "timeout client 1h", "timeout server 1h", "timeout client-fin 30s"):
        assert f"    {line}\n" in text


def test_the_layout_leaves_servers_out():
    one = ProxyConfig((Listener("web", 80, "web"),), (Backend("web", (Server("a", "10.0.0.1", 1),)),), "/run/a.sock")
    other = ProxyConfig(one.listeners, (Backend("web", (Server("b", "10.0.0.2", 2, "drain"),)),), "/run/a.sock")
    assert haproxy.layout_digest(one) == haproxy.layout_digest(other)


def test_answers_are_framed_by_the_prompt_even_where_del_server_writes_no_blank_line():
    commands = ["set server web/d state maint", "shutdown sessions server web/d", "del server web/d",
                "show servers state web", "set server web/zz state ready"]
    assert api.session_text(commands[:1]) == "prompt\nset server web/d state maint\nquit\n"
    written = ("\n> \n> \n> Server deleted.\n> 1\n" + HEADER
               + "\n3 web 1 a 127.0.0.1 2 4 1 1 0 1 0 0 8 0 0 0 - 18081 - 0 0 - - 0\n"
               "\n> No such server.\n\n> ")
    answers = api.split_answers(written, len(commands))
    assert answers[:3] == ["", "", "Server deleted."]
    assert answers[3].startswith("1\n# be_id") and answers[4] == "No such server."
    assert [api.answer_error(c, a) for c, a in zip(commands, answers)] == [None, None, None, None, "No such server."]
    assert api.split_answers(written[:30], len(commands)) is None  # cut short


@pytest.mark.parametrize("command, answer, error", [
    ("add server web/a 10.0.0.1:80", "New server registered.", None),
    ("add server web/a 10.0.0.1:80", "Already exists a server with the same name in backend.",
     "Already exists a server with the same name in backend."),
    ("del server web/a", "Server still has connections attached to it, cannot remove it.",
     "Server still has connections attached to it, cannot remove it."),
    ("set server web/a addr 10.0.0.2 port 81",
     "IP changed from '10.0.0.1' to '10.0.0.2', port changed from '80' to '81' by 'stats socket command'", None),
    ("set server web/a addr 10.0.0.2 port 81", "No such server.", "No such server."),
    ("show servers state nope", "Can't find backend.", "Can't find backend."),
    ("show env TUIORCH_LAYOUT", "Variable not found", None),  # read by parse_layout: a reload
    ("bogus", "Unknown command, but maybe one of the following ones is a better match:\n  show fd",
     "Unknown command, but maybe one of the following ones is a better match:"),
])
def test_an_error_answer_is_told_from_a_success(command, answer, error):
    assert api.answer_error(command, answer) == error


def test_servers_state_reads_maint_drain_and_a_disabled_server_enabled_since():
    text = ("1\n" + HEADER + "\n"
            "3 web 1 a 127.0.0.1 2 4 1 1 0 1 0 0 8 0 0 0 - 18081 - 0 0 - - 0\n"  # `disabled`, then enable server
            "3 web 2 b 127.0.0.1 2 8 0 0 0 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0\n"  # drain
            "3 web 3 c ::1 0 1 1 1 0 1 0 0 0 0 0 0 - 80 - 0 0 - - 0\n")  # added, not enabled
    state = api.parse_servers_state(text)["web"]
    assert [(s.name, s.address, s.port, s.state, s.running) for s in state.values()] == [
        ("a", "127.0.0.1", 18081, "ready", True), ("b", "127.0.0.1", 18082, "drain", True), ("c", "::1", 80, "maint", False)]
    with pytest.raises(ValueError, match="not a `show servers state` answer"):
        api.parse_servers_state("Can't find backend.")


def test_sessions_per_server_from_show_stat():
    text = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,type,addr\n"
            "web,FRONTEND,,,3,3,4096,9,0,\n"
            "web,a,0,0,2,2,,7,2,10.0.0.1:80\nweb,b,0,0,0,1,,2,2,10.0.0.2:80\n"
            "web,BACKEND,0,0,2,2,410,9,1,\n\n")
    assert api.parse_sessions(text) == {("web", "a"): 2, ("web", "b"): 0}
