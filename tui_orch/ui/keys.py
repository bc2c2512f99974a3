"""Every key binding of the console, each with an id (rebindable from config.yaml), and the
``:`` command aliases. Destructive bindings are left out altogether in read-only mode."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    id: str
    key: str
    action: str
    description: str
    show: bool = False  # in the footer
    destructive: bool = False  # changes the fleet: not bound with --readonly
    palette: bool = True  # offered in the command palette


KEYS: tuple[Key, ...] = (
    Key("command", "colon", "command", "Command (:nodes :svc :rs :ev :logs :q)", show=True, palette=False),
    Key("filter", "slash", "filter", "Filter (/! inverse)", show=True, palette=False),
    Key("help", "question_mark", "help", "Help", show=True),
    Key("drill", "enter", "drill", "Drill down", palette=False),
    Key("back", "escape", "back", "Back", palette=False),
    Key("view-nodes", "1", "view('nodes')", "Nodes view"),
    Key("view-services", "2", "view('services')", "Services view"),
    Key("view-replicas", "3", "view('replicas')", "Replicas view"),
    Key("view-events", "4", "view('events')", "Events view"),
    # sort: one key a step, no mode; every column in every view the same way, the header's
    # mark showing where it is (shift+letter as k9s would clash: S D U P act on the fleet)
    Key("sort-next", "greater_than_sign", "sort(1)", "Sort by the next column (then the view's own order)"),
    Key("sort-previous", "less_than_sign", "sort(-1)", "Sort by the previous column"),
    Key("sort-reverse", "tilde", "sort_reverse", "Reverse the sort order"),
    # ctrl+space arrives as ctrl+@ from most terminals (NUL)
    Key("mark", "space", "mark", "Mark the row (actions then act on every marked row)"),
    Key("mark-all", "ctrl+space,ctrl+@", "mark_all", "Mark every row shown (clear the marks when all are)"),
    Key("logs", "l", "logs", "Logs of the replica", show=True),
    Key("service-logs", "L", "service_logs", "Logs of every replica of the service"),
    Key("describe", "d", "describe", "Describe the node, service, replica or event"),
    Key("yaml", "y", "yaml", "The service's Compose text (YAML)"),
    Key("edit", "e", "edit", "Edit the service's Compose file, then deploy it", destructive=True),
    Key("shell", "s", "shell", "Shell into the replica", show=True, destructive=True),
    # opens a port on the operator's 127.0.0.1 only, changes nothing on the fleet: bound
    # with --readonly too (as k9s does), like logs
    Key("port-forward", "f", "port_forward", "Port-forward the replica to a local port"),
    Key("delete", "ctrl+d", "delete", "Remove the service", show=True, destructive=True),
    Key("deploy", "a", "deploy", "Deploy a manifest", show=True, destructive=True),
    Key("scale", "S", "scale", "Scale the service", destructive=True),
    Key("restart", "r", "restart", "Rolling restart of the service", destructive=True),
    Key("pause", "p", "pause", "Pause the rollout", destructive=True),
    Key("resume", "P", "resume", "Resume the rollout", destructive=True),
    Key("undo", "u", "undo", "Roll back to the previous revision", destructive=True),
    Key("history", "h", "history", "Rollout history of the service (revisions, diffs, undo to one)"),
    Key("graph", "g", "graph", "Plot the last hour of cpu and memory of the node or service"),
    Key("move-volume", "m", "move_volume", "Move the replica with its volumes to another node", destructive=True),
    Key("cordon", "c", "cordon", "Cordon the node", destructive=True),
    Key("drain", "D", "drain", "Drain the node", destructive=True),
    Key("uncordon", "U", "uncordon", "Uncordon the node", destructive=True),
    Key("trust", "t", "trust", "Trust the node's host key", destructive=True),
    Key("quit", "ctrl+q", "quit", "Quit", palette=False),
)

# the port-forwards list (:pf, ui/forwards.py): its own screen, its own keys
FORWARDS_KEYS: tuple[Key, ...] = (
    Key("forwards-stop", "ctrl+d", "stop", "Stop the port-forward", show=True),
    Key("forwards-back", "escape", "back", "Back", show=True),
)

# the rollout history screen's own keys (ui/history.py)
HISTORY_KEYS: tuple[Key, ...] = (
    Key("history-undo", "u", "undo_to", "Roll back to the selected revision", show=True, destructive=True),
    Key("history-back", "escape,q", "back", "Back", show=True),
)

# the plot screen's (ui/plots.py)
PLOT_KEYS: tuple[Key, ...] = (Key("plot-back", "escape,q", "back", "Back", show=True),)

ALL_SCREEN_KEYS = (*FORWARDS_KEYS, *HISTORY_KEYS, *PLOT_KEYS)
BINDING_IDS = frozenset(k.id for k in (*KEYS, *ALL_SCREEN_KEYS))
DESTRUCTIVE_ACTIONS = frozenset(k.action for k in (*KEYS, *ALL_SCREEN_KEYS) if k.destructive)


def keys(readonly: bool, of: tuple[Key, ...] = KEYS) -> list[Key]:
    return [k for k in of if not (readonly and k.destructive)]


def bindings(readonly: bool, of: tuple[Key, ...] = KEYS) -> list[Binding]:
    """A screen's bindings (the main screen's unless ``of`` says); read-only leaves
    destructive ones out."""
    return [Binding(k.key, k.action, k.description, show=k.show, id=k.id, priority=k.id == "quit")
            for k in keys(readonly, of)]


def screen_bindings(of: tuple[Key, ...]) -> list[Binding]:
    """Another screen's bindings (none of them destructive)."""
    return [Binding(k.key, k.action, k.description, show=k.show, id=k.id) for k in of]


# ``:`` commands: alias -> what it does (a view name, "logs", "forwards" or "quit")
COMMANDS: dict[str, str] = {
    "nodes": "nodes", "node": "nodes", "no": "nodes",
    "services": "services", "service": "services", "svc": "services",
    "replicas": "replicas", "replica": "replicas", "rs": "replicas",
    "events": "events", "event": "events", "ev": "events",
    "logs": "logs", "log": "logs",
    "pf": "forwards", "forwards": "forwards", "port-forwards": "forwards",
    "history": "history", "hist": "history",
    "q": "quit", "quit": "quit", "q!": "quit",
    "help": "help",
}


def parse_command(text: str) -> tuple[str, str]:
    """``"rs web"`` -> ("replicas", "web"). Raises ValueError with one sentence when unknown."""
    words = text.strip().lstrip(":").split(None, 1)
    if not words:
        raise ValueError("empty command; try :nodes, :svc, :rs, :ev, :logs or :q")
    verb = COMMANDS.get(words[0].lower())
    if verb is None:
        raise ValueError(f"unknown command :{words[0]}; try :nodes, :svc, :rs, :ev, :logs or :q")
    return verb, words[1].strip() if len(words) > 1 else ""
