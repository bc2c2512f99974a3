"""Top-level ``include``: other Compose files whose services join this one's, as Compose does.

Short form: a list of paths; long form: ``{path, env_file, project_directory}`` (``path`` a
path or a list). Paths are relative to the including file's project folder. Each included
file is read as a project of its own: its relative paths are relative to its
``project_directory`` (default: its own folder), and its ``${VAR}`` take their values from the
environment, then its ``env_file`` (default: the ``.env`` of its project folder). The same file
limits and messages as the main manifest apply; includes nest; a cycle is refused naming the
files, and a service defined in two files is refused (Compose refuses it too)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.errors import Problem
from tui_orch.manifest.envfile import parse_env, read_text
from tui_orch.manifest.files import MAX_FILE_BYTES, FileRefused, read_limited
from tui_orch.manifest.project import Origin
from tui_orch.manifest.reader import Invalid, Reader, YamlProblem, compose, decode, join, shown
from tui_orch.manifest.service import Context
from tui_orch.model import ServiceSpec

Document = Callable[..., tuple[Any, list[ServiceSpec]]]


def read_file(file: str) -> bytes | Problem:
    """A Compose file's bytes, or the problem (the main manifest's messages) that stops it."""
    try:
        return read_limited(file, MAX_FILE_BYTES, "Compose file")
    except FileNotFoundError:
        return Problem(file, 0, 0, "", "no such file; check the path")
    except FileRefused as exc:
        return Problem(file, 0, 0, "", exc.reason)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Problem(file, 0, 0, "", f"cannot read the file: {reason}")


def read_includes(r: Reader, node: Node, ctx: Context, stack: tuple[str, ...], origins: dict[str, Origin],
                  document: Document) -> list[ServiceSpec]:
    """The services of every included file (nested includes too), problems recorded in ``r``."""
    out: list[ServiceSpec] = []
    for i, item in enumerate(r.read(r.items, node, "include") or []):
        entry = r.read(lambda n, p: _entry(r, n, p), item, join("include", i))
        if entry is None:
            continue
        paths, env_files, project_dir = entry
        for written in paths:
            full = os.path.abspath(os.path.join(ctx.base_dir, os.path.expanduser(written)))
            if full in stack:
                chain = " -> ".join(os.path.basename(f) for f in (*stack, full))
                r.error(item, join("include", i), f"include cycle: {chain}; remove one of these includes")
                continue
            out += _one(r, item, join("include", i), full, ctx, env_files, project_dir, stack, origins, document)
    return out


def _entry(r: Reader, node: Node, path: str) -> tuple[list[str], list[str] | None, str | None]:
    if isinstance(node, ScalarNode):
        return [r.text(node, path, "a file path")], None, None
    if not isinstance(node, MappingNode):
        raise Invalid("expected a file path or {path, env_file, project_directory}", node)
    entries = r.entries(node, path)
    unknown = [k for k in entries if k not in ("path", "env_file", "project_directory")]
    if unknown:
        raise Invalid(f"unknown key {shown(unknown[0])}; include takes path, env_file and project_directory",
                      entries[unknown[0]][0])
    if "path" not in entries:
        raise Invalid("missing path: (the Compose file to include)", node)
    paths = _paths(r, entries["path"][1], join(path, "path"))
    env_files = _paths(r, entries["env_file"][1], join(path, "env_file")) if "env_file" in entries else None
    project = r.text(entries["project_directory"][1], join(path, "project_directory"), "a folder") \
        if "project_directory" in entries else None
    return paths, env_files, project


def _paths(r: Reader, node: Node, path: str) -> list[str]:
    return [r.text(node, path, "a file path")] if isinstance(node, ScalarNode) else r.strings(node, path, "a file path")


def _one(r: Reader, where: Node, path: str, full: str, ctx: Context, env_files: list[str] | None,
         project_dir: str | None, stack: tuple[str, ...], origins: dict[str, Origin],
         document: Document) -> list[ServiceSpec]:
    data = read_file(full)
    if isinstance(data, Problem):
        r.error(where, path, f"included file {full}: {data.message}")
        return []
    folder = os.path.join(ctx.base_dir, project_dir) if project_dir else (os.path.dirname(full) or ".")
    values = _variables(r, where, path, folder, ctx, env_files)
    lookup = lambda key: ctx.lookup(key) if ctx.lookup(key) is not None else values.get(key)  # noqa: E731
    child = Reader(full, lookup)
    services: list[ServiceSpec] = []
    try:
        root = compose(decode(data, full), full)
        _, services = document(child, Context(folder, lookup), root, origins, (*stack, full))
    except YamlProblem as exc:
        child.add(exc.problem)
    for problem in child.capped():
        r.add(problem)
    r.profiles_of.update(child.profiles_of)
    r.links.update(child.links)
    return services


def _variables(r: Reader, where: Node, path: str, folder: str, ctx: Context, env_files: list[str] | None) -> dict[str, str]:
    """The variables of an included file's env files (default: its project folder's .env)."""
    files = [os.path.join(ctx.base_dir, f) for f in env_files] if env_files is not None else []
    if env_files is None and os.path.isfile(os.path.join(folder, ".env")):
        files = [os.path.join(folder, ".env")]
    values: dict[str, str] = {}
    for file in files:
        try:
            parsed = parse_env(read_text(file), lambda k: ctx.lookup(k) or values.get(k))
        except (OSError, ValueError) as exc:
            r.error(where, path, f"cannot read env file {file}: {exc}")
            continue
        for line, col, message in parsed.errors:
            r.add(Problem(file, line, col, "", message))
        values.update(parsed.values)
    return values


def refuse_twice(r: Reader, services: list[ServiceSpec], included: list[ServiceSpec],
                 origins: dict[str, Origin], mine: dict[str, Origin]) -> list[ServiceSpec]:
    """``services`` then the included ones; a service defined in two files is an error."""
    out = list(services)
    seen = {s.name: mine[s.name].file for s in services if s.name in mine}
    for spec in included:
        if spec.name in seen:
            o = origins[spec.name]
            r.add(Problem(o.file, o.node.start_mark.line + 1, o.node.start_mark.column + 1, o.path,
                          f"service {spec.name} is defined in both {seen[spec.name]} and {o.file}; "
                          "rename one (Compose refuses this too)"))
            continue
        seen[spec.name] = origins[spec.name].file
        out.append(spec)
    return out


__all__ = ["read_file", "read_includes", "refuse_twice"]
