"""From a service spec and a placement to the ContainerRequest of one replica.

Engine restart policy (``ENGINE_RESTART_POLICY``): the controller holds the restart baton
while it runs and hands it to the engine when it closes, so that exactly one of them restarts
a replica at any time.

- Every container is created with the engine policy ``no`` (``CONTROLLER_HOLDS``). While a
  controller is open it alone restarts replicas: it honours the spec's ``restart_policy``
  (condition, delay with exponential backoff, max_attempts in a window), restarts on
  ``unhealthy`` too (the engine never does, moby#28400) and records every restart as an
  event. When its reconcile loop starts, and when a node becomes Ready while it runs, it sets
  ``no`` on every container it owns there (handover.py), taking the baton back.
- ``Controller.close()`` hands the baton over: each wanted replica's container gets the
  policy derived from its service (``engine_restart_policy``): condition ``any`` ->
  ``unless-stopped``; ``on-failure`` -> ``on-failure`` with MaximumRetryCount = max_attempts
  (0 = unlimited); ``none`` -> ``no``. While no controller runs, the engine restarts a replica
  that dies with its own backoff (100 ms doubling to 1 minute, reset once the container ran
  10 s); the spec's delay and window are not honoured then (the engine has no such settings).
  The next controller sees the same container running and its record stays valid.
  ``unless-stopped`` rather than ``always``: a container stopped by its API stays stopped even
  across a daemon restart. Headless commands (apply, scale...) create with ``no`` too and
  hand back when they exit: while one waits for a new replica, a crash shows as a crash
  rather than as the engine's ``restarting`` loop.
- Why not leave the derived policy on while the controller runs: two restarters fight (the
  engine restarts at once, ignoring delay, max_attempts and the crash-loop backoff, while the
  controller removes and replaces the same replica). Why not ``no`` forever (the first
  design): a replica that died while the console was closed stayed down until it opened.
- Nothing brings back what the controller stopped: it stops (``docker stop``) then removes
  replicas, and the engine never restarts a container stopped by its API. ``docker kill`` by
  hand counts as such a stop too (the engine leaves it down; an open controller restarts it).
- A controller killed with SIGKILL (or a crashed machine) cannot hand back: its replicas keep
  running, but one that dies is not restarted until a controller runs again (its first pass
  restarts it, and every command's close hands the baton back).
"""

from __future__ import annotations

import secrets

from tui_orch.controller.engine_settings import host_config
from tui_orch.model import Healthcheck, Mount, RestartPolicy, ServiceSpec
from tui_orch.nodes.base import (
    LABEL_DIGEST,
    LABEL_NODE,
    LABEL_REPLICA,
    LABEL_REVISION,
    LABEL_SERVICE,
    LABEL_SLOT,
    ContainerRequest,
)

# restart_policy.condition -> the engine's policy name once the controller has closed
ENGINE_RESTART_POLICY: dict[str, str] = {"any": "unless-stopped", "on-failure": "on-failure", "none": "no"}
CONTROLLER_HOLDS = "no"  # the engine's policy while a controller runs (and at creation)
# Which controller (state folder on a machine) made a container: a reconcile pass removes
# only orphans it made itself, never those of another console sharing the nodes.
LABEL_OWNER = "tui-orch.owner"
NANO = 1_000_000_000


def engine_restart_policy(policy: RestartPolicy) -> tuple[str, int]:
    """The engine's restart policy for a service's ``policy``: (name, MaximumRetryCount)."""
    name = ENGINE_RESTART_POLICY[policy.condition]
    return name, policy.max_attempts if name == "on-failure" else 0


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


def node_mounts(spec: ServiceSpec) -> tuple[Mount, ...]:
    """The mounts the engine makes for ``spec``, with node-level sources: a named volume's
    name on the node instead of its key; files of the operator's machine left out (they are
    delivered: delivery.py). The named volumes exist by then (mounting.py)."""
    out = []
    for m in spec.mounts:
        if m.type == "bind" and m.local:
            continue
        if m.type == "volume" and m.source:
            declared = spec.volume(m.source)
            m = Mount(m.type, m.target, declared.name if declared else m.source, m.read_only, options=m.options)
        out.append(m)
    return tuple(out)


def container_request(spec: ServiceSpec, *, slot: int, node: str, revision: int,
                      ports: tuple[int, ...] = (), owner: str = "",
                      delivered: tuple[tuple[str, str], ...] = (),
                      volumes_from: tuple[str, ...] = ()) -> ContainerRequest:
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
        # an ingress port's host_ip is where the edge proxy listens; the replica's own port is
        # reached by the proxies of every node, at the node's address
        host_ip = None if port_spec.ingress else port_spec.host_ip
        bindings.append((host_port, target, port_spec.protocol, host_ip))
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
        # on its project networks (issue 13), the first given at creation; none: network_mode
        network_mode=spec.networks[0].name if spec.networks else spec.network_mode,
        networks=spec.networks,
        expose=spec.expose,
        # host networking publishes nothing: the process binds PORT itself
        ports=() if spec.network_mode == "host" else tuple(bindings),
        nano_cpus=int(limits.cpus * NANO),
        mem_limit=limits.memory,
        mem_reservation=reservations.memory,
        healthcheck=docker_healthcheck(spec.healthcheck),
        stop_signal=spec.stop_signal,
        stop_timeout=int(spec.stop_grace_period),
        restart_policy={"Name": CONTROLLER_HOLDS},
        user=spec.user,
        working_dir=spec.working_dir,
        host_config=host_config(spec.settings),
        hostname=spec.settings.hostname,
        domainname=spec.settings.domainname,
        mac_address=spec.settings.mac_address,
        platform=spec.settings.platform,
        delivered=delivered,  # secrets and configs: (copy on the node, target), read-only (delivery.py)
        mounts=node_mounts(spec),
        tmpfs=spec.tmpfs,
        volumes_from=volumes_from,  # container ids on this node (mounting.py)
    )
