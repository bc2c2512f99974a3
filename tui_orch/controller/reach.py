"""What the console shows of a service's traffic (issue 13), from its spec and the rotation
the proxies were told (traffic.rotation_now): the ports clients use, the names other services
reach it by, and how many of its replicas are in rotation. Pure: no I/O."""

from __future__ import annotations

import contextlib
import json

from tui_orch.model import Replica, Rollout, ServiceSpec, from_dict


def ingress_ports(spec: ServiceSpec) -> tuple[str, ...]:
    """The service's published ingress ports as a client names them: "8080", or
    "10.0.0.5:8080" when bound to one address of each node."""
    return tuple(dict.fromkeys(f"{p.host_ip}:{p.published}" if p.host_ip else str(p.published)
                               for p in spec.ports if p.mode == "ingress" and p.published is not None))


def names_of(spec: ServiceSpec) -> list[str]:
    """The names other services of its networks reach it by: its own, then its aliases."""
    return list(dict.fromkeys([spec.name] + [a for n in spec.networks for a in n.aliases])) if spec.networks else []


def routed(spec: ServiceSpec) -> bool:
    """Whether the service's replicas have a rotation: it publishes an ingress port (the edge
    proxies serve it) or it is on networks (the mesh proxies of the other services there serve
    it by name). traffic.desired registers exactly these."""
    return bool(ingress_ports(spec) or spec.networks)


def rotation_counts(reps: list[Replica], ro: Rollout | None, rotation: dict[str, str]) -> tuple[int, int]:
    """(in rotation, draining) of a service's replicas, and of the old copies a start-first
    rollout keeps serving (their records replaced, still in the edge proxies until stopped)."""
    ids = {(r.container_id or "")[:12] for r in reps if r.container_id}
    for _key, old in ro.retiring if ro is not None else ():
        with contextlib.suppress(TypeError, ValueError, KeyError):
            ids.add((from_dict(Replica, json.loads(old)).container_id or "")[:12])
    states = [rotation.get(cid) for cid in ids if cid]
    return states.count("in"), states.count("draining")
