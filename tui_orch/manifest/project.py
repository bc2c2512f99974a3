"""The services of a whole project, read together: ``profiles`` (which services this run
deploys) and ``depends_on`` (which start after which), checked as Compose checks them.

A service with ``profiles`` is deployed only when one of them is active (``--profile NAME``
or ``COMPOSE_PROFILES``; ``*`` activates all). A dependency must be a service of the project
(of this file or one it includes); one that the active profiles leave out is an error unless
the dependency says ``required: false``. Cycles are refused, naming the services.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.errors import Problem
from tui_orch.manifest.decisions import DEPENDS_ON, known_entries
from tui_orch.manifest.reader import Invalid, Reader, join, shown
from tui_orch.model import Dependency, ServiceSpec

PROFILE_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


@dataclass(frozen=True)
class Origin:
    """Where a service was defined: for messages about it once every file is read."""

    file: str
    node: Node  # the service's name in its file
    path: str  # services.NAME


def active_profiles(text: str | None) -> tuple[str, ...]:
    """COMPOSE_PROFILES as Compose reads it: names separated by commas."""
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def read_profiles(r: Reader, node: Node, path: str) -> tuple[str, ...]:
    names = []
    for i, item in enumerate(r.items(node, path)):
        name = r.text(item, join(path, i), "a profile name")
        if not PROFILE_RE.match(name):
            raise Invalid(f"a profile name is letters, digits, '.', '_' and '-', starting with a letter or digit, "
                          f"got {shown(name)}", item)
        names.append(name)
    return tuple(dict.fromkeys(names))


def read_depends_on(r: Reader, node: Node, path: str) -> tuple[Dependency, ...]:
    """``[db, cache]`` or ``{db: {condition: service_healthy, required: true, restart: true}}``."""
    if isinstance(node, ScalarNode):
        raise Invalid(f"expected a list of services or a mapping of service -> condition, got {shown(node.value)}", node)
    if not isinstance(node, MappingNode):
        out = [Dependency(name) for name in dict.fromkeys(r.strings(node, path, "a service name"))]
    else:
        out = []
        for name, (_, vnode) in r.entries(node, path).items():
            dep = r.read(lambda n, p, name=name: _long_dependency(r, name, n, p), vnode, join(path, name))
            if dep is not None:
                out.append(dep)
    return tuple(out)


def _long_dependency(r: Reader, name: str, node: Node, path: str) -> Dependency:
    entries = known_entries(r, r.entries(node, path), DEPENDS_ON, path)
    condition = "service_started"
    if "condition" in entries:
        condition = r.choice(entries["condition"][1], join(path, "condition"), CONDITIONS)
    required = r.boolean(entries["required"][1], join(path, "required")) if "required" in entries else True
    return Dependency(name, condition, required)  # type: ignore[arg-type]


def enabled(spec: ServiceSpec, profiles: Iterable[str]) -> bool:
    return _enabled(spec.profiles, profiles)


def _enabled(of: Iterable[str], profiles: Iterable[str]) -> bool:
    active, of = set(profiles), set(of)
    return not of or "*" in active or bool(active & of)


def leave_out(r: Reader, kept: set[str], left: set[str], profiles: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """As Compose ignores a service the active ``profiles`` leave out, such a service's errors
    are said as warnings (it would be refused if a profile of its were enabled). ``kept``: the
    services deployed; ``left``: those ``select`` left out. The services in error left out
    this way, with their profiles (for ``Manifest.left_out``)."""
    out = []
    for name, of in r.profiles_of.items():
        if name in kept or _enabled(of, profiles):
            continue
        said = r.demote(join("services", name), f"left out (profiles {', '.join(of)}); enabled, it would be refused: ")
        if said and name not in left:
            out.append((name, of))
    return tuple(out)


def select(r: Reader, services: list[ServiceSpec], origins: Mapping[str, Origin],
           profiles: tuple[str, ...]) -> tuple[list[ServiceSpec], tuple[tuple[str, tuple[str, ...]], ...]]:
    """The services the active ``profiles`` deploy (dependencies checked, cycles refused), and
    those left out with their profiles."""
    by_name = {s.name: s for s in services}
    kept = [s for s in services if enabled(s, profiles)]
    left = tuple((s.name, s.profiles) for s in services if not enabled(s, profiles))
    kept_names = {s.name for s in kept}
    for spec in services:
        for dep in spec.depends_on:
            _check_dependency(r, spec, dep, by_name, kept_names, origins)
    _refuse_cycles(r, services, origins)
    return [_without_missing(s, kept_names) for s in kept], left


def _check_dependency(r: Reader, spec: ServiceSpec, dep: Dependency, by_name: Mapping[str, ServiceSpec],
                      kept: set[str], origins: Mapping[str, Origin]) -> None:
    where = origins[spec.name]
    severity = "error" if dep.required else "warning"
    if dep.service == spec.name:
        _report(r, where, "depends_on", f"{spec.name} depends on itself; remove it from depends_on", "error")
    elif dep.service not in by_name and dep.service in origins:
        return  # defined, but it has errors of its own (already reported): the file is refused anyway
    elif dep.service not in by_name:
        what = "" if dep.required else "; ignored (required: false)"
        _report(r, where, "depends_on", f"depends on undefined service {shown(dep.service)}{what}", severity)
    elif spec.name in kept and dep.service not in kept:
        profiles = ", ".join(by_name[dep.service].profiles)
        what = ("; ignored (required: false)" if not dep.required else
                f"; activate it with --profile {by_name[dep.service].profiles[0]}, or give both a common profile")
        _report(r, where, "depends_on", f"depends on {dep.service}, which the active profiles leave out "
                f"(its profiles: {profiles}){what}", severity)
    elif dep.condition == "service_completed_successfully" and not by_name[dep.service].one_shot:
        _report(r, where, "depends_on", f"waits for {dep.service} to complete, but {dep.service} is restarted "
                "when it exits; give it restart: \"no\" (a one-shot job)", "warning")


def _refuse_cycles(r: Reader, services: list[ServiceSpec], origins: Mapping[str, Origin]) -> None:
    graph = {s.name: [d.service for d in s.depends_on if d.service != s.name] for s in services}
    done: set[str] = set()
    for start in graph:
        cycle = _cycle_from(start, graph, done)
        if cycle:
            _report(r, origins[cycle[0]], "depends_on", "dependency cycle: " + " -> ".join(cycle)
                    + "; remove one of these depends_on", "error")
            done.update(cycle)


def _cycle_from(start: str, graph: Mapping[str, list[str]], done: set[str]) -> list[str]:
    """A cycle reachable from ``start`` (its services, the first repeated at the end), else []."""
    path: list[str] = []
    on_path: set[str] = set()
    stack: list[tuple[str, int]] = [(start, 0)]
    while stack:
        name, i = stack.pop()
        if i == 0:
            if name in on_path:
                return path[path.index(name):] + [name]
            if name in done or name not in graph:
                continue
            path.append(name)
            on_path.add(name)
        nexts = graph[name]
        if i < len(nexts):
            stack.append((name, i + 1))
            stack.append((nexts[i], 0))
        else:
            path.pop()
            on_path.discard(name)
            done.add(name)
    return []


def _without_missing(spec: ServiceSpec, kept: set[str]) -> ServiceSpec:
    """The spec without the dependencies that are not deployed (only ``required: false`` ones
    are left by then): nothing waits for a service that will not run."""
    deps = tuple(d for d in spec.depends_on if d.service in kept)
    return spec if deps == spec.depends_on else dataclasses.replace(spec, depends_on=deps)


def _report(r: Reader, where: Origin, key: str, message: str, severity: str) -> None:
    mark = where.node.start_mark
    r.add(Problem(where.file, mark.line + 1, mark.column + 1, join(where.path, key), message, severity))


__all__ = ["CONDITIONS", "Origin", "active_profiles", "enabled", "read_depends_on", "read_profiles", "select"]
