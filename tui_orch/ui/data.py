"""The rows the console shows come from the controller's read side
(tui_orch.controller.query); this module names them for the views and adds what only the
console needs. No Textual here, no I/O."""

from __future__ import annotations

from typing import Any

from tui_orch.controller.query import Query
from tui_orch.controller.rows import FleetSummary, NodeRow, ReplicaRow, ServiceRow
from tui_orch.controller.unowned import UnownedContainer
from tui_orch.model import Replica, Rollout

__all__ = ["FleetSummary", "NodeRow", "Query", "Replica", "ReplicaRow", "Rollout", "ServiceRow", "UnownedContainer",
           "event_object"]


def event_object(ev: Any) -> str:
    """What an event is about: the replica, else the service, else the node."""
    return ev.replica or ev.service or ev.node or ""
