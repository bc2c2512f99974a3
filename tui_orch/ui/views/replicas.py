"""Replicas of every node in one list, scoped by a drill down (a node's, a service's):
service, replica, node, state, health, rotation, restarts, uptime, cpu, memory, port; then the
containers of services the state does not know, with no record (state ``unowned``). Scoped to a
service, the addresses clients reach it at (its ingress ports) and the names other services
call it are listed above."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from tui_orch.model import Health, ReplicaState
from tui_orch.ui import data
from tui_orch.ui.arrange import natural, number
from tui_orch.ui.table import Row, printable_text
from tui_orch.ui.views.base import View
from tui_orch.ui.widgets import size, uptime

STATE_STYLE = {
    ReplicaState.RUNNING: "green", ReplicaState.STARTING: "cyan", ReplicaState.PENDING: "cyan",
    ReplicaState.STOPPING: "dim", ReplicaState.STOPPED: "dim", ReplicaState.EXITED: "yellow",
    ReplicaState.FAILED: "bold red", ReplicaState.LOST: "bold red",
}
HEALTH_STYLE = {Health.HEALTHY: "green", Health.STARTING: "cyan", Health.UNHEALTHY: "bold red", Health.NONE: "dim"}
ROTATION_STYLE = {"in": "green", "draining": "yellow", "out": "bold red", "-": "dim"}
SHOWN_ADDRESSES = 12  # listed above a service's replicas; the rest counted (1,000 nodes ...)


def reach_text(service: str, real: list[str], simulated: list[str],
               names: tuple[list[str], list[str]] = ([], [])) -> Text:
    """Where clients reach ``service`` (its ingress ports at every Ready node's address); on
    simulated nodes no edge proxy runs: they are named, and said to be simulated. Then the
    names the other services of its networks reach it by (``names``: names, networks)."""
    out = Text()
    for found, lead in ((real, f"{service} answers at "),
                        (simulated, "SIMULATED nodes (no edge proxy answers there): ")):
        if not found:
            continue
        if out:
            out.append("\n")
        out.append(lead, style="bold" if found is real else "magenta")
        out.append(", ".join(found[:SHOWN_ADDRESSES]))
        if len(found) > SHOWN_ADDRESSES:
            out.append(f" and {len(found) - SHOWN_ADDRESSES} more", style="dim")
    called, networks = names
    if called:
        out.append("\n" if out else "")
        out.append(f"{service} is called ", style="bold")
        out.append(", ".join(called))
        out.append(f" by the services of {', '.join(networks)}", style="dim")
    return printable_text(out)  # names and addresses come from files


@lru_cache(maxsize=4096)
def state_cell(state: ReplicaState, message: str) -> Text:
    """The state, and why when it does not run: ``exited with code 1`` (not ``exited exited
    with code 1``: a message that starts with the state's word continues it)."""
    cell = Text(state.value, style=STATE_STYLE.get(state, ""))
    if message and state != ReplicaState.RUNNING:
        rest = message[len(state.value):] if message.startswith(state.value + " ") else " " + message
        cell.append(rest, style="dim")
    return cell


@lru_cache(maxsize=256)
def styled(text: str, style: str) -> Text:
    """A cell's Text, shared by every cell that shows the same (do not change it)."""
    return Text(text, style=style)


class ReplicasView(View):
    NAME = "replicas"
    COLUMNS = (("service", "SERVICE"), ("replica", "REPLICA"), ("node", "NODE"), ("state", "STATE"),
               ("health", "HEALTH"), ("rotation", "ROTATION"), ("restarts", "RESTARTS"), ("uptime", "UPTIME"),
               ("cpu", "CPU %CORE"), ("memory", "MEMORY"), ("port", "PORT"))
    # (CPU: a replica's use in % of one core, as the node's cgroup counts it: 250% is 2.5 cores)
    DESCENDING = frozenset({"restarts", "cpu", "memory"})

    DEFAULT_CSS = """
    ReplicasView #service-reach { height: auto; max-height: 3; padding: 0 1; border-bottom: solid $primary; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._reach = Text()  # what #service-reach shows

    def compose(self) -> ComposeResult:
        reach = Static(id="service-reach")
        reach.display = False  # shown only in a drill down to a service with ingress ports
        yield reach
        yield self.make_table()

    def refresh_view(self) -> None:
        super().refresh_view()
        self.show_reach()

    def show_reach(self) -> None:
        """Above a service's replicas: the addresses its clients reach it at and the names the
        other services of its networks call it (none for the replicas of a node, of every
        service, or of a service with neither)."""
        text = Text()
        if self.scope is not None and self.scope[0] == "service":
            name = self.scope[1]
            text = reach_text(name, self.reader.addresses(name), self.reader.addresses(name, simulated=True),
                              self.reader.names(name))
        if text != self._reach:
            self._reach = text
            pane = self.query_one("#service-reach", Static)
            pane.update(text)
            pane.display = bool(text)

    def rows(self) -> list[Row]:
        """Every replica's row (of the scope), ordered by service, slot, node (made a slice at
        a time: View.sliced)."""
        reps = self.reader.replicas()  # in the rows' order
        strays = self.reader.unowned_containers()
        if self.scope is not None:
            field, value = self.scope
            reps = [r for r in reps if getattr(r, field) == value]
            strays = [c for c in strays if getattr(c, field) == value]
        keys = {r.key for r in reps}
        strays = [c for c in strays if c.key not in keys]

        def make(due: set[str] | None) -> Iterable[Row]:
            chosen = reps if due is None else [r for r in reps if r.key in due]
            yield from map(self._row, self.reader.replica_rows(self.orch.now(), chosen))
            yield from (self._unowned_row(c) for c in strays if due is None or c.key in due)

        return self.sliced([*(r.key for r in reps), *(c.key for c in strays)], make)

    @staticmethod
    def _unowned_row(c: data.UnownedContainer) -> Row:
        state = styled("unowned" if c.running else "unowned (stopped)", "yellow")
        none = styled("-", "dim")
        return Row(c.key, (c.service, c.key, c.node, state, none, none, "-", "-", "-", "-", "-"), sort=(
            natural(c.service), natural(c.key), natural(c.node), (state.plain, ""), "-", "-", 0,
            number(None), number(None), number(None), ()))

    @staticmethod
    def _row(r: data.ReplicaRow) -> Row:
        return Row(r.key, (
            r.service, r.key, r.node, state_cell(r.state, r.message),
            styled(r.health.value, HEALTH_STYLE.get(r.health, "")),
            styled(r.rotation or "-", ROTATION_STYLE.get(r.rotation or "-", "")),
            styled(str(r.restarts), "yellow" if r.restarts else ""), uptime(r.uptime),
            "-" if r.cpu_percent is None else f"{r.cpu_percent:.0f}%", size(r.mem_used),
            ",".join(map(str, r.ports)) or "-",
        ), sort=(
            natural(r.service), natural(r.key), natural(r.node), (r.state.value, r.message), r.health.value,
            r.rotation or "-", r.restarts, number(r.uptime), number(r.cpu_percent), number(r.mem_used), r.ports,
        ))

    def replica(self, key: str | None = None) -> data.Replica | None:
        key = key or self.selected_key()
        return self.reader.replica(key) if key else None
