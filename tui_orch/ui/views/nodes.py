"""Nodes: one row per node (SIMULATED marked), state with reason, cpu/memory bars, disk,
load, network, allocated vs capacity, replicas. The selected node shows sparklines of its
cpu and memory over the last minutes and the replicas it runs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from tui_orch.errors import printable
from tui_orch.model import NodeState, ReplicaState
from tui_orch.ui import data
from tui_orch.ui.spark import PercentSpark
from tui_orch.ui.arrange import natural, number
from tui_orch.ui.table import Row, printable_text
from tui_orch.ui.views.base import View
from tui_orch.ui.widgets import bar, cores, short

# the state and the start of the reason (cut with "…": the detail pane shows it whole): the
# columns at 120 cells fit with any reason
STATE_WIDTH = 24

SPARK_SECONDS = 300  # the last five minutes
# deterministic mode (snapshot tests): the same curve every time
FIXED_CPU = [12, 18, 25, 22, 30, 41, 38, 35, 44, 52, 48, 40, 36, 42, 47, 55, 60, 52, 45, 38]
FIXED_MEM = [40, 41, 41, 42, 43, 43, 44, 46, 47, 47, 48, 48, 49, 50, 50, 51, 51, 52, 52, 53]


def state_cell(row: data.NodeRow) -> Text:
    if row.ready:
        return Text(row.state, style="yellow" if "(" in row.state else "green")
    out = Text(row.state, style="bold red")
    if row.reason:
        out.append(f" {row.reason}", style="red")
    return out


def name_cell(name: str, simulated: bool) -> Text:
    out = Text(name)
    if simulated:
        out.append(" SIMULATED", style="magenta")
    return out


class NodesView(View):
    NAME = "nodes"
    COLUMNS = (("name", "NAME"), ("state", "STATE"), ("cpu", "CPU"), ("memory", "MEMORY"), ("disk", "DISK"),
               ("load", "LOAD"), ("net", "NET RX/TX"), ("cpu_alloc", "CPU/CAP"), ("mem_alloc", "MEM/CAP"),
               ("replicas", "REPL"))
    DESCENDING = frozenset({"cpu", "memory", "disk", "load", "net", "cpu_alloc", "mem_alloc", "replicas"})
    MAX_WIDTHS = {"state": STATE_WIDTH}
    DEFAULT_CSS = """
    NodesView > ResourceTable { height: 1fr; }
    NodesView #node-detail { height: 9; border-top: solid $primary; }
    NodesView #node-sparks { width: 1fr; }
    NodesView #node-sparks PercentSpark { height: 2; margin: 0 1; }
    NodesView #node-sparks Static { height: 1; }
    NodesView #node-replicas { width: 1fr; height: 1fr; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield self.make_table()
        with Horizontal(id="node-detail"):
            with Vertical(id="node-sparks"):
                yield Static(id="cpu-label")
                yield PercentSpark(id="cpu-spark")
                yield Static(id="mem-label")
                yield PercentSpark(id="mem-spark")
            yield Static(id="node-replicas")

    def __init__(self) -> None:
        super().__init__()
        # the cells that seldom change, made once (a thousand nodes are redrawn every second)
        self._names: dict[tuple[str, bool], Text] = {}
        self._states: dict[tuple[str, bool, str], Text] = {}
        self._listing = Text()

    def rows(self) -> list[Row]:
        """Every node's row, in the fleet's order (made a slice at a time: View.sliced)."""
        return self.sliced(self.reader.node_names(), lambda due: map(self._row, self.reader.node_rows(only=due)))

    def _row(self, n: data.NodeRow) -> Row:
        name = self._names.get((n.name, n.simulated))
        if name is None:
            name = self._names[(n.name, n.simulated)] = name_cell(n.name, n.simulated)
        if len(self._states) > 4096:
            self._states.clear()
        state = self._states.get((n.state, n.ready, n.reason))
        if state is None:
            state = self._states[(n.state, n.ready, n.reason)] = state_cell(n)
        return Row(n.name, (
            name, state, bar(n.cpu_percent), bar(n.mem_percent),
            "-" if n.disk_percent is None else f"{n.disk_percent:.0f}%",
            "-" if n.load is None else f"{n.load:.2f}",
            "-" if n.net_rx is None else f"{short(n.net_rx)}/{short(n.net_tx)}",
            f"{cores(n.cpu_allocated)}/{cores(n.cpu_capacity)}",
            f"{short(n.mem_allocated)}/{short(n.mem_capacity)}",
            str(n.replicas),
        ), sort=(
            natural(n.name), (n.ready, n.state, n.reason), number(n.cpu_percent), number(n.mem_percent),
            number(n.disk_percent), number(n.load), (number(n.net_rx), number(n.net_tx)),
            (n.cpu_allocated, n.cpu_capacity), (n.mem_allocated, n.mem_capacity), n.replicas,
        ))

    def refresh_view(self) -> None:
        super().refresh_view()
        self.show_detail()

    def on_mount(self) -> None:
        # the detail pane follows the cursor in the same frame (a RowHighlighted handler
        # runs later, and its repaint waits for the next frame: ~20-30 ms more per key)
        self.table.on_cursor_moved = lambda key: self.show_detail()

    def show_detail(self) -> None:
        key = self.selected_key()
        node = self.reader.node(key) if key else None
        cpu_label, mem_label = self.query_one("#cpu-label", Static), self.query_one("#mem-label", Static)
        cpu, mem = self.query_one("#cpu-spark", PercentSpark), self.query_one("#mem-spark", PercentSpark)
        listing = self.query_one("#node-replicas", Static)
        if node is None:
            cpu_label.update("no node selected", layout=False)
            mem_label.update("", layout=False)
            cpu.data, mem.data = [], []
            listing.update("", layout=False)
            self._listing = Text()
            return
        if self.orch.config.deterministic:
            cpu_series, mem_series = list(map(float, FIXED_CPU)), list(map(float, FIXED_MEM))
        else:
            samples = [s for s in node.history.samples if node.metrics and node.metrics.time - s.time <= SPARK_SECONDS]
            cpu_series = [s.cpu_percent for s in samples]
            mem_series = [s.mem_percent for s in samples]
        now_cpu = f"{cpu_series[-1]:.0f}%" if cpu_series else "-"
        now_mem = f"{mem_series[-1]:.0f}%" if mem_series else "-"
        cpu_label.update(Text.assemble((printable(node.name), "bold"), f"  {node.status.state.value}  cpu {now_cpu} "
                                       "(last 5 minutes)"), layout=False)  # one line each, always
        mem_label.update(f"memory {now_mem}", layout=False)
        cpu.data, mem.data = cpu_series, mem_series
        reps = self.reader.replicas_on(node.name)
        text = Text()
        if node.status.state != NodeState.READY and node.status.reason:  # in full, wrapped: what to do
            text.append(f"{node.status.state.value}: {node.status.reason}\n", style="yellow")
        for warning in node.warnings:  # the node works; what its connection went on past
            text.append(f"warning: {warning}\n", style="yellow")
        text.append(f"replicas on {node.name}: {len(reps)}\n", style="bold")
        for r in reps[:7]:
            style = "green" if r.state == ReplicaState.RUNNING else "yellow"
            text.append(f"{r.key:<24} ", style="")
            text.append(f"{r.state.value}\n", style=style)
        if len(reps) > 7:
            text.append(f"... and {len(reps) - 7} more (enter lists them)", style="dim")
        if text != self._listing:
            self._listing = text
            listing.update(printable_text(text), layout=False)  # a fixed size: no layout pass; a
            # reason from a host and a node's name shown escaped
