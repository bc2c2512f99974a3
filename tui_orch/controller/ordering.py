"""``depends_on`` on deploy: a service's replicas start only once each dependency reached its
condition (started: its replicas run; healthy: they passed the health gate; completed
successfully: its one-shot job ran to exit 0). ``held_back`` is read by ``deploy.execute``
(so apply, scale and the reconcile loop all honour it); a dependency that failed holds its
dependants back with a message saying so, and ``order`` is the line a plan shows.

Pure reads of the store: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tui_orch.model import Dependency, Health, Replica, ReplicaState, ServiceSpec

if TYPE_CHECKING:
    from tui_orch.controller.context import Context
    from tui_orch.controller.planning import Desired

COMPLETED = "completed (exit 0)"  # the message of a one-shot job that ran to success
_WORDS = {"service_started": "started", "service_healthy": "healthy",
          "service_completed_successfully": "completed successfully"}


def completed(rep: Replica) -> bool:
    """A one-shot job that ran to exit 0: a success, never restarted nor counted unhealthy."""
    return rep.state == ReplicaState.EXITED and rep.exit_code == 0 and rep.message == COMPLETED


def held_back(ctx: Context, wanted: Desired) -> dict[str, str]:
    """service -> why it may not start yet (waiting for, or failed, dependency)."""
    out: dict[str, str] = {}
    for name, (spec, _) in wanted.items():
        for dep in spec.depends_on:
            if dep.service not in wanted:
                continue  # not deployed (a required one was refused by validation)
            why = _unmet(dep, ctx.store.replicas(dep.service))
            if why:
                out[name] = why
                break
    return out


def _unmet(dep: Dependency, reps: list[Replica]) -> str:
    """Why ``dep`` is not met by its replicas ``reps`` ('' when it is)."""
    failed = [r for r in reps if r.state == ReplicaState.FAILED
              or (r.state == ReplicaState.EXITED and not completed(r))]
    if failed:
        return f"its dependency {dep.service} failed ({failed[0].key}: {failed[0].message or failed[0].state.value})"
    if not reps or not all(_meets(dep.condition, r) for r in reps):
        return f"waiting for {dep.service} to be {_WORDS[dep.condition]}"
    return ""


def _meets(condition: str, rep: Replica) -> bool:
    if condition == "service_completed_successfully":
        return completed(rep)
    if completed(rep):
        return True
    if condition == "service_healthy":  # passed the health gate (a replica without a check passes at once)
        return rep.state == ReplicaState.RUNNING and rep.health in (Health.HEALTHY, Health.NONE)
    return rep.state == ReplicaState.RUNNING


def order(specs: Iterable[ServiceSpec]) -> str:
    """The deploy order of ``specs`` as one line ('' when none depends on another): each step
    the services whose dependencies are in earlier steps."""
    todo = {s.name: s for s in specs}
    if not any(d.service in todo for s in todo.values() for d in s.depends_on):
        return ""
    steps: list[str] = []
    done: set[str] = set()
    while todo:
        ready = [s for s in todo.values() if all(d.service in done or d.service not in todo and d.service not in done
                                                 for d in s.depends_on)]
        if not ready:  # a cycle (validation refuses them): the rest together
            ready = list(todo.values())
        steps.append(", ".join(_step(s, done) for s in ready))
        done.update(s.name for s in ready)
        for s in ready:
            del todo[s.name]
    return "deploy order: " + "; then ".join(steps)


def _step(spec: ServiceSpec, done: set[str]) -> str:
    after = [f"{d.service} {_WORDS[d.condition]}" for d in spec.depends_on if d.service in done]
    return f"{spec.name} (after {', '.join(after)})" if after else spec.name


__all__ = ["COMPLETED", "completed", "held_back", "order"]
