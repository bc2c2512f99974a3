"""The controller: owns desired-versus-actual. ``Controller(store, fleet)`` deploys manifests
(``apply``/``remove``/``scale``), and its reconcile loop restarts what dies, re-places what
a lost node ran and removes what it owns but no longer wants. Everything is asyncio; blocking
docker-py calls run in threads inside ``nodes/``."""

from tui_orch.controller.core import ApplyResult, Controller
from tui_orch.controller.events import EventBus, event

__all__ = ["ApplyResult", "Controller", "EventBus", "event"]
