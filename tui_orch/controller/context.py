"""The handles the controller's helpers share: ``Context``.

Every helper module (deploy, reconcile, rollout, handover, availability, observe ...) is a set
of functions of a ``Context``, never of the ``Controller``: the Controller builds one context
and hands it to each helper, so no helper imports core.py and no helper writes a field of
another module. The context is a bundle of handles (the store, the fleet, the bus, the lock,
who owns the containers, the timeouts, and the few shared registers below), not a second
state bag: it is frozen, and each register is owned by the module that writes it.
"""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import os
import socket
from dataclasses import dataclass, field
from typing import Any
from tui_orch.controller.claims import PortClaims
from tui_orch.controller.events import EventBus
from tui_orch.controller.rotation import Rotation
from tui_orch.manifest.localtree import Tree
from tui_orch.nodes.fleet import Fleet
from tui_orch.errors import NotLeading
from tui_orch.store import Store

DEFAULT_START_TIMEOUT = 60.0
DEFAULT_GRACE = 10.0  # a node NotReady longer than this has its replicas re-placed
DEFAULT_PERIOD = 10.0  # seconds between full reconcile passes
DEFAULT_IMAGE_TIMEOUT = 600.0


def owner_id(store: Store) -> str:
    """A stable id of this state folder on this machine (the containers' owner label)."""
    where = store.identity()
    return hashlib.sha256(where.encode()).hexdigest()[:12]


def applier() -> str:
    """user@host of this process: who a revision it stores was applied by. A user with no
    name (a container's uid without a passwd entry) is its uid."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Timeouts:
    start: float = DEFAULT_START_TIMEOUT  # a new replica must run (and be healthy) within this
    grace: float = DEFAULT_GRACE  # a node NotReady longer than this loses its replicas
    period: float = DEFAULT_PERIOD  # seconds between full reconcile passes
    image: float = DEFAULT_IMAGE_TIMEOUT  # bringing one image to one node


@dataclass
class Readiness:
    """Which nodes were Ready and since when they are not (this outage). Written by the
    reconcile loop (node changes), read by planning (the grace period)."""

    seen_ready: set[str] = field(default_factory=set)
    down_since: dict[str, float] = field(default_factory=dict)


@dataclass
class Writing:
    """The group commits of replica records (deploy.write_replica): the group that writers
    join now, and the tasks that commit the groups."""

    group: Any = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


@dataclass(frozen=True, eq=False)
class Context:
    store: Store
    fleet: Fleet
    bus: EventBus
    lock: asyncio.Lock  # held while containers are created/removed and records change
    owner: str  # the owner label of the containers this state folder makes
    timeouts: Timeouts
    readiness: Readiness = field(default_factory=Readiness)
    claims: PortClaims = field(default_factory=PortClaims)  # host ports of starts in flight (ports.py)
    # container id -> events deploy.wait_ready waits on: set by each engine event of it (reconcile.py)
    waiters: dict[str, list[asyncio.Event]] = field(default_factory=dict)
    writes: asyncio.Lock = field(default_factory=asyncio.Lock)  # one group commit at a time (deploy.py)
    writing: Writing = field(default_factory=lambda: Writing())  # replica records' group commits (deploy.py)
    # digest -> bytes of the secrets and configs of manifests applied by this process: in its
    # memory only, never stored (delivery.py)
    held: dict[str, bytes] = field(default_factory=dict, repr=False)
    # folders of this machine bound by a relative path, read by apply, by digest (delivery.py)
    trees: dict[str, Tree] = field(default_factory=dict, repr=False)
    # the edge proxies: which replicas are in rotation, what each node's proxy was told (traffic.py)
    rotation: Rotation = field(default_factory=Rotation)
    # node -> the project networks of this state left there by its last prune (networks.py)
    networks_left: dict[str, frozenset[str]] = field(default_factory=dict)
    # the placer kept current for placing one replica at a time (placing.py: "kept")
    placing: dict[str, Any] = field(default_factory=dict)

    def check_acting(self) -> None:
        """Before a container action: raise NotLeading if this process may no longer act (an
        etcd state whose lead it lost, or whose lease it cannot be sure of: store/leader.py)."""
        if not self.store.acting():
            raise NotLeading(f"state {self.store.describe()}: this process no longer leads; it does not act")
