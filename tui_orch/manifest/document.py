"""A whole manifest: reading the file, the top-level keys, and every service."""

from __future__ import annotations

import dataclasses
import os
import re
from functools import partial
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, Node

from tui_orch.errors import ManifestError, Problem
from tui_orch.manifest.build import compose_image_name
from tui_orch.manifest.decisions import TOP, known_entries
from tui_orch.manifest.envfile import parse_env, read_text
from tui_orch.manifest.extends import Extending, resolve
from tui_orch.manifest.include import read_file, read_includes, refuse_twice
from tui_orch.manifest.interpolate import Lookup
from tui_orch.manifest.mesh import check_published
from tui_orch.manifest.reader import (
    MAX_VALUES, Invalid, Reader, YamlProblem, collector_paused, compose, decode, expanded_size, got, is_null, join, shown,
)
from tui_orch.manifest.project import Origin, active_profiles, leave_out, select
from tui_orch.manifest.secrets import Held, Sources, held, parse_sources
from tui_orch.manifest.sections import service_sections
from tui_orch.manifest.service import NAME_RE, Context, parse_service
from tui_orch.manifest.networks import attach, top_networks
from tui_orch.manifest.volumes import top_volumes
from tui_orch.model import NetworkRef, ServiceSpec, VolumeSpec

PROJECT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Manifest:
    """A validated Compose file: its services with every default resolved, and its warnings."""

    name: str | None
    services: tuple[ServiceSpec, ...]
    warnings: tuple[Problem, ...] = ()
    file: str = "<manifest>"
    # services the active profiles leave out: (name, its profiles); not deployed, and an
    # apply leaves alone those deployed earlier (as `docker compose up` does)
    left_out: tuple[tuple[str, tuple[str, ...]], ...] = ()
    profiles: tuple[str, ...] = ()  # the active profiles
    # --- secrets and configs (issue 12): their bytes by digest, in this process's memory only
    values: Held = field(default_factory=Held, repr=False, compare=False)
    # --- volumes and data (issue 12): the top-level volumes (each service keeps those it uses)
    volumes: tuple[VolumeSpec, ...] = ()
    # --- each service's part of the file's text (sections.py): kept with its revision
    sections: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    @property
    def project_name(self) -> str:
        """The Compose project name: ``name:`` when set, else the manifest folder's name as
        Compose normalises it (lowercase, only letters, digits, '-' and '_'), else "default"."""
        return project_name(self.name, self.file)

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(name)


def project_name(name: str | None, file: str) -> str:
    """``Manifest.project_name`` from the ``name:`` key and the manifest's path."""
    if name:
        return name
    folder = os.path.basename(os.path.dirname(os.path.abspath(file))) if not file.startswith("<") else ""
    normalised = re.sub(r"[^a-z0-9_-]", "", folder.lower()).lstrip("_-")
    return normalised or "default"


def load_manifest(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None,
                  profiles: Iterable[str] | None = None) -> Manifest:
    """Read and validate a Compose file. ``${VAR}`` takes its value from ``environ`` (default:
    the process environment), then from a ``.env`` file beside the manifest, as in Compose.
    ``profiles``: the active profiles (None: COMPOSE_PROFILES, from the same sources)."""
    file = os.fspath(path)
    data = read_file(file)
    if isinstance(data, Problem):
        raise ManifestError([data])
    base_dir = os.path.dirname(file) or "."
    variables = dict(os.environ if environ is None else environ)
    problems: list[Problem] = []
    dotenv = os.path.join(base_dir, ".env")
    if os.path.isfile(dotenv):
        try:
            parsed = parse_env(read_text(dotenv), variables.get)
        except (OSError, ValueError) as exc:
            problems.append(Problem(dotenv, 0, 0, "", f"cannot read: {exc}", "warning"))
        else:
            problems += [Problem(dotenv, line, col, "", msg) for line, col, msg in parsed.errors]
            for key, value in parsed.values.items():
                variables.setdefault(key, value)
    return _parse(data, file, variables.get, base_dir, problems, _profiles(profiles, variables), check_local=True)


def _profiles(given: Iterable[str] | None, variables: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(given) if given is not None else active_profiles(variables.get("COMPOSE_PROFILES"))


def parse_manifest(
    text: str | bytes,
    filename: str = "<manifest>",
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: str | None = None,
    profiles: Iterable[str] | None = None,
) -> Manifest:
    """Validate a Compose document. ``environ`` (default: the process environment) gives
    ``${VAR}`` values; ``base_dir`` (default: the folder of ``filename``) anchors env_file."""
    variables = os.environ if environ is None else environ
    if base_dir is None:
        base_dir = os.path.dirname(filename) if not filename.startswith("<") else ""
    return _parse(text, filename, variables.get, base_dir or ".", [], _profiles(profiles, variables))


def _parse(data: str | bytes, file: str, lookup: Lookup, base_dir: str, problems: list[Problem],
           profiles: tuple[str, ...] = (), check_local: bool = False) -> Manifest:
    with collector_paused():  # reading makes many objects that all live on (see collector_paused)
        return _read(data, file, lookup, base_dir, problems, profiles, check_local)


def _read(data: str | bytes, file: str, lookup: Lookup, base_dir: str, problems: list[Problem],
          profiles: tuple[str, ...], check_local: bool) -> Manifest:
    r = Reader(file, lookup)
    r.check_local = check_local
    for problem in problems:
        r.add(problem)
    name: str | None = None
    services: list[ServiceSpec] = []
    left: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sections: dict[str, str] = {}
    values = Held()
    volumes: dict[str, VolumeSpec] = {}
    included: list[IncludedVolumes] = []
    try:
        text = decode(data, file)
        root = compose(text, file)
        if root is not None and "*" in text and expanded_size(root) > MAX_VALUES:  # only aliases expand
            r.error(root, "", f"the document expands to more than {MAX_VALUES} values through aliases; write it out")
            root = None
        else:
            origins: dict[str, Origin] = {}
            name, services = _document(r, Context(base_dir, lookup), root, origins, values=values, included=included)
            volumes, services = _volumes(r, root, name, services, included)
            services = _networks(r, root, name, services, included)
            services, left = select(r, services, origins, profiles)
            left += leave_out(r, {s.name for s in services}, {n for n, _ in left}, profiles)
            check_published(r, services, origins)
            sections = service_sections(text, root)
    except YamlProblem as exc:
        r.add(exc.problem)
    except RecursionError:
        r.error(None, "", "the document is nested too deeply")
    except Exception as exc:  # noqa: BLE001 - the console must never show a traceback
        r.error(None, "", f"internal error while reading the manifest ({type(exc).__name__}: {exc}); please report it")
    r.problems.sort(key=lambda p: (p.file != file, p.file, p.line, p.column))
    if r.error_count:
        raise ManifestError(r.capped(), total=r.error_count)
    manifest = Manifest(name=name, services=tuple(services), warnings=tuple(r.capped()), file=file, left_out=left,
                        profiles=profiles, values=values, volumes=tuple(volumes.values()),
                        sections=tuple((s.name, sections[s.name]) for s in services if s.name in sections))
    return dataclasses.replace(manifest, services=tuple(_named(s, manifest.project_name) for s in services))


def _named(spec: ServiceSpec, project: str) -> ServiceSpec:
    """A service built without ``image:`` is tagged ``<project>-<service>``, as Compose does."""
    if spec.build is None or spec.image:
        return spec
    return dataclasses.replace(spec, image=compose_image_name(project, spec.name))


def _document(r: Reader, ctx: Context, root: Node | None, origins: dict[str, Origin],
              stack: tuple[str, ...] = (), *, values: Held,
              included: list[IncludedVolumes]) -> tuple[str | None, list[ServiceSpec]]:
    """The project name and services of one file, with those of the files it includes; the
    bytes of each file's secrets and configs go to ``values``, an included file's top-level
    volumes to ``included`` (read once the project's name is known)."""
    if root is None:
        r.error(None, "", "the file is empty; describe the services under services:")
        return None, []
    try:
        entries = known_entries(r, r.entries(root, ""), TOP, "")
    except Invalid:
        r.error(root, "", f"expected a mapping with services:, got {got(root)}")
        return None, []
    name = r.read(lambda n, p: _project_name(r, n, p), entries["name"][1], "name") if "name" in entries else None
    if "include" not in entries and "services" not in entries:
        r.error(root, "services", "missing: describe the services to run under services:")
        return name, []
    ctx = Context(ctx.base_dir, ctx.lookup, _sources(r, ctx, entries))
    values.update(held(ctx.sources))
    services = _services(r, ctx, entries["services"][1], origins) if "services" in entries else []
    for kind in ("volumes", "networks"):
        if stack and kind in entries and not is_null(entries[kind][1]):
            included.append(IncludedVolumes(r.file, ctx.lookup, entries[kind][1], kind))
    if "include" in entries:
        mine = {s.name: origins[s.name] for s in services}
        here = stack or (os.path.abspath(r.file),)
        included = read_includes(r, entries["include"][1], ctx, here, origins, partial(_document, values=values, included=included))
        services = refuse_twice(r, services, included, origins, mine)
        origins.update(mine)
    return name, services


def _services(r: Reader, ctx: Context, snode: Node, origins: dict[str, Origin]) -> list[ServiceSpec]:
    if is_null(snode):
        r.error(snode, "services", "no services: describe at least one")
        return []
    try:
        service_entries = r.entries(snode, "services")
    except Invalid as exc:
        r.error(snode, "services", exc.message)
        return []
    if not service_entries:
        r.error(snode, "services", "no services: describe at least one")
    services: list[ServiceSpec] = []
    extending = Extending()
    for k, (key, (knode, vnode)) in enumerate(service_entries.items()):
        if r.full:
            r.stop(len(service_entries) - k, "services")
            break
        path = join("services", key)
        if not NAME_RE.match(key):
            r.error(knode, path, f"a service name is letters, digits, '.', '_' and '-', starting with a letter or digit, got {shown(key)}")
            continue
        vnode = resolve(r, ctx.base_dir, service_entries, key, extending)
        spec = parse_service(r, ctx, key, vnode, path)
        if spec is not None:
            services.append(spec)
        origins[key] = Origin(r.file, knode, path)  # also when it failed: it is defined, its errors are shown
    return services


def _sources(r: Reader, ctx: Context, entries: dict[str, tuple[Node, Node]]) -> Sources:
    """The top-level secrets and configs, read before the services that mount them."""
    sources: Sources = {}
    for kind in ("secret", "config"):
        if kind + "s" in entries:
            sources.update(parse_sources(r, ctx.base_dir, ctx.lookup, kind, entries[kind + "s"][1], kind + "s"))
    return sources


@dataclass(frozen=True)
class IncludedVolumes:
    """The top-level ``volumes`` of an included file: they join the project's, as in Compose."""

    file: str
    lookup: Lookup
    node: Node
    kind: str = "volumes"  # or "networks": the included file's top-level networks


def _volumes(r: Reader, root: Node | None, name: str | None, services: list[ServiceSpec],
             included: Sequence[IncludedVolumes] = ()) -> tuple[dict[str, VolumeSpec], list[ServiceSpec]]:
    """The top-level volumes (the main file's, then those of included files), and the services
    with the declarations their mounts use; a named volume no declaration names, or
    volumes_from a service the file lacks, is an error."""
    try:  # a root that is no plain mapping was reported where the document was read
        entries = r.entries(root, "") if root is not None and isinstance(root, MappingNode) else {}
    except Invalid:
        entries = {}
    declared: dict[str, VolumeSpec] = {}
    if "volumes" in entries and not is_null(entries["volumes"][1]):
        found = r.read(lambda n, p: top_volumes(r, n, p, project_name(name, r.file)), entries["volumes"][1], "volumes")
        declared = found or {}
    for inc in included:  # read with the included file's reader: its errors name that file
        if inc.kind != "volumes":
            continue
        child = Reader(inc.file, inc.lookup)
        found = child.read(lambda n, p: top_volumes(child, n, p, project_name(name, r.file)), inc.node, "volumes")
        for problem in child.problems:
            r.add(problem)
        for key, spec in (found or {}).items():
            declared.setdefault(key, spec)
    out: list[ServiceSpec] = []
    names = {s.name for s in services}
    for spec in services:
        where = _service_key(r, entries, spec.name)
        keys = sorted({m.source for m in spec.mounts if m.type == "volume" and m.source})
        for key in keys:
            if key not in declared:
                r.error(where, join(join("services", spec.name), "volumes"),
                        f"volume {key} is not declared; add it under the top-level volumes: ({key}: {{}})")
        for other in spec.volumes_from:
            source = other.split(":", 1)[0]
            if source not in names or source == spec.name:
                r.error(where, join(join("services", spec.name), "volumes_from"),
                        f"{source} is not another service of this file; name one whose volumes to mount")
        out.append(dataclasses.replace(spec, volumes=tuple(declared[k] for k in keys if k in declared)))
    return declared, out


def _networks(r: Reader, root: Node | None, name: str | None, services: list[ServiceSpec],
              included: Sequence[IncludedVolumes] = ()) -> list[ServiceSpec]:
    """The services with the declarations of the networks they are on (networks.py): the
    main file's top-level networks, then those of included files."""
    try:
        entries = r.entries(root, "") if root is not None and isinstance(root, MappingNode) else {}
    except Invalid:
        entries = {}
    project = project_name(name, r.file)
    declared: dict[str, NetworkRef] = {}
    if "networks" in entries and not is_null(entries["networks"][1]):
        declared = r.read(lambda n, p: top_networks(r, n, p, project), entries["networks"][1], "networks") or {}
    for inc in included:
        if inc.kind != "networks":
            continue
        child = Reader(inc.file, inc.lookup)
        found = child.read(lambda n, p: top_networks(child, n, p, project), inc.node, "networks")
        for problem in child.problems:
            r.add(problem)
        for key, spec in (found or {}).items():
            declared.setdefault(key, spec)
    return attach(r, declared, services, lambda service: _service_key(r, entries, service), project)


def _service_key(r: Reader, entries: dict[str, tuple[Node, Node]], name: str) -> Node | None:
    """The node of service ``name``'s entry (where its cross-key errors are reported)."""
    try:
        services = r.entries(entries["services"][1], "services")
    except (KeyError, Invalid):
        return None
    found = services.get(name)
    return found[0] if found else None


def _project_name(r: Reader, node: Node, path: str) -> str | None:
    text = r.scalar(node, path, "a project name")
    if text is not None and not PROJECT_NAME_RE.match(text):
        raise Invalid(f"a project name is lowercase letters, digits, '-' and '_', starting with a letter or digit, got {shown(text)}", node)
    return text


__all__ = ["Manifest", "load_manifest", "parse_manifest"]
