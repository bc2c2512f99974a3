"""Services: name, image, desired/running/healthy, where clients reach it (its published
ingress ports, on every node, and the names the other services of its networks reach it by)
and how many of its replicas are in rotation, revision, rollout
progress, restarts; then the services the state does not know whose containers run (unowned:
kept, never desired)."""

from __future__ import annotations

from rich.text import Text

from tui_orch.model import RolloutState
from tui_orch.ui import data
from tui_orch.ui.arrange import natural
from tui_orch.ui.table import Row
from tui_orch.ui.views.base import View

ROLLOUT_STYLE = {
    RolloutState.RUNNING: "cyan", RolloutState.PAUSED: "yellow", RolloutState.COMPLETED: "green",
    RolloutState.ROLLING_BACK: "bold yellow", RolloutState.ROLLED_BACK: "yellow",
}


def rollout_cell(ro: data.Rollout | None, paused: bool) -> Text:
    if ro is None:
        return Text("paused" if paused else "-", style="yellow" if paused else "dim")
    style = ROLLOUT_STYLE.get(ro.state, "")
    if not ro.active and ro.state == RolloutState.COMPLETED:
        return Text(f"r{ro.to_revision} complete", style=style)
    width = 10
    done = ro.healthy / ro.total if ro.total else 1.0
    filled = round(done * width)
    out = Text(f"{ro.state.value} ", style=style)
    out.append("█" * filled, style=style)
    out.append("░" * (width - filled), style="dim")
    out.append(f" batch {ro.batch}/{ro.batches} {ro.healthy}/{ro.total}")
    if ro.failed:
        out.append(f" {ro.failed} failed", style="bold red")
    return out


UNOWNED = Text("unowned: not in this state, kept (restore the state, or remove it)", style="yellow")


def counts_cell(row: data.ServiceRow) -> Text:
    if row.unowned:
        return Text(f"-/{row.running}/-", style="yellow")
    ok = row.healthy >= row.desired and row.running >= row.desired
    return Text(f"{row.desired}/{row.running}/{row.healthy}", style="green" if ok else "yellow")


NONE = Text("-", style="dim")


def address_cell(row: data.ServiceRow) -> Text:
    """``8080 on every node``: an ingress port answers on every Ready node's edge proxy (the
    drill down lists the addresses: one per node, too many for a cell); ``db, database by
    name``: the names the other services of its networks reach it by."""
    parts = ([f"{', '.join(row.ingress)} on every node"] if row.ingress else []) + (
        [f"{', '.join(row.names)} by name"] if row.names else [])
    return Text("; ".join(parts)) if parts else NONE


def rotation_cell(row: data.ServiceRow) -> Text:
    """Replicas in rotation of those desired (and how many are draining); a service with no
    ingress port that no other service calls by name has no rotation."""
    if not row.ingress and not row.names:
        return NONE
    ok = row.in_rotation >= row.desired
    out = Text(f"{row.in_rotation}/{row.desired}", style="green" if ok else "yellow")
    if row.draining:
        out.append(f" {row.draining} draining", style="yellow")
    return out


class ServicesView(View):
    NAME = "services"
    COLUMNS = (("name", "NAME"), ("image", "IMAGE"), ("counts", "DESIRED/RUNNING/HEALTHY"),
               ("revision", "REV"), ("rollout", "ROLLOUT"), ("restarts", "RESTARTS"),
               ("address", "ADDRESS"), ("rotation", "IN ROTATION"))
    DESCENDING = frozenset({"counts", "revision", "restarts", "rotation"})

    def rows(self) -> list[Row]:
        out = []
        for s in [*self.reader.service_rows(), *self.reader.unowned_service_rows()]:
            rollout = UNOWNED if s.unowned else rollout_cell(s.rollout, s.paused)
            address, rotation = address_cell(s), rotation_cell(s)
            out.append(Row(s.name, (
                s.name, s.image, counts_cell(s), "-" if s.unowned else str(s.revision), rollout,
                Text(str(s.restarts), style="yellow" if s.restarts else ""), address, rotation,
            ), sort=(
                natural(s.name), s.image, (s.desired, s.running, s.healthy), -1 if s.unowned else s.revision,
                rollout.plain, s.restarts, address.plain, (s.in_rotation, s.desired) if rotation is not NONE else (-1, 0),
            )))
        return out
