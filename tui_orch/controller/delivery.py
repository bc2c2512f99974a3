"""Secrets and configs from the operator's machine to the nodes, just before a replica starts.

Layout on a node: one tmpfs folder per state folder and node, ``/dev/shm/tui-orch/<owner>/
<node>/`` (0700), one file per content and ownership: ``<digest>-<uid>-<gid>-<mode>``. A
secret is never written to a persistent disk of the node; the container gets a read-only bind
of the file at its target. Content-addressed: equal bytes are written once, a changed secret
is a new digest (a new revision, so a rolling update), and a file no replica recorded on the
node uses is removed (``prune``: after the stops of a plan, and by the full pass).

Where the bytes come from when a replica starts (in this order, each checked against the
spec's digest): the bytes read with the manifest this process applied (``ctx.held``: kept only
in the memory of the running controller or command, never stored); a config's own text; the
file again, or the environment variable, on this machine; a copy on another Ready node (read
over SFTP: a console that restarts a replica after `apply` exited gets an ``environment``
secret this way). When none has it, the start fails with one line that says to apply again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import posixpath
from typing import TYPE_CHECKING

from tui_orch.errors import ManifestError, NodeError, Problem
from tui_orch.manifest import Manifest
from tui_orch.manifest.files import FileRefused, read_limited
from tui_orch.manifest.localtree import MAX_FILE_BYTES, NOT_FOUND, Tree, is_tree, walk
from tui_orch.model import FileRef, Replica, ServiceSpec, from_dict
from tui_orch.nodes.base import Node
from tui_orch.nodes.nodefiles import ROOT  # a tmpfs on every Linux host

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

MAX_LOCAL_BYTES = MAX_FILE_BYTES  # a file of the operator's machine bound into a container


def folder(owner: str, node: str) -> str:
    return posixpath.join(ROOT, owner, node)


def file_name(ref: FileRef) -> str:
    """A file: ``<digest>-<uid>-<gid>-<mode>``; a folder (localtree.py): its digest, ``tree-<sha256>``."""
    return ref.digest if is_tree(ref.digest) else f"{ref.digest}-{ref.uid}-{ref.gid}-{ref.mode:o}"


def refs(spec: ServiceSpec) -> tuple[FileRef, ...]:
    """Everything delivered for a replica: secrets, configs, and files of the operator's
    machine bound by a relative path (``./nginx.conf:/etc/nginx/nginx.conf``, ``./site:/srv``),
    the latter delivered as configs of the file (read-only, 0444) or folder (a ``tree-`` digest)."""
    local = tuple(FileRef("config", m.source, m.target, "file", m.source, m.digest)
                  for m in spec.mounts if m.type == "bind" and m.local)
    return spec.secrets + spec.configs + local


def with_local_digests(manifest: Manifest, held: dict[str, bytes], trees: dict[str, Tree]) -> Manifest:
    """The manifest with the digest of each relative bind mount's file or folder filled in
    (read now, on this machine; the bytes kept in ``held``, the folders in ``trees``), so that
    a changed file is a new revision. Raises ManifestError naming the path and the service."""
    services = []
    for spec in manifest.services:
        mounts = []
        for m in spec.mounts:
            if m.type == "bind" and m.local:
                m = dataclasses.replace(m, digest=_read_local(manifest.file, spec.name, m.source, held, trees))
            mounts.append(m)
        services.append(dataclasses.replace(spec, mounts=tuple(mounts)))
    return dataclasses.replace(manifest, services=tuple(services))


def _read_local(file: str, service: str, path: str, held: dict[str, bytes], trees: dict[str, Tree]) -> str:
    """The digest of the file or folder ``path``, its content kept for delivery."""
    try:
        if os.path.isdir(path):
            tree = walk(path)
            trees[tree.digest] = tree
            return tree.digest
        data = read_limited(path, MAX_LOCAL_BYTES, "file to copy to the nodes")
        digest = hashlib.sha256(data).hexdigest()
        held[digest] = data
        return digest
    except FileNotFoundError:
        why = NOT_FOUND
    except FileRefused as exc:
        why = exc.reason
    except OSError as exc:
        why = f"cannot be read: {exc.strerror or exc}"
    raise ManifestError([Problem(file, 0, 0, f"services.{service}.volumes", f"{path} {why}")])


def _matches(data: bytes | None, digest: str) -> bool:
    return data is not None and hashlib.sha256(data).hexdigest() == digest


def _local_bytes(ctx: "Context", ref: FileRef) -> bytes | None:
    """The bytes from this process: held since apply, a config's text, the file or variable."""
    candidates = [ctx.held.get(ref.digest)]
    if ref.content is not None:
        candidates.append(ref.content.encode())
    if ref.origin == "environment" and ref.where in os.environ:
        candidates.append(os.environ[ref.where].encode())
    if ref.origin == "file":
        try:
            with open(ref.where, "rb") as f:
                candidates.append(f.read(MAX_LOCAL_BYTES + 1))
        except OSError:
            pass
    return next((c for c in candidates if _matches(c, ref.digest)), None)


async def _bytes(ctx: "Context", ref: FileRef, target: Node) -> bytes:
    data = _local_bytes(ctx, ref)
    if data is not None:
        return data
    for node in ctx.fleet.ready():  # a copy another node holds (same digest, any ownership)
        if node.name == target.name:
            continue
        try:
            names = await node.list_files(folder(ctx.owner, node.name))
            for name in names:
                if name.startswith(ref.digest + "-"):
                    data = await node.read_file(posixpath.join(folder(ctx.owner, node.name), name))
                    if _matches(data, ref.digest):
                        ctx.held[ref.digest] = data  # type: ignore[assignment]
                        return data  # type: ignore[return-value]
        except NodeError:
            continue
    source = f"the variable {ref.where}" if ref.origin == "environment" else ref.where or "the manifest"
    raise NodeError(target.name, f"{ref.kind} {ref.name}: {source} no longer holds what was applied and no node "
                                 f"has a copy; run apply again")


async def _tree(ctx: "Context", ref: FileRef, target: Node) -> Tree:
    """The folder as apply read it: kept by this process, or read again when unchanged."""
    tree = ctx.trees.get(ref.digest)
    if tree is None:
        try:
            tree = await asyncio.to_thread(walk, ref.where)
        except OSError:
            tree = None
        if tree is None or tree.digest != ref.digest:
            raise NodeError(target.name, f"the folder {ref.where} no longer holds what was applied; run apply again")
        ctx.trees[ref.digest] = tree
    return tree


async def deliver(ctx: "Context", node: Node, spec: ServiceSpec) -> tuple[tuple[str, str], ...]:
    """Put the service's secrets and configs on ``node`` (what is there already stays); the
    (path on the node, target) pairs to bind read-only. Raises NodeError."""
    wanted = refs(spec)
    if not wanted:
        return ()
    where = folder(ctx.owner, node.name)
    present = set(await node.list_files(where))
    out = []
    for ref in wanted:
        path = posixpath.join(where, file_name(ref))
        if file_name(ref) not in present and is_tree(ref.digest):
            await node.put_tree(path, (await _tree(ctx, ref, node)).entries)
        elif file_name(ref) not in present:
            await node.put_file(path, await _bytes(ctx, ref, node), ref.mode, int(ref.uid), int(ref.gid))
        present.add(file_name(ref))
        out.append((path, ref.target))
    return tuple(out)


def _in_use(ctx: "Context") -> dict[str, set[str]]:
    """Node -> the file names the replicas recorded there (and its lost copies, and the old
    replicas a start-first rollout keeps serving) use."""
    from tui_orch.controller.planning import revision_spec

    recs = list(ctx.store.replicas()) + list(ctx.store.lost_copies().values())
    for data in ctx.store.rollouts().values():
        recs += [from_dict(Replica, json.loads(old)) for _, old in data.get("retiring", ())]
    names: dict[tuple[str, int], list[str]] = {}
    keep: dict[str, set[str]] = {}
    for rec in recs:
        if (rec.service, rec.revision) not in names:
            spec = revision_spec(ctx, rec.service, rec.revision)
            names[(rec.service, rec.revision)] = [file_name(ref) for ref in refs(spec)] if spec is not None else []
        keep.setdefault(rec.node, set()).update(names[(rec.service, rec.revision)])
    return keep


async def prune(ctx: "Context", nodes: list[Node] | None = None) -> None:
    """Remove from each Ready node the files no replica recorded there uses. The caller holds
    the lock, with no start in flight (a start records its replica before letting go)."""
    keep_by_node: dict[str, set[str]] | None = None
    for node in nodes if nodes is not None else ctx.fleet.ready():
        where = folder(ctx.owner, node.name)
        try:
            names = await node.list_files(where)
            if not names:
                continue
            if keep_by_node is None:  # one look at the records for every node (1,000 nodes: not 1,000)
                keep_by_node = _in_use(ctx)
            keep = keep_by_node.get(node.name, set())
            for name in names:
                if name in keep:
                    continue
                if is_tree(name):  # a folder, or one left half-written (.part)
                    await node.remove_tree(posixpath.join(where, name))
                else:
                    await node.remove_file(posixpath.join(where, name))
        except NodeError:
            continue  # the next pass tries again
