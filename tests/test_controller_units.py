"""Pure parts of the controller: container requests and restart decisions (no lab)."""

from __future__ import annotations

import re
import textwrap

from tui_orch.controller.containers import LABEL_OWNER, container_request, docker_healthcheck
from tui_orch.controller.restarts import BACKOFF_CAP, HOT_LOOP_FLOOR, RESET_AFTER, RestartTracker, decide
from tui_orch.manifest import parse_manifest
from tui_orch.model import Healthcheck, RestartPolicy
from tui_orch.nodes.base import LABEL_DIGEST, LABEL_NODE, LABEL_REPLICA, LABEL_REVISION, LABEL_SERVICE, LABEL_SLOT

WEB = textwrap.dedent("""
    services:
      web:
        image: tuiorch/busybox:1
        command: ["httpd", "-f"]
        environment: {A: "1"}
        ports:
          - target: 8080
          - target: 9090
            published: 9090
            mode: host
        healthcheck:
          test: ["CMD-SHELL", "true"]
          interval: 2s
          timeout: 1s
          retries: 2
          start_period: 1s
        stop_signal: SIGINT
        stop_grace_period: 3s
        deploy:
          resources:
            limits: {cpus: "0.5", memory: 64m}
            reservations: {memory: 16m}
""")


def test_container_request_from_spec():
    spec = parse_manifest(WEB, "web.yaml").services[0]
    req = container_request(spec, slot=2, node="node1", revision=4, ports=(20001, 9090), owner="abc")
    assert re.fullmatch(r"tuiorch-web-2-r4-[0-9a-f]{6}", req.name)
    labels = dict(req.labels)
    assert labels[LABEL_SERVICE] == "web" and labels[LABEL_REVISION] == "4" and labels[LABEL_REPLICA] == "web.2"
    assert labels[LABEL_SLOT] == "2" and labels[LABEL_NODE] == "node1" and labels[LABEL_DIGEST] == spec.digest()
    assert labels[LABEL_OWNER] == "abc"
    env = dict(req.environment)
    assert env["PORT"] == "20001" and env["PORT_8080"] == "20001" and env["PORT_9090"] == "9090"
    assert env["A"] == "1" and env["TUI_ORCH_NODE"] == "node1"
    assert req.ports == ((20001, 8080, "tcp", None), (9090, 9090, "tcp", None))
    assert req.nano_cpus == 500_000_000 and req.mem_limit == 64 * 2**20 and req.mem_reservation == 16 * 2**20
    assert req.healthcheck == {"test": ["CMD-SHELL", "true"], "interval": 2_000_000_000,
                               "timeout": 1_000_000_000, "retries": 2, "start_period": 1_000_000_000}
    assert req.stop_signal == "SIGINT" and req.stop_timeout == 3 and req.restart_policy == {"Name": "no"}  # the controller holds
    other = container_request(spec, slot=2, node="node1", revision=4, ports=(20001, 9090))
    assert other.name != req.name  # a fresh suffix per container
    glob = container_request(spec, slot=0, node="node3", revision=1)
    assert dict(glob.labels)[LABEL_REPLICA] == "web.node3" and glob.name.startswith("tuiorch-web-node3-r1-")


def test_an_ingress_replica_binds_its_allocated_port_to_the_target():
    """The edge proxy answers on 8080 on every node; the replica binds the host port the
    scheduler gave it (on every address: the proxies of other nodes reach it there)."""
    spec = parse_manifest('services:\n  web:\n    image: nginx\n    ports: ["127.0.0.1:8080:80", "53:53/udp"]\n',
                          "web.yaml").services[0]
    req = container_request(spec, slot=1, node="node1", revision=1, ports=(20003, 53))
    assert req.ports == ((20003, 80, "tcp", None), (53, 53, "udp", None))
    env = dict(req.environment)
    assert env["PORT"] == "20003" and env["PORT_80"] == "20003" and env["PORT_53"] == "53"


def test_healthcheck_forms():
    assert docker_healthcheck(None) is None
    assert docker_healthcheck(Healthcheck(disable=True)) == {"test": ["NONE"]}
    assert "test" not in docker_healthcheck(Healthcheck(test=None))  # the image's own test


def test_backoff_doubles_and_caps():
    policy, tracker = RestartPolicy("any", delay=1.0), RestartTracker()
    delays = [decide(policy, tracker, now=float(t), exit_code=1).delay for t in range(12)]
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 16.0] and delays[-1] == BACKOFF_CAP
    d = decide(policy, tracker, now=100.0, exit_code=1, ran_for=RESET_AFTER)
    assert d.delay == 1.0  # ten minutes running fine resets the backoff


def test_a_zero_delay_is_honoured_with_a_floor_against_a_hot_loop():
    policy, tracker = RestartPolicy("any", delay=0), RestartTracker()
    delays = [decide(policy, tracker, now=float(t), exit_code=1).delay for t in range(8)]
    assert delays == [0.0] + [HOT_LOOP_FLOOR] * 7  # no doubling
    assert 0 < HOT_LOOP_FLOOR <= 1.0


def test_conditions_and_max_attempts_in_window():
    assert not decide(RestartPolicy("none"), RestartTracker(), now=0, exit_code=1).restart
    on_failure = RestartPolicy("on-failure", delay=0)
    assert not decide(on_failure, RestartTracker(), now=0, exit_code=0).restart
    assert decide(on_failure, RestartTracker(), now=0, exit_code=0, unhealthy=True).restart
    policy, tracker = RestartPolicy("any", delay=0, max_attempts=2, window=10), RestartTracker()
    assert [decide(policy, tracker, now=t, exit_code=0).restart for t in (0, 1, 2)] == [True, True, False]
    d = decide(policy, tracker, now=10.5, exit_code=0)  # the first attempt left the window
    assert d.restart and d.attempt == 2
    assert "gave up" in decide(policy, tracker, now=10.6, exit_code=0).reason
