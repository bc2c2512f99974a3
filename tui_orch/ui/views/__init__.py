"""The console's views (k9s-like resources): nodes, services, replicas, events."""

from tui_orch.ui.views.base import View
from tui_orch.ui.views.events import EventsView
from tui_orch.ui.views.nodes import NodesView
from tui_orch.ui.views.replicas import ReplicasView
from tui_orch.ui.views.services import ServicesView

VIEWS: tuple[type[View], ...] = (NodesView, ServicesView, ReplicasView, EventsView)

__all__ = ["VIEWS", "EventsView", "NodesView", "ReplicasView", "ServicesView", "View"]
