"""Top-level ``secrets:`` / ``configs:`` and the service keys that mount them.

The bytes of each secret and config are read here, once, when the manifest is read (as
env_file is), and reduced to a sha256 digest: the spec names where the bytes come from and
their digest, never a secret's value, so a changed file or variable changes the revision (a
rolling update) and nothing stored or printed holds the value. A config given by ``content``
or ``environment`` is not secret: its text stays in the spec, so it needs nothing of this
machine later. Defaults are Swarm's: secrets at /run/secrets/<name>, configs at /<name>,
mode 0444, uid and gid 0.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Literal

from yaml.nodes import MappingNode, Node

from tui_orch.manifest.decisions import FILE_MOUNT, TOP_CONFIG, TOP_SECRET, known_entries
from tui_orch.manifest.files import FileRefused, read_limited
from tui_orch.manifest.interpolate import Lookup
from tui_orch.manifest.reader import Invalid, Reader, Reported, is_null, join, shown
from tui_orch.model import FileRef

Kind = Literal["secret", "config"]
MAX_BYTES = 1024 * 1024  # a secret or config (Swarm: 500 KB and 1000 KB)
SECRETS_DIR = "/run/secrets"
_ID_RE = re.compile(r"^\d{1,10}$")
_MODE_RE = re.compile(r"^(0o?[0-7]{1,4}|[1-9]\d{0,3}|0)$")


class Held(dict[str, bytes]):
    """digest -> bytes of the secrets and configs read with a manifest, kept in this process's
    memory only (the controller's delivery takes them from here first). Its repr shows no
    byte, so no log, traceback or repr of a Manifest can print a value."""

    def __repr__(self) -> str:
        return f"<{len(self)} secret/config values held in memory>"

    __str__ = __repr__


@dataclass(frozen=True)
class Source:
    """A top-level secret or config, read: where its bytes come from and their digest."""

    kind: Kind
    name: str
    origin: Literal["file", "environment", "content"]
    where: str  # absolute file path, or the variable's name ("" for content)
    digest: str
    content: str | None = None  # configs from content / environment only
    data: bytes = field(default=b"", repr=False, compare=False)  # the bytes, for Held only


Sources = dict[tuple[str, str], "Source | None"]  # (kind, name) -> source; None: it had errors


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_sources(r: Reader, base_dir: str, lookup: Lookup, kind: Kind, node: Node, path: str) -> Sources:
    """Every entry of the top-level ``secrets:`` or ``configs:`` mapping."""
    out: Sources = {}
    if is_null(node):
        return out
    entries = r.read(r.entries, node, path)
    for name, (_, vnode) in (entries or {}).items():
        where = join(path, name)
        out[(kind, name)] = r.read(lambda n, p: _source(r, base_dir, lookup, kind, name, n, p), vnode, where)
    return out


def _source(r: Reader, base_dir: str, lookup: Lookup, kind: Kind, name: str, node: Node, path: str) -> Source:
    table = TOP_SECRET if kind == "secret" else TOP_CONFIG
    before = r.error_count
    entries = known_entries(r, r.entries(node, path), table, path)
    if r.error_count > before:
        raise Reported()
    given = [k for k in ("file", "environment", "content") if k in entries]
    if len(given) != 1:
        forms = "file:, content: or environment:" if kind == "config" else "file: or environment:"
        what = "one of" if not given else "only one of"
        raise Invalid(f"set {what} {forms} (where the {kind}'s bytes come from)", node)
    origin = given[0]
    vnode = entries[origin][1]
    vpath = join(path, origin)
    text = r.text(vnode, vpath, "a path" if origin == "file" else "a value")
    if origin == "file":
        full = os.path.abspath(os.path.join(base_dir, os.path.expanduser(text)))
        data = _read(kind, text, full, vnode, vpath)
        return Source(kind, name, "file", full, digest_of(data), data=data)
    if origin == "environment":
        value = lookup(text)
        if value is None:
            raise Invalid(f"the variable {text} is not set; set it in tui-orch's environment or in .env "
                          f"(it holds the {kind})", vnode, vpath)
        data = value.encode()
        return Source(kind, name, "environment", text, digest_of(data), value if kind == "config" else None, data)
    return Source(kind, name, "content", "", digest_of(text.encode()), text, text.encode())


def _read(kind: Kind, written: str, full: str, node: Node, path: str) -> bytes:
    try:
        return read_limited(full, MAX_BYTES, f"{kind} file")
    except FileNotFoundError:
        raise Invalid(f"{kind} file {shown(written)} not found (looked for {full})", node, path) from None
    except FileRefused as exc:
        raise Invalid(f"{kind} file {full} {exc.reason}" if exc.folder else
                      f"cannot read {kind} file {full}: {exc.reason}", node, path) from None
    except OSError as exc:
        raise Invalid(f"cannot read {kind} file {full}: {exc.strerror or exc}", node, path) from None


# --------------------------------------------------------------------------- service keys


def file_refs(r: Reader, sources: Sources, kind: Kind, node: Node, path: str) -> tuple[FileRef, ...]:
    """A service's ``secrets:`` / ``configs:`` list (names or long forms), resolved against
    the top-level entries; two mounts at one target are an error."""
    refs: list[FileRef] = []
    targets: dict[str, int] = {}
    for i, item in enumerate(r.items(node, path)):
        ref = r.read(lambda n, p: _ref(r, sources, kind, n, p), item, join(path, i))
        if ref is None:
            continue
        if ref.target in targets:
            r.error(item, join(path, i), f"{ref.target} is already the target of entry {targets[ref.target]}; "
                                         f"give each {kind} its own target")
            continue
        targets[ref.target] = i
        refs.append(ref)
    return tuple(refs)


def _ref(r: Reader, sources: Sources, kind: Kind, node: Node, path: str) -> FileRef:
    if isinstance(node, MappingNode):
        entries = known_entries(r, r.entries(node, path), FILE_MOUNT, path)
        if "source" not in entries:
            raise Invalid(f"missing source: (the name of a top-level {kind})", node)
        fields = {k: r.text(v, join(path, k), "a value") for k, (_, v) in entries.items() if not is_null(v)}
    else:
        fields = {"source": r.text(node, path, f"the name of a top-level {kind}")}
    name = fields["source"]
    if (kind, name) not in sources:
        raise Invalid(f"{kind} {shown(name)} is not defined under the top-level {kind}s:", node)
    source = sources[(kind, name)]
    if source is None:
        raise Reported()  # its own errors were reported where it is defined
    return FileRef(kind=kind, name=name, target=_target(kind, fields.get("target", name), node),
                   origin=source.origin, where=source.where, digest=source.digest, content=source.content,
                   uid=_id(fields.get("uid", "0"), "uid", node), gid=_id(fields.get("gid", "0"), "gid", node),
                   mode=_mode(fields.get("mode"), node))


def _target(kind: Kind, text: str, node: Node) -> str:
    if not text.strip() or "\0" in text:
        raise Invalid(f"the target is empty; name the path of the {kind} in the container", node)
    base = SECRETS_DIR if kind == "secret" else "/"
    target = posixpath.normpath(posixpath.join(base, text))
    if target == "/" or target == SECRETS_DIR:
        raise Invalid(f"{shown(text)} is a folder; the target names the {kind}'s file", node)
    return target


def _id(text: str, what: str, node: Node) -> str:
    text = text.strip()
    if not _ID_RE.match(text):
        raise Invalid(f"{what} is a numeric id such as 1000, got {shown(text)} (names cannot be looked up on "
                      f"the nodes)", node)
    return str(int(text))


def _mode(text: str | None, node: Node) -> int:
    """``0440`` and ``0o440`` are octal (YAML 1.1 reads a leading 0 so); a plain number is
    decimal, as YAML gives it to Compose."""
    if text is None:
        return 0o444
    text = text.strip()
    if not _MODE_RE.match(text):
        raise Invalid(f"expected octal permissions such as 0440, got {shown(text)}", node)
    value = int(text.replace("0o", ""), 8) if text.startswith("0") else int(text)
    if value > 0o777:
        raise Invalid(f"permissions above 0777 ({text}) are not allowed", node)
    return value


def held(sources: Sources) -> Held:
    """The bytes of every source read, by digest."""
    return Held({s.digest: s.data for s in sources.values() if s is not None})


__all__ = ["MAX_BYTES", "Held", "held", "SECRETS_DIR", "Source", "Sources", "digest_of", "file_refs", "parse_sources"]
