"""A service's ``build:`` -> a ``BuildSpec``, and the names a built image gets.

Compose's forms: a string (the context folder) or a mapping (context, dockerfile,
dockerfile_inline, args, target, labels, network, shm_size, extra_hosts, cache_from,
no_cache, pull). The context is a folder on the operator's machine, relative to the
manifest's folder; a Git or URL context is refused (clone it first).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.manifest.decisions import BUILD, known_entries
from tui_orch.manifest.fields import key_values
from tui_orch.manifest.reader import Invalid, Reader, is_null, join, shown
from tui_orch.model import BuildSpec, pairs

if TYPE_CHECKING:
    from tui_orch.manifest.service import Context

_URL_RE = re.compile(r"^([a-z][a-z0-9+.-]*://|git@|github\.com/)", re.IGNORECASE)
_HOST_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
ID_CHARS = 12  # of the image id in the tag a built image runs as


def parse_build(r: Reader, ctx: "Context", node: Node, path: str) -> BuildSpec:
    """The build of a service (string or long form); raises Invalid for the whole value."""
    if isinstance(node, ScalarNode):
        return BuildSpec(context=_context(r.text(node, path, "a folder"), ctx, node))
    if not isinstance(node, MappingNode):
        raise Invalid("expected the build context (a folder) or a mapping with context:, dockerfile:...", node)
    entries = known_entries(r, r.entries(node, path), BUILD, path)
    values: dict[str, object] = {}
    for key, (_, vnode) in entries.items():
        if is_null(vnode):
            continue
        value = r.read(lambda n, p, key=key: _read_key(r, ctx, key, n, p), vnode, join(path, key))
        if value is not None:
            values[key] = value
    if "dockerfile" in values and "dockerfile_inline" in values:
        raise Invalid("set dockerfile or dockerfile_inline, not both", entries["dockerfile"][0])
    context = values.pop("context", None) or _context(".", ctx, node)
    return BuildSpec(context=str(context), **values)  # type: ignore[arg-type]


def _read_key(r: Reader, ctx: "Context", key: str, node: Node, path: str) -> object:
    if key == "context":
        return _context(r.text(node, path, "a folder"), ctx, node)
    if key in ("dockerfile", "target", "network"):
        text = r.text(node, path, "a name")
        if not text.strip():
            raise Invalid(f"{key} is empty; remove it or give a value", node)
        return text
    if key == "dockerfile_inline":
        return r.text(node, path, "the Dockerfile's text")
    if key == "args":
        values = key_values(r, node, path, "build arg")
        # an arg without a value takes it from the environment, and is left out when unset (Compose)
        return pairs({k: v if v is not None else ctx.lookup(k) for k, v in values.items()
                      if v is not None or ctx.lookup(k) is not None})
    if key == "labels":
        return pairs({k: v or "" for k, v in key_values(r, node, path, "label").items()})
    if key == "shm_size":
        return r.size(node, path)
    if key == "extra_hosts":
        return _extra_hosts(r, node, path)
    if key == "cache_from":
        return tuple(r.strings(node, path, "an image"))
    return r.boolean(node, path)  # no_cache, pull


def _context(written: str, ctx: "Context", node: Node) -> str:
    if _URL_RE.match(written):
        raise Invalid(f"a Git or URL build context ({shown(written)}) is not supported: clone it and give the folder", node)
    full = os.path.abspath(os.path.join(ctx.base_dir, os.path.expanduser(written)))
    if not os.path.isdir(full):
        raise Invalid(f"the build context {shown(written)} is not a folder (looked for {full}); create it or fix the path", node)
    return full


def _extra_hosts(r: Reader, node: Node, path: str) -> tuple[str, ...]:
    """``host:ip`` / ``host=ip`` items or a ``host: ip`` mapping, as ``host:ip``."""
    found: dict[str, str | None]
    if isinstance(node, MappingNode):
        found = key_values(r, node, path, "host")
    else:
        found = {}
        for i, item in enumerate(r.items(node, path)):
            text = r.text(item, join(path, i), "HOST:IP")
            sep = "=" if "=" in text else ":"
            host, _, ip = text.partition(sep)
            found[host.strip()] = ip.strip() or None
    out = []
    for host, ip in found.items():
        if not _HOST_RE.match(host) or not ip:
            raise Invalid(f"expected HOST:IP such as somehost:162.242.195.82, got {shown(host)}", node)
        out.append(f"{host}:{ip}")
    return tuple(out)


# --------------------------------------------------------------------------- names


def compose_image_name(project: str, service: str) -> str:
    """The image a build without ``image:`` is tagged as: ``<project>-<service>``, as Compose."""
    return f"{project}-{service}".lower()


def split_image(image: str) -> tuple[str, str]:
    """(repository, tag) of a reference without a digest; the tag defaults to latest."""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, "latest"


def run_tag(image: str, image_id: str) -> str:
    """The tag a built image runs as: its name's tag with the image id appended
    (``app:2`` -> ``app:2-3f2a9c1b7d4e``). A node holding an older image under ``app:2`` never
    runs it in place of the new one, and an unchanged build gives the same tag."""
    repo, tag = split_image(image)
    short = image_id.removeprefix("sha256:")[:ID_CHARS]
    tag = tag[: 127 - ID_CHARS]
    return f"{repo}:{tag}-{short}"


def check_build_image(image: str, node: Node) -> None:
    """``image:`` names the built image: a digest cannot be given to a build's result."""
    if "@" in image:
        raise Invalid(f"image {shown(image)} has a digest, but a build names its image: write it as a tag such as app:2", node)
    if not _TAG_RE.match(split_image(image)[1]):
        raise Invalid(f"not a valid tag in {shown(image)}", node)


__all__ = ["ID_CHARS", "check_build_image", "compose_image_name", "parse_build", "run_tag", "split_image"]
