"""A whole manifest: reading the file, the top-level keys, and every service."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from yaml.nodes import Node

from tui_orch.errors import ManifestError, Problem
from tui_orch.manifest.build import compose_image_name
from tui_orch.manifest.decisions import TOP, known_entries
from tui_orch.manifest.envfile import parse_env, read_text
from tui_orch.manifest.files import MAX_FILE_BYTES, FileRefused, read_limited
from tui_orch.manifest.interpolate import Lookup
from tui_orch.manifest.reader import (
    MAX_VALUES, Invalid, Reader, YamlProblem, collector_paused, compose, decode, expanded_size, got, is_null, join, shown,
)
from tui_orch.manifest.service import NAME_RE, Context, parse_service
from tui_orch.model import ServiceSpec

PROJECT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Manifest:
    """A validated Compose file: its services with every default resolved, and its warnings."""

    name: str | None
    services: tuple[ServiceSpec, ...]
    warnings: tuple[Problem, ...] = ()
    file: str = "<manifest>"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    @property
    def project_name(self) -> str:
        """The Compose project name: ``name:`` when set, else the manifest folder's name as
        Compose normalises it (lowercase, only letters, digits, '-' and '_'), else "default"."""
        if self.name:
            return self.name
        folder = os.path.basename(os.path.dirname(os.path.abspath(self.file))) if not self.file.startswith("<") else ""
        name = re.sub(r"[^a-z0-9_-]", "", folder.lower()).lstrip("_-")
        return name or "default"

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(name)


def load_manifest(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Manifest:
    """Read and validate a Compose file. ``${VAR}`` takes its value from ``environ`` (default:
    the process environment), then from a ``.env`` file beside the manifest, as in Compose."""
    file = os.fspath(path)
    try:
        data = read_limited(file, MAX_FILE_BYTES, "Compose file")
    except FileNotFoundError:
        raise ManifestError([Problem(file, 0, 0, "", "no such file; check the path")]) from None
    except FileRefused as exc:
        raise ManifestError([Problem(file, 0, 0, "", exc.reason)]) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ManifestError([Problem(file, 0, 0, "", f"cannot read the file: {reason}")]) from None
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
    return _parse(data, file, variables.get, base_dir, problems)


def parse_manifest(
    text: str | bytes,
    filename: str = "<manifest>",
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: str | None = None,
) -> Manifest:
    """Validate a Compose document. ``environ`` (default: the process environment) gives
    ``${VAR}`` values; ``base_dir`` (default: the folder of ``filename``) anchors env_file."""
    variables = os.environ if environ is None else environ
    if base_dir is None:
        base_dir = os.path.dirname(filename) if not filename.startswith("<") else ""
    return _parse(text, filename, variables.get, base_dir or ".", [])


def _parse(data: str | bytes, file: str, lookup: Lookup, base_dir: str, problems: list[Problem]) -> Manifest:
    with collector_paused():  # reading makes many objects that all live on (see collector_paused)
        return _read(data, file, lookup, base_dir, problems)


def _read(data: str | bytes, file: str, lookup: Lookup, base_dir: str, problems: list[Problem]) -> Manifest:
    r = Reader(file, lookup)
    for problem in problems:
        r.add(problem)
    name: str | None = None
    services: list[ServiceSpec] = []
    try:
        text = decode(data, file)
        root = compose(text, file)
        if root is not None and "*" in text and expanded_size(root) > MAX_VALUES:  # only aliases expand
            r.error(root, "", f"the document expands to more than {MAX_VALUES} values through aliases; write it out")
            root = None
        else:
            name, services = _document(r, Context(base_dir, lookup), root)
    except YamlProblem as exc:
        r.add(exc.problem)
    except RecursionError:
        r.error(None, "", "the document is nested too deeply")
    except Exception as exc:  # noqa: BLE001 - the console must never show a traceback
        r.error(None, "", f"internal error while reading the manifest ({type(exc).__name__}: {exc}); please report it")
    r.problems.sort(key=lambda p: (p.file != file, p.file, p.line, p.column))
    if r.error_count:
        raise ManifestError(r.capped(), total=r.error_count)
    manifest = Manifest(name=name, services=tuple(services), warnings=tuple(r.capped()), file=file)
    return dataclasses.replace(manifest, services=tuple(_named(s, manifest.project_name) for s in services))


def _named(spec: ServiceSpec, project: str) -> ServiceSpec:
    """A service built without ``image:`` is tagged ``<project>-<service>``, as Compose does."""
    if spec.build is None or spec.image:
        return spec
    return dataclasses.replace(spec, image=compose_image_name(project, spec.name))


def _document(r: Reader, ctx: Context, root: Node | None) -> tuple[str | None, list[ServiceSpec]]:
    if root is None:
        r.error(None, "", "the file is empty; describe the services under services:")
        return None, []
    try:
        entries = known_entries(r, r.entries(root, ""), TOP, "")
    except Invalid:
        r.error(root, "", f"expected a mapping with services:, got {got(root)}")
        return None, []
    name = r.read(lambda n, p: _project_name(r, n, p), entries["name"][1], "name") if "name" in entries else None
    if "services" not in entries:
        r.error(root, "services", "missing: describe the services to run under services:")
        return name, []
    snode = entries["services"][1]
    if is_null(snode):
        r.error(snode, "services", "no services: describe at least one")
        return name, []
    try:
        service_entries = r.entries(snode, "services")
    except Invalid as exc:
        r.error(snode, "services", exc.message)
        return name, []
    if not service_entries:
        r.error(snode, "services", "no services: describe at least one")
    services: list[ServiceSpec] = []
    for k, (key, (knode, vnode)) in enumerate(service_entries.items()):
        if r.full:
            r.stop(len(service_entries) - k, "services")
            break
        path = join("services", key)
        if not NAME_RE.match(key):
            r.error(knode, path, f"a service name is letters, digits, '.', '_' and '-', starting with a letter or digit, got {shown(key)}")
            continue
        spec = parse_service(r, ctx, key, vnode, path)
        if spec is not None:
            services.append(spec)
    return name, services


def _project_name(r: Reader, node: Node, path: str) -> str | None:
    text = r.scalar(node, path, "a project name")
    if text is not None and not PROJECT_NAME_RE.match(text):
        raise Invalid(f"a project name is lowercase letters, digits, '-' and '_', starting with a letter or digit, got {shown(text)}", node)
    return text


__all__ = ["Manifest", "load_manifest", "parse_manifest"]
