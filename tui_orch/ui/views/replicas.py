"""Replicas of every node in one list, scoped by a drill down (a node's, a service's):
service, replica, node, state, health, restarts, uptime, cpu, memory, port; then the containers
of services the state does not know, with no record (state ``unowned``)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from rich.text import Text

from tui_orch.model import Health, ReplicaState
from tui_orch.ui import data
from tui_orch.ui.table import Row
from tui_orch.ui.views.base import View
from tui_orch.ui.widgets import size, uptime

STATE_STYLE = {
    ReplicaState.RUNNING: "green", ReplicaState.STARTING: "cyan", ReplicaState.PENDING: "cyan",
    ReplicaState.STOPPING: "dim", ReplicaState.STOPPED: "dim", ReplicaState.EXITED: "yellow",
    ReplicaState.FAILED: "bold red", ReplicaState.LOST: "bold red",
}
HEALTH_STYLE = {Health.HEALTHY: "green", Health.STARTING: "cyan", Health.UNHEALTHY: "bold red", Health.NONE: "dim"}


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
               ("health", "HEALTH"), ("restarts", "RESTARTS"), ("uptime", "UPTIME"), ("cpu", "CPU"),
               ("memory", "MEMORY"), ("port", "PORT"))

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
        return Row(c.key, (c.service, c.key, c.node, state, styled("-", "dim"), "-", "-", "-", "-", "-"))

    @staticmethod
    def _row(r: data.ReplicaRow) -> Row:
        return Row(r.key, (
            r.service, r.key, r.node, state_cell(r.state, r.message),
            styled(r.health.value, HEALTH_STYLE.get(r.health, "")),
            styled(str(r.restarts), "yellow" if r.restarts else ""), uptime(r.uptime),
            "-" if r.cpu_percent is None else f"{r.cpu_percent:.0f}%", size(r.mem_used),
            ",".join(map(str, r.ports)) or "-",
        ))

    def replica(self, key: str | None = None) -> data.Replica | None:
        key = key or self.selected_key()
        return self.reader.replica(key) if key else None
