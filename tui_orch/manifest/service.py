"""One entry of ``services:`` -> a ``ServiceSpec``, or its problems."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.errors import Problem
from tui_orch.manifest.build import check_build_image, parse_build
from tui_orch.manifest.decisions import ENV_FILE, SERVICE, known_entries
from tui_orch.manifest.deploy import MAX_REPLICAS, Deploy, parse_deploy
from tui_orch.manifest.envfile import parse_env, read_text
from tui_orch.manifest.files import FileRefused
from tui_orch.manifest.fields import healthcheck, key_values, ports
from tui_orch.manifest.interpolate import Lookup
from tui_orch.manifest.mesh import settle_modes
from tui_orch.manifest.networks import expose, links, service_networks
from tui_orch.manifest.project import read_depends_on, read_profiles
from tui_orch.manifest.reader import Entries, Invalid, Reader, check_tag, is_null, join, shown
from tui_orch.manifest.settings import READERS as SETTINGS_READERS
from tui_orch.manifest.settings import settings_of
from tui_orch.manifest.settings_checks import check_settings, pids_limit, service_resources
from tui_orch.manifest.secrets import Sources, file_refs
from tui_orch.manifest.volumes import service_mounts, tmpfs, volumes_from
from tui_orch.model import Dependency, RestartPolicy, ServiceSpec, pairs

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_SIGNAL_RE = re.compile(r"^(SIG)?[A-Z][A-Z0-9+-]*$|^\d+$", re.IGNORECASE)
_RESTART_RE = re.compile(r"^(no|always|unless-stopped|on-failure(?::(\d{1,9}))?)$")
_ALNUM = r"[a-z0-9]+"
_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_IMAGE_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"  # [registry/]path
    r"(?::[\w][\w.-]{0,127})?"  # :tag
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"  # @digest
)


@dataclass(frozen=True)
class Context:
    base_dir: str  # the manifest's folder: env_file paths are relative to it
    lookup: Lookup  # the variables for ${VAR} and for environment entries given without a value
    sources: Sources = field(default_factory=dict)  # the top-level secrets and configs (secrets.py)


Read = Callable[[Reader, Context, Node, str], Any]


def parse_service(r: Reader, ctx: Context, name: str, node: Node, path: str) -> ServiceSpec | None:
    """The service's spec, or None when it has errors (all recorded in ``r``)."""
    before = r.error_count
    if not isinstance(node, MappingNode):
        r.error(node, path, "expected the service's settings (a mapping with at least image:)")
        return None
    entries = r.read(r.entries, node, path)
    if entries is None:
        return None
    if "image" not in entries and "build" not in entries:
        r.error(node, path, "missing image: (the image to run, such as nginx:1.27) or build: (the folder to build it from)")
    entries = known_entries(r, entries, SERVICE, path)
    fields: dict[str, Any] = {}
    for key, (_, vnode) in entries.items():
        if is_null(vnode) and key != "image":
            continue
        read = _READERS[key]
        value = r.read(lambda n, p: read(r, ctx, n, p), vnode, join(path, key))
        if value is not None:
            fields[_FIELD.get(key, key)] = value
    r.profiles_of[name] = tuple(fields.get("profiles") or ())
    spec = _combine(r, ctx, name, fields, entries, path)
    return spec if r.error_count == before else None


def _combine(r: Reader, ctx: Context, name: str, fields: dict[str, Any], entries: Entries, path: str) -> ServiceSpec | None:
    if fields.get("links"):  # legacy: each link is a start dependency, its alias a name (networks.attach)
        named = {d.service for d in fields.get("depends_on", ())}
        fields["depends_on"] = (*fields.get("depends_on", ()),
                                *(Dependency(target) for target, _ in fields["links"] if target not in named))
        r.links[name] = (fields["links"], entries["links"][0], join(path, "links"))
    deploy: Deploy = fields.get("deploy") or Deploy()
    spec = dict(deploy.spec)
    if "scale" in fields:
        where = entries["scale"][0]
        if spec.get("mode") == "global":
            r.error(where, join(path, "scale"), "scale cannot be set with mode: global (one replica runs on every node)")
        elif spec.get("replicas", fields["scale"]) != fields["scale"]:
            r.error(where, join(path, "scale"), "scale and deploy.replicas differ; set the count in one place (deploy.replicas)")
        spec["replicas"] = fields["scale"]
    if "restart" in fields:
        text, policy = fields["restart"]
        spec["restart"] = text
        if not deploy.restart_policy_set:
            spec["restart_policy"] = policy
    if fields.get("network_mode") == "none" and fields.get("ports"):
        r.error(entries["ports"][0], join(path, "ports"), "network_mode none has no network to publish ports on; remove ports or the network_mode")
    if "ports" in fields:
        fields["ports"] = settle_modes(r, name, fields["ports"], fields.get("network_mode"), entries["ports"][0],
                                       join(path, "ports"))
    environment: dict[str, str] = dict(fields.get("env_file", {}))
    for key, value in fields.get("environment", {}).items():
        value = ctx.lookup(key) if value is None else value
        if value is not None:
            environment[key] = value
    labels = {**deploy.labels, **{k: v or "" for k, v in fields.get("labels", {}).items()}}
    spec["resources"] = service_resources(r, fields, entries, spec.get("resources"), path)
    if deploy.pids is not None:
        fields["pids_limit"] = pids_limit(r, fields, entries, deploy.pids, path)
    check_settings(r, fields, entries, spec, path)
    if "build" in fields and "image" in fields:
        r.read(lambda n, p: check_build_image(fields["image"], n), entries["image"][1], join(path, "image"))
    if "image" not in fields and "build" not in fields:
        if "image" not in entries and "build" in entries and is_null(entries["build"][1]):
            r.error(entries["build"][0], join(path, "build"), "build is empty: give the context folder, or set image:")
        return None
    simple = ("build", "command", "entrypoint", "ports", "network_mode", "healthcheck", "stop_grace_period",
              "stop_signal", "user", "working_dir", "profiles", "depends_on",
              "secrets", "configs",  # secrets and configs (issue 12)
              "mounts", "tmpfs", "volumes_from",  # volumes (issue 12); their declarations: document.py
              "networks", "expose")  # networks and names (issue 13)
    return ServiceSpec(
        name=name,
        image=fields.get("image", ""),  # built without image: named <project>-<service> (document.py)
        environment=pairs(environment),
        labels=pairs(labels),
        **{k: fields[k] for k in simple if k in fields},
        **spec,
        settings=settings_of(fields),
    )


# --------------------------------------------------------------------------- simple keys


def _image(r: Reader, ctx: Context, node: Node, path: str) -> str:
    text = r.text(node, path, "an image name such as nginx:1.27")
    if not text.strip():
        raise Invalid("the image is empty; name the image to run, such as nginx:1.27", node)
    if len(text) > 512 or not _IMAGE_RE.match(text):
        hint = " (repository names are lowercase)" if len(text) <= 512 and _IMAGE_RE.match(text.lower()) else ""
        raise Invalid(f"not a valid image reference{hint}: {shown(text)}; write it like nginx:1.27 or registry.example.org/team/app:2", node)
    return text


def _argv(r: Reader, ctx: Context, node: Node, path: str) -> tuple[str, ...] | None:
    if isinstance(node, ScalarNode):
        text = r.scalar(node, path, "a command")
        if text is None:
            return None
        try:
            return tuple(shlex.split(text))
        except ValueError as exc:
            raise Invalid(f"cannot split {shown(text)} into words ({exc}); fix the quotes, or write a list", node) from None
    if isinstance(node, MappingNode):
        check_tag(node, path)
        raise Invalid("expected a command: a string or a list of words, got a mapping", node)
    return tuple(r.strings(node, path, "a word of the command"))


def _network_mode(r: Reader, ctx: Context, node: Node, path: str) -> str:
    text = r.text(node, path, "host, bridge or none")
    if text in ("host", "bridge", "none"):
        return text
    if text.startswith(("service:", "container:")):
        raise Invalid(f"{shown(text)} is not supported: replicas may run on other nodes than the "
                      f"{text.partition(':')[0]} whose network they would share; put both services on one network "
                      f"(networks:) and reach it by name", node)
    raise Invalid(f"expected host, bridge or none, got {shown(text)}; to attach the service to a network, list it "
                  f"under networks:", node)


def _signal(r: Reader, ctx: Context, node: Node, path: str) -> str:
    text = r.text(node, path, "a signal such as SIGTERM")
    if not _SIGNAL_RE.match(text):
        raise Invalid(f"expected a signal such as SIGTERM or SIGQUIT, got {shown(text)}", node)
    return text


def _restart(r: Reader, ctx: Context, node: Node, path: str) -> tuple[str, RestartPolicy]:
    text = r.text(node, path, "no, always, on-failure or unless-stopped")
    match = _RESTART_RE.match(text)
    if not match:
        raise Invalid(f"expected no, always, on-failure[:N] or unless-stopped, got {shown(text)}", node)
    if text == "no":
        return text, RestartPolicy(condition="none")
    if text.startswith("on-failure"):
        return text, RestartPolicy(condition="on-failure", max_attempts=int(match.group(2) or 0))
    return text, RestartPolicy(condition="any")


def _working_dir(r: Reader, ctx: Context, node: Node, path: str) -> str:
    text = r.text(node, path, "an absolute path")
    if not text.startswith("/"):
        raise Invalid(f"expected an absolute path (starting with /), got {shown(text)}", node)
    return text


def _user(r: Reader, ctx: Context, node: Node, path: str) -> str:
    text = r.text(node, path, "a user name or uid[:gid]")
    if not text.strip():
        raise Invalid("the user is empty; remove user: or name a user", node)
    return text


# --------------------------------------------------------------------------- env_file


def _env_files(r: Reader, ctx: Context, node: Node, path: str) -> dict[str, str]:
    """Every variable of the listed env files, later files winning."""
    wanted: list[tuple[Node, str, bool]] = []  # (where, path as written, required)
    if isinstance(node, ScalarNode):
        wanted.append((node, r.text(node, path, "a file path"), True))
    else:
        for i, item in enumerate(r.items(node, path)):
            found = r.read(_env_file_item(r), item, join(path, i))
            if found is not None:
                wanted.append(found)
    values: dict[str, str] = {}
    for where, written, required in wanted:
        full = os.path.join(ctx.base_dir, os.path.expanduser(written))
        try:
            text = read_text(full)
        except FileNotFoundError:
            if required:
                r.error(where, path, f"env file {shown(written)} not found (looked for {full}); create it, or set required: false")
            continue
        except FileRefused as exc:
            if exc.folder:
                r.error(where, path, f"env file {shown(written)} is a folder ({full})")
            else:
                r.error(where, path, f"cannot read env file {full}: {exc.reason}")
            continue
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            r.error(where, path, f"cannot read env file {full}: {reason}")
            continue
        parsed = parse_env(text, ctx.lookup)
        for line, column, message in parsed.errors:
            r.add(Problem(full, line, column, path, message))
        for key, value in parsed.values.items():
            if "\x00" in key + value:
                r.error(where, path, f"env file {full}: {shown(key)} contains a NUL character (\\0); remove it")
            else:
                values[key] = value
    return values


def _env_file_item(r: Reader) -> Callable[[Node, str], tuple[Node, str, bool]]:
    def read(node: Node, path: str) -> tuple[Node, str, bool]:
        if not isinstance(node, MappingNode):
            return node, r.text(node, path, "a file path"), True
        entries = known_entries(r, r.entries(node, path), ENV_FILE, path)
        if "path" not in entries:
            raise Invalid("missing path: (the env file)", node)
        pnode = entries["path"][1]
        written = r.text(pnode, join(path, "path"), "a file path")
        required = True
        if "required" in entries:
            required = r.boolean(entries["required"][1], join(path, "required"))
        return pnode, written, required

    return read


def _replicas(r: Reader, ctx: Context, node: Node, path: str) -> int:
    return r.whole(node, path, 0, MAX_REPLICAS)


_FIELD = {"volumes": "mounts"}  # keys read into a ServiceSpec field of another name

_READERS: dict[str, Read] = {
    "image": _image,
    "command": _argv,
    "entrypoint": _argv,
    "environment": lambda r, ctx, n, p: key_values(r, n, p, "variable"),
    "env_file": _env_files,
    "ports": lambda r, ctx, n, p: ports(r, n, p),
    "network_mode": _network_mode,
    "labels": lambda r, ctx, n, p: key_values(r, n, p, "label"),
    "healthcheck": lambda r, ctx, n, p: healthcheck(r, n, p),
    "stop_grace_period": lambda r, ctx, n, p: r.duration(n, p),
    "stop_signal": _signal,
    "restart": _restart,
    "user": _user,
    "working_dir": _working_dir,
    "deploy": lambda r, ctx, n, p: parse_deploy(r, n, p),
    "scale": _replicas,
    "profiles": lambda r, ctx, n, p: read_profiles(r, n, p),
    "depends_on": lambda r, ctx, n, p: read_depends_on(r, n, p),
    "extends": lambda r, ctx, n, p: None,  # merged before the service is read (extends.py)
    "cpus": lambda r, ctx, n, p: r.cpus(n, p),
    "mem_limit": lambda r, ctx, n, p: r.size(n, p),
    "mem_reservation": lambda r, ctx, n, p: r.size(n, p),
    **{key: (lambda read: lambda r, ctx, n, p: read(r, n, p))(read) for key, read in SETTINGS_READERS.items()},
    "secrets": lambda r, ctx, n, p: file_refs(r, ctx.sources, "secret", n, p),
    "configs": lambda r, ctx, n, p: file_refs(r, ctx.sources, "config", n, p),
    # --- volumes and data (issue 12); "volumes" is read into ServiceSpec.mounts
    "volumes": lambda r, ctx, n, p: service_mounts(r, n, p, ctx.base_dir),
    "tmpfs": lambda r, ctx, n, p: tmpfs(r, n, p),
    "volumes_from": lambda r, ctx, n, p: volumes_from(r, n, p),
    "build": parse_build,
    # --- networks and names (issue 13); the networks' declarations: document.py
    "networks": lambda r, ctx, n, p: service_networks(r, n, p),
    "expose": lambda r, ctx, n, p: expose(r, n, p),
    "links": lambda r, ctx, n, p: links(r, n, p),
}

__all__ = ["Context", "NAME_RE", "parse_service"]
