"""What the operator's keys do to the fleet: every action calls the controller (or a node
through the fleet) in a worker, so the screen never waits; an error the controller raises
becomes one notification, never a traceback."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from tui_orch.errors import TuiOrchError
from tui_orch.model import NodeState, Rollout

if TYPE_CHECKING:
    from tui_orch.controller import ApplyResult, Controller
    from tui_orch.controller.query import Query
    from tui_orch.controller.volume_move import MoveResult
    from tui_orch.ui.app import OrchApp
    from tui_orch.ui.views import View

Outcome: TypeAlias = "ApplyResult | Rollout | str | None"  # what a console command returns


def result_sentence(what: str, result: "ApplyResult", empty: str = "nothing to do") -> tuple[str, str]:
    """One line about an apply/scale/remove result, and its severity."""
    parts = []
    if result.revisions:
        parts.append(", ".join(f"{s} revision {n}" for s, n in result.revisions.items()))
    if result.unchanged:
        parts.append(f"unchanged: {', '.join(result.unchanged)}")
    if result.started:
        parts.append(f"{len(result.started)} started")
    if result.stopped:
        parts.append(f"{len(result.stopped)} stopped")
    if result.failed:
        parts.append(f"{len(result.failed)} failed: {result.failed[0]}")
    if result.unschedulable:
        parts.append(f"cannot place: {result.unschedulable[0]}")
    return f"{what}: {'; '.join(parts) or empty}", "information" if result.ok else "warning"


class ActionsMixin:
    """Mixed into the main screen (``current`` is the shown view)."""

    if TYPE_CHECKING:
        orch: OrchApp
        current: View
        app: Any

        def notify(self, message: str, *, title: str = "", severity: Any = "information",
                   timeout: float | None = None, markup: bool = True) -> None: ...
        def run_worker(self, work: Any, *args: Any, **kwargs: Any) -> Any: ...

    @property
    def ctl(self) -> "Controller":
        return self.orch.controller

    @property
    def reader(self) -> "Query":
        return self.orch.reader

    # ------------------------------------------------------------------ running
    def act(self, what: str, work: Callable[[], Awaitable[Any] | Any], done: Callable[[Any], None] | None = None) -> None:
        """Run ``work`` in a worker; report its error as one notification."""
        if self.orch.config.readonly:
            self.notify("the console is read-only (--readonly)", severity="warning")
            return

        async def guarded() -> None:
            try:
                result = work()
                if inspect.isawaitable(result):
                    result = await result
            except TuiOrchError as exc:
                self.notify(str(exc), title=what, severity="error", timeout=10)
            except Exception as exc:  # noqa: BLE001 - never a traceback on screen
                self.notify(f"{what} failed: {exc.__class__.__name__}: {exc}", severity="error", timeout=10)
            else:
                if done is not None:
                    done(result)
            self.orch.refresh_now()

        self.run_worker(guarded(), group="actions", name=what, exit_on_error=False)

    def report(self, what: str, empty: str = "nothing to do") -> Callable[[Outcome], None]:
        """Notify the result of a command; ``empty``: what to say when it changed nothing."""
        def done(result: Outcome) -> None:
            if result is None or isinstance(result, str):
                self.notify(result or f"{what}: done")
            elif isinstance(result, Rollout):
                self.notify(f"{what}: {result.progress}")
            else:
                text, severity = result_sentence(what, result, empty)
                self.notify(text, severity=cast(Any, severity))
        return done

    # ------------------------------------------------------------------ targets
    def target(self, kind: str) -> str | None:
        """The service, node or replica the action is about, from the selected row."""
        view = self.current
        key = view.selected_key()
        rep = self.reader.replica(key) if key and view.NAME == "replicas" else None
        name = None
        if kind == "service":
            name = key if view.NAME == "services" else rep.service if rep else None
        elif kind == "node":
            name = key if view.NAME == "nodes" else rep.node if rep else None
        elif kind == "replica":
            name = rep.key if rep else None
        if name is None:
            where = {"service": "the services or replicas view", "node": "the nodes or replicas view",
                     "replica": "the replicas view"}[kind]
            self.notify(f"select a {kind} first (in {where})", severity="warning")
        return name

    # ------------------------------------------------------------------ services
    def action_deploy(self, start: Path | None = None) -> None:
        """`a`: pick a manifest, see its plan, deploy it (``start``: the file to begin with)."""
        from tui_orch.ui.dialogs import ConfirmDialog, DeployDialog

        planned: dict[Path, dict[str, list[int]]] = {}  # what each plan shown was made on

        async def preview(path: Path) -> "ApplyResult":
            from tui_orch.manifest import load_manifest

            manifest = await asyncio.to_thread(load_manifest, path)
            result = await self.ctl.apply(manifest, dry_run=True)
            planned[path] = result.basis
            return result

        def chosen(path: Path | None) -> None:
            if path is None:
                return

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.deploy(path, expect=planned.get(path))

            # its own step: the file named here is the one deployed, whatever had the focus
            self.app.push_screen(ConfirmDialog(f"Deploy {path} as its plan showed?", "Deploy",
                                               title=f"Deploy {path.name}?"), confirmed)

        self.app.push_screen(DeployDialog(self.orch.config.deploy_folder(), preview, start), chosen)

    def deploy(self, path: Path, expect: dict[str, list[int]] | None = None) -> None:
        """Deploy ``path``; ``expect``: the basis of the plan the operator confirmed (another
        operator's change since then refuses the deploy and offers a new plan)."""
        from tui_orch.errors import PlanOutdated

        async def work() -> "ApplyResult | None":
            from tui_orch.manifest import load_manifest

            manifest = await asyncio.to_thread(load_manifest, path)
            try:
                return await self.ctl.apply(manifest, output=self.build_progress(f"deploy {path.name}"), expect=expect)
            except PlanOutdated as exc:
                self.offer_new_plan(str(exc), path)
                return None

        said = self.report(f"deploy {path.name}")
        self.notify(f"deploying {path.name}...")
        self.act(f"deploy {path.name}", work, lambda result: None if result is None else said(result))

    def offer_new_plan(self, why: str, path: Path) -> None:
        from tui_orch.ui.dialogs import ConfirmDialog

        self.app.clear_notifications()  # "deploying ..." is over

        def answered(yes: bool | None) -> None:
            if yes:
                self.action_deploy(path)

        self.app.push_screen(ConfirmDialog(f"{why}.", "Plan again", title="Someone changed it first"), answered)

    def build_progress(self, what: str) -> Callable[[str], None]:
        """Show an image build's progress as notifications: where it builds, each step, the
        image it gave (a failure is the command's error notification, with the error lines)."""
        def show(line: str) -> None:
            if line.startswith(("building ", "built ")) or " | Step " in line:
                self.notify(line, title=what, timeout=4, markup=False)
        return show

    def action_scale(self) -> None:
        service = self.target("service")
        if service is not None:
            self.ask_scale(service)

    def ask_scale(self, service: str) -> None:
        """How many replicas ``service`` should run (the scale dialog), then scale it."""
        from tui_orch.ui.dialogs import ScaleDialog

        if not self.scalable(service):  # refused before a number is asked for
            return
        current = next((r.desired for r in self.reader.service_rows() if r.name == service), 0)

        def chosen(count: int | None) -> None:
            if count is not None:
                self.scale_to(service, count)

        self.app.push_screen(ScaleDialog(service, current), chosen)

    def scalable(self, service: str) -> bool:
        spec = self.reader.spec(service)
        if spec is not None and spec.mode == "global":
            self.notify(f"{service} is global (one replica per node); it cannot be scaled", severity="warning")
            return False
        return True

    def scale_to(self, service: str, count: int) -> None:
        """Scale ``service`` to ``count`` replicas (0 to MAX_REPLICAS: the dialog's check)."""
        if self.scalable(service):
            self.act(f"scale {service}", lambda: self.ctl.scale(service, count),
                     self.report(f"scale {service} to {count}"))

    def action_delete(self) -> None:
        from tui_orch.ui.dialogs import ConfirmDialog

        if self.current.NAME != "services":
            self.notify("ctrl+d removes a service: select it in the services view (:svc)", severity="warning")
            return
        service = self.target("service")
        if service is None:
            return
        count = len(self.reader.replicas(service))

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.act(f"remove {service}", lambda: self.ctl.remove(service),
                         self.report(f"remove {service}", empty="removed (it had no replicas)"))

        self.app.push_screen(ConfirmDialog(f"Remove service {service} and stop its {count} "
                                           f"replica{'s' if count != 1 else ''}?", "Delete"), confirmed)

    def rollout_action(self, call: Callable[[str], Any], what: str, confirm: str = "") -> None:
        """``call(service)`` on the selected service; with ``confirm`` (the button's label)
        ask first, Cancel being the default."""
        from tui_orch.ui.dialogs import ConfirmDialog

        service = self.target("service")
        if service is None:
            return

        def go(yes: bool | None = True) -> None:
            if yes:
                self.act(f"{what} {service}", lambda: call(service), self.report(f"{what} {service}"))

        if not confirm:
            go()
            return
        count = len(self.reader.replicas(service))
        self.app.push_screen(ConfirmDialog(f"{confirm} {service}: replace its {count} replica(s) batch by batch "
                                           "as its update_config says?", confirm, title=f"{confirm} {service}?"), go)

    def action_restart(self) -> None:
        self.rollout_action(self.ctl.rollout_restart, "rolling restart of", confirm="Restart")

    def action_pause(self) -> None:
        self.rollout_action(self.ctl.rollout_pause, "pause rollout of")

    def action_resume(self) -> None:
        self.rollout_action(self.ctl.rollout_resume, "resume rollout of")

    def action_undo(self) -> None:
        self.rollout_action(self.ctl.rollout_undo, "roll back", confirm="Roll back")

    def action_history(self, service: str = "") -> None:
        """`h` (or `:history NAME`): the rollout history of the service, its diffs, undo to one."""
        from tui_orch.ui.history import HistoryScreen, ReadonlyHistoryScreen

        name = service or self.target("service")
        if name is None:
            return
        if not self.reader.revision_rows(name):
            self.notify(f"there is no service {name}; see :svc for the deployed ones", severity="warning")
            return
        screen = ReadonlyHistoryScreen if self.orch.config.readonly else HistoryScreen
        self.app.push_screen(screen(name))

    def action_graph(self) -> None:
        """`g`: the last hour of cpu and memory of the selected node (nodes view) or service
        (services view; the replica's service in the replicas view)."""
        from tui_orch.ui.plots import PlotScreen

        kind = "node" if self.current.NAME == "nodes" else "service"
        name = self.target(kind)
        if name is not None:
            self.app.push_screen(PlotScreen(kind, name))

    # ------------------------------------------------------------------ nodes
    def node_action(self, call: Callable[[str], Any], what: str) -> None:
        node = self.target("node")
        if node is not None:
            self.act(f"{what} {node}", lambda: call(node), self.report(f"{what} {node}"))

    def action_cordon(self) -> None:
        self.node_action(self.ctl.cordon, "cordon")

    def action_drain(self) -> None:
        from tui_orch.ui.dialogs import ConfirmDialog

        node = self.target("node")
        if node is None:
            return
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.act(f"drain {node}", lambda: self.ctl.drain(node), self.report(f"drain {node}"))

        self.app.push_screen(ConfirmDialog(drain_question(self.reader, node), "Drain", title="Drain the node?"),
                             confirmed)

    def action_uncordon(self) -> None:
        self.node_action(self.ctl.uncordon, "uncordon")

    def action_trust(self) -> None:
        from tui_orch.ui.dialogs import TrustDialog

        name = self.target("node")
        if name is None:
            return
        reader = self.reader
        if reader.node(name) is None:
            return

        def fetched(offer: Any) -> None:  # nodes.hostkeys.Offer: one hop's key, the node's or a jump host's

            def confirmed(yes: bool | None) -> None:
                if yes:  # only the key the operator saw is recorded, for the hop it was shown for
                    self.act(f"trust {offer.hop}", lambda: reader.trust(name, offer.fingerprint),
                             self.report(f"trust {offer.hop}"))

            address = f"{offer.host}:{offer.port}"
            hop = offer.hop if offer.jump else ""
            self.app.push_screen(TrustDialog(name, address, offer.fingerprint, offer.algorithm, offer.file, hop),
                                 confirmed)

        self.act(f"fetch the host key of {name}", lambda: reader.host_key(name), fetched)

    # ------------------------------------------------------------------ volumes
    def action_move_volume(self) -> None:
        """Move the selected replica (or the one replica of the selected service) to another
        node with its named volumes: pick the node, confirm, watch the copy."""
        from tui_orch.ui.volume_dialogs import MoveProgressDialog, VolumeMoveDialog

        key = self.target("replica") if self.current.NAME == "replicas" else self.target("service")
        reps = [r for r in self.reader.replicas(key.split(".", 1)[0] if key else "")
                if key is not None and (r.key == key or r.service == key)]
        if key is None or not reps:
            return
        if len(reps) > 1:
            self.notify(f"{key} has {len(reps)} replicas: select the one to move in the replicas view",
                        severity="warning")
            return
        rep = reps[0]
        nodes = [n for n in self.reader.node_names() if n != rep.node and (node := self.reader.node(n)) is not None
                 and node.status.state == NodeState.READY]
        if not nodes:
            self.notify(f"there is no other Ready node to move {rep.key} to", severity="warning")
            return

        def chosen(target: str | None) -> None:
            if target is None:
                return
            dialog = MoveProgressDialog(rep.key, target)
            self.app.push_screen(dialog)

            async def work() -> "MoveResult":
                outcome = "the move failed"
                try:
                    result = await self.ctl.volume_move(rep.key, target, dialog.show)
                    outcome = result.sentence()
                    return result
                finally:
                    dialog.finish(outcome)

            def done(result: "MoveResult") -> None:
                self.notify(result.sentence(), title=f"move {rep.key}", timeout=10)
                for line in result.warnings:
                    self.notify(line, severity="warning", timeout=10)

            self.act(f"move {rep.key} to {target}", work, done)

        self.app.push_screen(VolumeMoveDialog(rep.key, rep.node, nodes), chosen)

    # ------------------------------------------------------------------ replicas
    def replica_container(self, key: str | None = None) -> tuple[Any, str, str] | None:
        """The node, container id and key of replica ``key`` (None: the selected one)."""
        key = key or self.target("replica")
        rep = self.reader.replica(key) if key else None
        if rep is None:
            return None
        node = self.reader.node(rep.node)
        if node is None or not rep.container_id:
            self.notify(f"{rep.key} has no container on {rep.node}", severity="warning")
            return None
        return node, rep.container_id, rep.key

    def action_logs(self) -> None:
        """`l`: the selected replica's logs; on a service (the services view), every replica's."""
        if self.current.NAME == "services":
            self.action_service_logs()
            return
        self.replica_logs()

    def replica_logs(self, key: str | None = None) -> None:
        """The logs of replica ``key`` (None: the selected one)."""
        from tui_orch.ui.logs import LogsScreen

        found = self.replica_container(key)
        if found is not None:
            node, container_id, key = found
            self.app.push_screen(LogsScreen.of_replica(node, container_id, key))

    def action_service_logs(self) -> None:
        """`L`: every replica's logs of the selected service (or the selected replica's, or the
        service a replicas view is scoped to), interleaved as they come."""
        view = self.current
        scoped = view.scope[1] if view.scope and view.scope[0] == "service" else None
        service = scoped if scoped and view.selected_key() is None else self.target("service")
        if service is not None:
            self.service_logs(service)

    def service_logs(self, service: str) -> None:
        """Every replica's logs of ``service`` (`L`, ``:logs web``)."""
        from tui_orch.ui.logs import LogsScreen, log_sources

        if not self.reader.replicas(service) and self.reader.spec(service) is None:
            self.notify(f"{service} has no replica the controller knows of", severity="warning")
            return
        self.app.push_screen(LogsScreen.of_service(service, log_sources(self.reader, service)))

    def action_port_forward(self) -> None:
        """`f`: forward a local port to a port of the selected replica (asked in a dialog);
        a replica that cannot be forwarded (simulated, not running) is said at once."""
        from tui_orch.ui.forwards import ForwardDialog, Ports

        key = self.target("replica")
        if key is None:
            return
        reader = self.reader
        try:
            container_port, local_port = reader.forwards.defaults(key)
        except TuiOrchError as exc:
            self.notify(str(exc), title="port-forward", severity="warning", timeout=10)
            return
        rep = reader.replica(key)

        def chosen(ports: Ports | None) -> None:
            if ports is not None:
                self.run_worker(self._forward(key, *ports), group="actions", name=f"port-forward {key}",
                                exit_on_error=False)

        self.app.push_screen(ForwardDialog(key, rep.node if rep else "its node", container_port, local_port), chosen)

    async def _forward(self, key: str, container_port: int, local_port: int) -> None:
        """Open the forward; not act(): a read-only console forwards too (it changes nothing)."""
        try:
            forward = await self.reader.forward(key, container_port, local_port)
        except TuiOrchError as exc:
            self.notify(str(exc), title=f"port-forward {key}", severity="error", timeout=10)
        except Exception as exc:  # noqa: BLE001 - never a traceback on screen
            self.notify(f"port-forward {key} failed: {exc.__class__.__name__}: {exc}", severity="error", timeout=10)
        else:
            self.notify(f"{forward.describe()} on {forward.node.name} (:pf lists the forwards)", timeout=8)

    def action_shell(self) -> None:
        from tui_orch.ui.shell import run_shell

        found = self.replica_container()
        if found is None:
            return
        node, container_id, key = found
        if self.orch.config.readonly:
            self.notify("the console is read-only (--readonly)", severity="warning")
            return
        try:
            problem = run_shell(self.app, self.reader.shell_argv(node.name, container_id))
        except TuiOrchError as exc:
            problem = str(exc)
        if problem:
            self.notify(f"shell in {key}: {problem}", severity="error", timeout=10)



def drain_question(reader: "Query", node: str) -> str:
    """What draining ``node`` does: its replicas of replicated services move, those of global
    services (one per node) stop."""
    move, stop, globals_ = drain_counts(reader, node)
    parts = [f"{move} replica{'s' if move != 1 else ''} move to other nodes"]
    if stop:
        parts.append(f"{stop} of global service{'s' if len(globals_) != 1 else ''} "
                     f"{', '.join(globals_)} stop{'s' if stop == 1 else ''}")
    return f"Drain {node}: it gets nothing new, {' and '.join(parts)}?"


def drain_counts(reader: "Query", node: str) -> tuple[int, int, list[str]]:
    """How many of the replicas on ``node`` a drain moves, how many it stops (those of global
    services) and those global services."""
    reps = [r for r in reader.replicas_on(node) if r.state.value not in ("stopped", "lost")]
    globals_ = {name for name in {r.service for r in reps} if (spec := reader.spec(name)) and spec.mode == "global"}
    move = sum(1 for r in reps if r.service not in globals_)
    return move, len(reps) - move, sorted(globals_)
