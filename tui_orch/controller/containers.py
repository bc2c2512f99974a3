"""From a service spec and a placement to the ContainerRequest of one replica.

Engine restart policy: none (``ENGINE_RESTART_POLICY``). The controller alone restarts
replicas: it honours the spec's ``restart_policy`` (condition, delay with exponential
backoff, max_attempts in a window), restarts on ``unhealthy`` too (the engine never does),
records every restart as an event with its attempt number and next delay, and never races a
second restarter. The alternatives fight it: ``always``/``unless-stopped`` restart at once
with the engine's own 100 ms backoff (the spec's delay and max_attempts are ignored, a
crash loop is invisible to the controller, and a replica the controller stopped to move it
comes back after a daemon restart); ``on-failure:N`` has the same problems for its first N
attempts. What the operator loses: a replica that dies while no console (nor headless
command) runs stays down until the controller runs again; its first reconcile pass then
restarts it. Running replicas themselves are independent of the console: they are plain
detached containers, not tied to the SSH session, and keep running while it is closed.
"""

from __future__ import annotations

import secrets

from tui_orch.model import Healthcheck, ServiceSpec
from tui_orch.nodes.base import (
    LABEL_DIGEST,
    LABEL_NODE,
    LABEL_REPLICA,
    LABEL_REVISION,
    LABEL_SERVICE,
    LABEL_SLOT,
    ContainerRequest,
)

ENGINE_RESTART_POLICY: dict[str, object] | None = None
# Which controller (state folder on a machine) made a container: a reconcile pass removes
# only orphans it made itself, never those of another console sharing the nodes.
LABEL_OWNER = "tui-orch.owner"
NANO = 1_000_000_000


def replica_key(service: str, slot: int, node: str) -> str:
    return f"{service}.{slot}" if slot else f"{service}.{node}"


def container_name(service: str, slot: int, node: str, revision: int) -> str:
    """``tuiorch-<service>-<slot or node>-r<revision>-<6 hex>``: unique per container."""
    return f"tuiorch-{service}-{slot or node}-r{revision}-{secrets.token_hex(3)}"


def docker_healthcheck(hc: Healthcheck | None) -> dict[str, object] | None:
    """Docker's form of a health check (durations in ns); None keeps the image's check."""
    if hc is None:
        return None
    if not hc.enabled:
        return {"test": ["NONE"]}
    out: dict[str, object] = {
        "interval": int(hc.interval * NANO),
        "timeout": int(hc.timeout * NANO),
        "retries": hc.retries,
        "start_period": int(hc.start_period * NANO),
    }
    if hc.test is not None:
        out["test"] = list(hc.test)
    return out


def container_request(spec: ServiceSpec, *, slot: int, node: str, revision: int,
                      ports: tuple[int, ...] = (), owner: str = "") -> ContainerRequest:
    """The request that creates replica ``slot`` (0: the global replica of ``node``) of
    ``spec`` at ``revision`` on ``node``, holding the host ``ports`` (in the order of
    ``spec.ports``; PORT is the first, PORT_<target> each). TUI_ORCH_REPLICA and TUI_ORCH_NODE
    tell the process which replica it is and where it runs."""
    key = replica_key(spec.name, slot, node)
    labels = dict(spec.labels)
    labels.update({
        LABEL_SERVICE: spec.name,
        LABEL_REVISION: str(revision),
        LABEL_REPLICA: key,
        LABEL_SLOT: str(slot),
        LABEL_NODE: node,
        LABEL_DIGEST: spec.digest(),
    })
    if owner:
        labels[LABEL_OWNER] = owner
    env = dict(spec.environment)
    if ports:
        env["PORT"] = str(ports[0])
    bindings: list[tuple[int, int, str, str | None]] = []
    for port_spec, host_port in zip(spec.ports, ports):
        target = port_spec.target if port_spec.target is not None else host_port
        env[f"PORT_{target}"] = str(host_port)
        bindings.append((host_port, target, port_spec.protocol, port_spec.host_ip))
    env.setdefault("TUI_ORCH_REPLICA", key)
    env.setdefault("TUI_ORCH_NODE", node)
    limits, reservations = spec.resources.limits, spec.resources.reservations
    return ContainerRequest(
        name=container_name(spec.name, slot, node, revision),
        image=spec.image,
        labels=tuple(sorted(labels.items())),
        command=spec.command,
        entrypoint=spec.entrypoint,
        environment=tuple(sorted(env.items())),
        network_mode=spec.network_mode,
        # host networking publishes nothing: the process binds PORT itself
        ports=() if spec.network_mode == "host" else tuple(bindings),
        nano_cpus=int(limits.cpus * NANO),
        mem_limit=limits.memory,
        mem_reservation=reservations.memory,
        healthcheck=docker_healthcheck(spec.healthcheck),
        stop_signal=spec.stop_signal,
        stop_timeout=int(spec.stop_grace_period),
        restart_policy=ENGINE_RESTART_POLICY,
        user=spec.user,
        working_dir=spec.working_dir,
    )
