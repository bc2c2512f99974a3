"""What a ``:`` line does once entered: a view (``:rs web`` filters it), ``:ev web`` (the
events of that service or node), ``:logs web.2`` / ``:logs web``, ``:scale web 5``, ``:q``,
``:help``, ``:rebalance`` (its plan, then a confirmation). A verb named as a destructive key's action is refused with --readonly; a wrong
verb or argument is one warning naming it and what to type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tui_orch.errors import TuiOrchError
from tui_orch.ui.actions import ActionsMixin
from tui_orch.ui.keys import DESTRUCTIVE_ACTIONS, parse_command
from tui_orch.ui.views import VIEWS

VIEW_NAMES = frozenset(cls.NAME for cls in VIEWS)
MAX_PLAN_LINES = 16  # of a rebalance plan in its confirmation (the CLI prints it whole)


def view_command(text: str) -> bool:
    """Whether a ``:`` line switches the view (it focuses that view's table)."""
    try:
        verb, _ = parse_command(text)
    except ValueError:
        return False
    return verb in VIEW_NAMES


class CommandsMixin(ActionsMixin):
    """Mixed into the main screen (``show_view``, ``action_help``): the actions with the
    ``:`` commands that name what they act on."""

    if TYPE_CHECKING:
        def show_view(self, name: str, scope: tuple[str, str] | None = None, filter: str = "",
                      inverse: bool = False, remember: bool = True, selected: str | None = None) -> None: ...
        def switch_view(self, name: str, filter: str = "") -> None: ...
        def action_help(self) -> None: ...
        def action_forwards(self) -> None: ...

    def names(self, kind: str) -> Sequence[str]:
        """The names of a kind ("service", "replica", "node") that ``:`` arguments take."""
        if kind == "service":
            return self.reader.service_names()
        if kind == "node":
            return self.reader.node_names()
        return [r.key for r in self.reader.replicas()]

    def command_runners(self) -> dict[str, Callable[[str], None]]:
        """verb -> what it does with its argument (a view's name without one here shows it)."""
        return {
            "quit": lambda _arg: self.app.exit(),
            "help": lambda _arg: self.action_help(),
            "forwards": lambda _arg: self.action_forwards(),
            "history": self.action_history,
            "logs": self.command_logs,
            "scale": self.command_scale,
            "rebalance": self.command_rebalance,
            "events": self.command_events,
        }

    def run_command(self, text: str) -> None:
        try:
            verb, arg = parse_command(text)
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return
        if self.orch.config.readonly and verb in DESTRUCTIVE_ACTIONS:
            self.notify(f":{verb} changes the fleet and the console is read-only (--readonly); "
                        f"open it without --readonly to {verb}", severity="warning")
            return
        run = self.command_runners().get(verb)
        if run is not None:
            run(arg)
        elif verb in VIEW_NAMES:
            self.switch_view(verb, filter=arg)
        else:  # an alias in keys.COMMANDS with nothing to run it
            self.notify(f":{verb} is not available in this console", severity="warning")

    def command_events(self, arg: str) -> None:
        """``:ev NAME``: the events of that service (or node), as a drill down does: a filter
        would also keep the events of others whose message names it. Other text filters."""
        if arg in self.names("service"):
            self.show_view("events", ("service", arg))
        elif arg in self.names("node"):
            self.show_view("events", ("node", arg))
        else:
            self.switch_view("events", filter=arg)

    def command_logs(self, arg: str) -> None:
        """``:logs``: the selected replica's (or service's); ``:logs web.2``: that replica's;
        ``:logs web``: every replica's of the service."""
        if not arg:
            self.action_logs()
        elif self.reader.replica(arg) is not None:
            self.replica_logs(arg)
        elif arg in self.names("service"):
            self.service_logs(arg)
        else:
            self.notify(f":logs {arg}: there is no replica or service {arg}; try :logs SERVICE.N or "
                        f":logs SERVICE (Tab completes the names)", severity="warning")

    def command_scale(self, arg: str) -> None:
        """``:scale web 5`` scales at once, as the scale dialog would have (the number typed is
        the confirmation); ``:scale web`` asks how many; ``:scale`` the selected service."""
        from tui_orch.ui.dialogs import parse_replicas

        words = arg.split()
        if not words:
            self.action_scale()
            return
        service = words[0]
        usage = "type :scale SERVICE COUNT, e.g. :scale web 3 (Tab completes the names)"
        if service not in self.names("service"):
            self.notify(f":scale {service}: there is no service {service}; {usage}", severity="warning")
        elif len(words) == 1:
            self.ask_scale(service)
        elif len(words) > 2:
            self.notify(f":scale {arg}: too many words; {usage}", severity="warning")
        else:
            try:
                count = parse_replicas(words[1])
            except ValueError as exc:
                self.notify(f":scale {arg}: {exc}", severity="warning")
                return
            self.scale_to(service, count)

    def command_rebalance(self, arg: str) -> None:
        """``:rebalance``: the plan (how many nodes it frees, what it moves) in a confirmation
        dialog that defaults to Cancel; confirmed, the moves run in the background (start-first,
        service by service) and one notification says what moved or where it stopped."""
        from tui_orch.ui.dialogs import ConfirmDialog

        if arg:
            self.notify(f":rebalance takes no argument (it looks at every service), not {arg!r}", severity="warning")
            return
        try:
            plan = self.ctl.rebalance_plan()
        except TuiOrchError as exc:
            self.notify(str(exc), title="rebalance", severity="error")
            return
        if not plan.plan.starts:
            self.notify("rebalance: nothing to move (no node can be freed onto nodes in use)")
            return
        lines = plan.describe().splitlines()
        text = "\n".join(lines[:MAX_PLAN_LINES] + ([f"... and {len(lines) - MAX_PLAN_LINES} more line(s)"]
                                                     if len(lines) > MAX_PLAN_LINES else []))
        text += "\n\nEach replica starts on its new node first; the old one stops once it passed the health gate."

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.act("rebalance", self.ctl.rebalance,
                         lambda result: self.notify(result.sentence(), severity="information" if result.ok else "error",
                                                    timeout=10))

        self.app.push_screen(ConfirmDialog(text, "Rebalance", title=f"Rebalance: free {plan.frees} node(s)?"),
                             confirmed)
