"""Every key binding of the console, each with an id (rebindable from config.yaml) and the
views it acts in (the footer shows a view's keys), and the ``:`` command aliases with the
names their arguments take (Tab completes them). Destructive bindings are left out
altogether in read-only mode."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


EVERY_VIEW: tuple[str, ...] = ()  # a Key's ``views`` when it acts in every view


@dataclass(frozen=True)
class Key:
    id: str
    key: str
    action: str
    description: str
    show: bool = False  # in the footer (of the views it acts in)
    destructive: bool = False  # changes the fleet: not bound with --readonly
    palette: bool = True  # offered in the command palette
    # the views (View.NAME) the key acts in: elsewhere it is hidden from the footer and does
    # nothing (MainScreen.check_action); a key declares them when it is about one kind of row
    views: tuple[str, ...] = EVERY_VIEW
    shown_in: tuple[str, ...] | None = None  # the views whose footer shows it (None: all of ``views``)
    label: str = ""  # its word in the footer (one word: the footer holds a view's keys in one line)


NODES, SERVICES, REPLICAS, EVENTS = ("nodes",), ("services",), ("replicas",), ("events",)

KEYS: tuple[Key, ...] = (
    Key("command", "colon", "command", "Command (:nodes :svc :rs :ev :logs :scale :pf :q; Tab completes)", show=True,
        palette=False, label="command"),
    Key("filter", "slash", "filter", "Filter (/! inverse)", show=True, palette=False, label="filter"),
    Key("help", "question_mark", "help", "Help", show=True, label="help"),
    Key("deploy", "a", "deploy", "Deploy a manifest", show=True, destructive=True, label="deploy"),
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
    Key("logs", "l", "logs", "Logs of the replica", show=True,
        views=(*REPLICAS, *SERVICES), label="logs"),
    Key("service-logs", "L", "service_logs", "Logs of every replica of the service", views=(*SERVICES, *REPLICAS)),
    Key("describe", "d", "describe", "Describe the node, service, replica or event"),
    Key("yaml", "y", "yaml", "The service's Compose text (YAML)", views=(*SERVICES, *REPLICAS, *EVENTS)),
    Key("edit", "e", "edit", "Edit the service's Compose file, then deploy it", destructive=True,
        views=(*SERVICES, *REPLICAS, *EVENTS)),
    Key("shell", "s", "shell", "Shell into the replica", show=True, destructive=True, views=REPLICAS, label="shell"),
    # opens a port on the operator's 127.0.0.1 only, changes nothing on the fleet: bound
    # with --readonly too (as k9s does), like logs
    Key("port-forward", "f", "port_forward", "Port-forward the replica to a local port", show=True, views=REPLICAS,
        label="forward"),
    Key("scale", "S", "scale", "Scale the service", show=True, destructive=True, views=SERVICES, label="scale"),
    # marked replicas restart their services, cordon and drain their nodes (bulk.py): these
    # act in the replicas view too, shown in the footer of their own view
    Key("restart", "r", "restart", "Rolling restart of the service", show=True, destructive=True,
        views=(*SERVICES, *REPLICAS), shown_in=SERVICES, label="restart"),
    Key("pause", "p", "pause", "Pause the rollout", show=True, destructive=True, views=SERVICES, label="pause"),
    Key("resume", "P", "resume", "Resume the rollout", show=True, destructive=True, views=SERVICES, label="resume"),
    Key("undo", "u", "undo", "Roll back to the previous revision", show=True, destructive=True, views=SERVICES,
        label="undo"),
    Key("delete", "ctrl+d", "delete", "Remove the service", show=True, destructive=True, views=SERVICES,
        label="delete"),
    Key("history", "h", "history", "Rollout history of the service (revisions, diffs, undo to one)",
        views=(*SERVICES, *REPLICAS)),
    Key("graph", "g", "graph", "Plot the last hour of cpu and memory of the node or service",
        views=(*NODES, *SERVICES, *REPLICAS)),
    Key("move-volume", "m", "move_volume", "Move the replica with its volumes to another node", show=True,
        destructive=True, views=(*REPLICAS, *SERVICES), shown_in=REPLICAS, label="move"),
    Key("cordon", "c", "cordon", "Cordon the node", show=True, destructive=True, views=(*NODES, *REPLICAS),
        shown_in=NODES, label="cordon"),
    Key("drain", "D", "drain", "Drain the node", show=True, destructive=True, views=(*NODES, *REPLICAS),
        shown_in=NODES, label="drain"),
    Key("uncordon", "U", "uncordon", "Uncordon the node", show=True, destructive=True, views=(*NODES, *REPLICAS),
        shown_in=NODES, label="uncordon"),
    Key("trust", "t", "trust", "Trust the node's host key", show=True, destructive=True, views=NODES, label="trust"),
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
# what --readonly refuses: the destructive keys' actions, and ``:`` verbs with no key of their own
DESTRUCTIVE_ACTIONS = frozenset({*(k.action for k in (*KEYS, *ALL_SCREEN_KEYS) if k.destructive), "rebalance"})


def action_name(action: str) -> str:
    """``"view('nodes')"`` -> ``"view"``: the name Textual's check_action is given."""
    return action.split("(", 1)[0]


def _action_views(shown: bool) -> dict[str, frozenset[str]]:
    """action name -> the views it acts in (``shown``: whose footer shows it); an action
    absent acts in every view (so does one that any of its keys declares for every view)."""
    out: dict[str, set[str]] = {}
    everywhere: set[str] = set()
    for k in KEYS:
        name = action_name(k.action)
        views = k.shown_in if shown and k.shown_in is not None else k.views
        if views == EVERY_VIEW:
            everywhere.add(name)
        else:
            out.setdefault(name, set()).update(views)
    return {name: frozenset(views) for name, views in out.items() if name not in everywhere}


ACTION_VIEWS = _action_views(shown=False)
FOOTER_VIEWS = _action_views(shown=True)


def acts_in(action: str, view: str) -> bool:
    """Whether ``action`` (a name, as check_action has it) does something in ``view``."""
    views = ACTION_VIEWS.get(action)
    return views is None or view in views


def shows_in(action: str, view: str) -> bool:
    """Whether the footer of ``view`` shows the key of ``action`` (a name)."""
    views = FOOTER_VIEWS.get(action)
    return acts_in(action, view) and (views is None or view in views)


def keys(readonly: bool, of: tuple[Key, ...] = KEYS) -> list[Key]:
    return [k for k in of if not (readonly and k.destructive)]


def bindings(readonly: bool, of: tuple[Key, ...] = KEYS) -> list[Binding]:
    """A screen's bindings (the main screen's unless ``of`` says); read-only leaves
    destructive ones out. The footer shows a binding's description (the key's one-word
    label, else its sentence); help shows its tooltip (the sentence)."""
    return [Binding(k.key, k.action, k.label or k.description, show=k.show, id=k.id, tooltip=k.description,
                    priority=k.id == "quit")
            for k in keys(readonly, of)]


def screen_bindings(of: tuple[Key, ...]) -> list[Binding]:
    """Another screen's bindings (none of them destructive)."""
    return [Binding(k.key, k.action, k.description, show=k.show, id=k.id) for k in of]


# ``:`` commands: alias -> what it does (a view name, "logs", "scale", "forwards", "history", "quit"
# or "help"). Tab completes these aliases; a verb named as a destructive key's action is refused
# with --readonly.
COMMANDS: dict[str, str] = {
    "nodes": "nodes", "node": "nodes", "no": "nodes",
    "services": "services", "service": "services", "svc": "services",
    "replicas": "replicas", "replica": "replicas", "rs": "replicas",
    "events": "events", "event": "events", "ev": "events",
    "logs": "logs", "log": "logs",
    "pf": "forwards", "forwards": "forwards", "port-forwards": "forwards",
    "history": "history", "hist": "history",
    "scale": "scale",
    "rebalance": "rebalance",
    "q": "quit", "quit": "quit", "q!": "quit",
    "help": "help",
}

# verb -> for each of its arguments, the kinds of names Tab completes it with ("service",
# "replica", "node": MainScreen.names); a verb absent takes no argument Tab knows of
COMMAND_ARGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "nodes": (("node",),),
    "services": (("service",),),
    "replicas": (("service", "node"),),
    "events": (("service", "node"),),
    "logs": (("replica", "service"),),
    "scale": (("service",),),
    "history": (("service",),),
}


def verbs_hint() -> str:
    """The verbs to try, from the table (a verb added to COMMANDS is named too)."""
    return " ".join(f":{v}" for v in sorted(set(COMMANDS.values())))


def parse_command(text: str) -> tuple[str, str]:
    """``"rs web"`` -> ("replicas", "web"). Raises ValueError with one sentence when unknown."""
    words = text.strip().lstrip(":").split(None, 1)
    if not words:
        raise ValueError(f"empty command; try {verbs_hint()} (Tab completes)")
    verb = COMMANDS.get(words[0].lower())
    if verb is None:
        raise ValueError(f"unknown command :{words[0]}; try {verbs_hint()} (Tab completes)")
    return verb, words[1].strip() if len(words) > 1 else ""
