"""Actions on the marked rows (space marks a row, as in k9s): restart, remove, cordon, drain
and uncordon act on every marked service or node after one confirmation (Cancel the
default) that lists what each goes through; the commands run one after another (a drain of
several nodes cordons them all first, so that what leaves one does not land on the next),
and one notification at the end names each one that failed and why. With no row marked the
keys act on the cursor's row, as actions.py says.

The controller restarts and removes whole services (it has no command for one replica):
marked replicas stand for their services, each once, and for their nodes for cordon and
drain; ctrl+d removes services only, from the services view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from tui_orch.controller.results import ApplyResult
from tui_orch.errors import TuiOrchError, printable_lines
from tui_orch.model import Rollout, RolloutState
from tui_orch.ui.actions import ActionsMixin, drain_counts, result_sentence

if TYPE_CHECKING:
    from tui_orch.controller.query import Query

LISTED = 8  # lines of a confirmation that name a service or node; the rest are counted


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def listing(lines: Sequence[str]) -> str:
    """One line each, the first LISTED of them (a thousand marked nodes make one dialog)."""
    shown = [f"  {line}" for line in lines[:LISTED]]
    if len(lines) > LISTED:
        shown.append(f"  and {len(lines) - LISTED} more")
    return "\n".join(shown)


@dataclass(frozen=True)
class Bulk:
    """One action on several services or nodes: its words and the command for each."""

    verb: str  # "drain": the confirm button's label (capitalised) and the worker's name
    past: str  # "drained": the summary's
    noun: str  # "node" or "service"
    names: tuple[str, ...]
    call: Callable[[str], Awaitable[Any]]
    before: Callable[[str], Awaitable[Any]] | None = None  # run on every name first (a drain's cordon)

    @property
    def what(self) -> str:
        return f"{self.verb} {plural(len(self.names), self.noun)}"

    async def run(self) -> tuple[list[str], int]:
        """Each name's command, one after another: a sentence for each that went wrong, and
        how many of them are commands refused (the others did what they could: a drain with
        a replica that found no room)."""
        problems: dict[str, str] = {}
        refused = 0
        for step in (self.before, self.call):
            for name in self.names:
                if step is None or name in problems:
                    continue
                try:
                    outcome = await step(name)
                except Exception as exc:  # noqa: BLE001 - one sentence per item, never a traceback
                    why = str(exc) if isinstance(exc, TuiOrchError) else f"{exc.__class__.__name__}: {exc}"
                    problems[name] = f"{name}: {why}"
                    refused += 1
                else:
                    if step is self.call and (shortfall := problem(name, outcome)) is not None:
                        problems[name] = shortfall
        return list(problems.values()), refused

    def summary(self, problems: Sequence[str], refused: int) -> tuple[str, str]:
        """``drained 3 nodes; sim-7: there is no node sim-7 ...`` and its severity (what
        ``run`` returned)."""
        done = len(self.names) - refused
        head = f"{self.past} {plural(done, self.noun)}" if done else f"{self.what}: none {self.past}"
        severity = "information" if not problems else "warning" if done else "error"
        return printable_lines("; ".join([head, *problems])), severity  # errors quote hosts


def problem(name: str, outcome: object) -> str | None:
    """What fell short in a command's result, or None when it did all it was asked."""
    if isinstance(outcome, ApplyResult) and not outcome.ok:
        return result_sentence(name, outcome)[0]
    if isinstance(outcome, Rollout) and outcome.state not in (RolloutState.COMPLETED, RolloutState.RUNNING):
        return f"{name}: rollout {outcome.state.value} ({outcome.progress})"
    return None


def replicas_of(reader: "Query", service: str) -> str:
    return plural(len(reader.replicas(service)), "replica")


def restart_question(reader: "Query", services: Sequence[str], from_replicas: int = 0) -> str:
    """``from_replicas``: how many replicas were marked (the controller restarts services)."""
    why = (f"The controller restarts whole services: the {plural(from_replicas, 'marked replica')} "
           f"belong to {plural(len(services), 'service')}.\n" if from_replicas else "")
    return (f"{why}Rolling restart of {plural(len(services), 'service')}, each batch by batch as its "
            f"update_config says:\n" + listing([f"{s}: {replicas_of(reader, s)}" for s in services]))


def remove_question(reader: "Query", services: Sequence[str]) -> str:
    return (f"Remove {plural(len(services), 'service')} and stop their replicas?\n"
            + listing([f"{s}: {replicas_of(reader, s)} stop" for s in services]))


def availability_question(verb: str, nodes: Sequence[str], effect: str) -> str:
    """``Cordon 3 nodes: each keeps its replicas and gets no new ones?`` and the nodes."""
    return f"{verb.capitalize()} {plural(len(nodes), 'node')}: {effect}?\n" + listing(list(nodes))


def drain_question(reader: "Query", nodes: Sequence[str]) -> str:
    how = "All are cordoned first, then drained one by one" if len(nodes) > 1 else "It gets nothing new"
    return f"{how}:\n" + listing([drain_line(reader, n) for n in nodes])


def drain_line(reader: "Query", node: str) -> str:
    """``sim-1: 2 replicas move, 1 stops (global: agent)``"""
    move, stop, globals_ = drain_counts(reader, node)
    stops = f", {stop} stop{'s' if stop == 1 else ''} (global: {', '.join(globals_)})" if stop else ""
    return f"{node}: {plural(move, 'replica')} move{'s' if move == 1 else ''}{stops}"


class MarkedActions(ActionsMixin):
    """The actions that take marked rows (the main screen's mixin): each runs on the marked
    rows' services or nodes when a row is marked, else as ActionsMixin does."""

    if TYPE_CHECKING:
        def _show_crumb(self) -> None: ...

    def marked_targets(self, kind: str) -> list[str] | None:
        """The services or nodes of the marked rows, in the order shown (a replica stands for
        its service or node, each named once); None when no row is marked (an action is then
        about the cursor's row), [] when the marked rows have none (said)."""
        view = self.current
        marked = view.table.marked_keys()
        if not marked:
            return None
        if view.NAME == f"{kind}s":
            return marked
        if view.NAME == "replicas":
            reps = [rep for key in marked if (rep := self.reader.replica(key)) is not None]
            names = list(dict.fromkeys(rep.service if kind == "service" else rep.node for rep in reps))
            if names:
                return names
        self.notify(f"the marked rows are not {kind}s: mark {kind}s in the {kind}s view (esc clears the marks)",
                    severity="warning")
        return []

    def bulk(self, bulk: Bulk, question: str) -> None:
        """Ask once (Cancel the default), then run ``bulk``; the rows lose their marks when
        confirmed; one notification when it is over."""
        from tui_orch.ui.dialogs import ConfirmDialog

        table = self.current.table

        def done(outcome: tuple[list[str], int]) -> None:
            text, severity = bulk.summary(*outcome)
            self.notify(text, severity=cast(Any, severity), timeout=10 if outcome[0] else None, markup=False)

        def confirmed(yes: bool | None) -> None:
            if yes:
                table.clear_marks()
                self._show_crumb()
                self.act(bulk.what, bulk.run, done)

        self.app.push_screen(ConfirmDialog(question, bulk.verb.capitalize(), title=f"{bulk.what.capitalize()}?"),
                             confirmed)

    def action_restart(self) -> None:
        services = self.marked_targets("service")
        if services is None:
            super().action_restart()
        elif services:
            replicas = len(self.current.table.marked) if self.current.NAME == "replicas" else 0
            self.bulk(Bulk("restart", "restarted", "service", tuple(services), self.ctl.rollout_restart),
                      restart_question(self.reader, services, replicas))

    def action_delete(self) -> None:
        services = self.marked_targets("service") if self.current.NAME == "services" else None
        if services is None:
            super().action_delete()
        elif services:
            self.bulk(Bulk("remove", "removed", "service", tuple(services), self.ctl.remove),
                      remove_question(self.reader, services))

    def action_drain(self) -> None:
        nodes = self.marked_targets("node")
        if nodes is None:
            super().action_drain()
        elif nodes:  # cordoned first: what leaves one does not land on the next
            before = self.ctl.cordon if len(nodes) > 1 else None
            self.bulk(Bulk("drain", "drained", "node", tuple(nodes), self.ctl.drain, before),
                      drain_question(self.reader, nodes))

    def availability(self, verb: str, past: str, call: Callable[[str], Awaitable[Any]], effect: str) -> bool:
        """``call`` on each marked node after one confirmation; False when no row is marked."""
        nodes = self.marked_targets("node")
        if nodes:
            self.bulk(Bulk(verb, past, "node", tuple(nodes), call), availability_question(verb, nodes, effect))
        return nodes is not None

    def action_cordon(self) -> None:
        if not self.availability("cordon", "cordoned", self.ctl.cordon, "each keeps its replicas and gets no new ones"):
            super().action_cordon()

    def action_uncordon(self) -> None:
        if not self.availability("uncordon", "uncordoned", self.ctl.uncordon, "new replicas may be placed there again"):
            super().action_uncordon()
