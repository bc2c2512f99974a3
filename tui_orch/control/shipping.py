"""``apply`` to a controller on another machine: the manifest is read here, and shipped.

A Compose file names files of the machine it is applied from: secrets and configs, files
and folders bound by a relative path, ``env_file``s, included and extended files. The
controller on another machine cannot read them. So the client loads the manifest as it
would itself (its directory, its environment, its profiles: every check and message as
usual), reads the local files it binds (delivery.with_local_digests), and sends the loaded
manifest with every byte it needs: ``{"services": [ServiceSpec], "volumes": [...],
"values": {digest: bytes}, "files": {digest: bytes}, "trees": {digest: [entries]}}``
(bytes in base64). The controller never opens a path of the client's.

The controller checks what it receives as it would check what it read: every spec decodes
as a model value, and every file and folder matches the digest it is shipped under (a
changed file is a new revision, so a wrong digest would deploy the wrong bytes).

Not shipped: ``build:`` contexts (a folder to build an image from: push the image to a
registry the nodes reach, or apply where the controller runs). Secrets travel inside the
SSH connection and are held in the controller's memory only, as when it reads them."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tui_orch.errors import TuiOrchError
from tui_orch.manifest.document import Manifest
from tui_orch.manifest.localtree import Entry, Tree, is_tree
from tui_orch.manifest.localtree import _digest as tree_digest
from tui_orch.manifest.secrets import Held
from tui_orch.model import ServiceSpec, VolumeSpec, from_dict, to_dict

MAX_SHIPPED = 48 << 20  # bytes of files a remote apply sends (the channel's request limit is above it)


def ship(manifest: Manifest) -> dict[str, Any]:
    """The manifest and the bytes it needs, for a controller on another machine. Raises
    TuiOrchError for what cannot be shipped (a build context, too many bytes)."""
    from tui_orch.controller.delivery import with_local_digests

    built = [s.name for s in manifest.services if s.build is not None]
    if built:
        raise TuiOrchError(f"{', '.join(built)} {'is' if len(built) == 1 else 'are'} built from a folder of this "
                           f"machine (build:), which a controller on another machine cannot read; push the image "
                           f"to a registry its nodes reach and name it in image:, or apply where it runs")
    held: dict[str, bytes] = {}
    trees: dict[str, Tree] = {}
    manifest = with_local_digests(manifest, held, trees)  # ManifestError naming a path it cannot read
    size = sum(map(len, held.values())) + sum(t.size for t in trees.values()) + sum(map(len, manifest.values.values()))
    if size > MAX_SHIPPED:
        raise TuiOrchError(f"{manifest.file} binds {size >> 20} MiB of files of this machine, more than a controller "
                           f"on another machine takes in one apply ({MAX_SHIPPED >> 20} MiB); apply where it runs")
    return {
        "name": manifest.name, "file": manifest.file, "profiles": list(manifest.profiles),
        "left_out": [[name, list(profiles)] for name, profiles in manifest.left_out],
        "services": [to_dict(s) for s in manifest.services],
        "volumes": [to_dict(v) for v in manifest.volumes],
        "values": {d: _b64(b) for d, b in manifest.values.items()},
        "files": {d: _b64(b) for d, b in held.items()},
        "trees": {d: [[e.path, e.folder, e.mode, _b64(e.data)] for e in t.entries] for d, t in trees.items()},
        "sections": [[name, text] for name, text in manifest.sections],  # what `y` shows (Revision.compose)
    }


def unship(payload: Any) -> tuple[Manifest, dict[str, bytes], dict[str, Tree]]:
    """The manifest, the bound files' bytes and the bound folders a client shipped; raises
    TuiOrchError for anything that is not what ``ship`` makes."""
    try:
        services = tuple(from_dict(ServiceSpec, s) for s in payload["services"])
        volumes = tuple(from_dict(VolumeSpec, v) for v in payload["volumes"])
        values = Held({str(d): _bytes(b) for d, b in payload["values"].items()})
        files = {str(d): _bytes(b) for d, b in payload["files"].items()}
        trees = {str(d): Tree(str(d), tuple(Entry(str(p), bool(f), int(m), _bytes(b)) for p, f, m, b in entries))
                 for d, entries in payload["trees"].items()}
        manifest = Manifest(name=payload["name"], services=services, file=str(payload["file"]),
                            left_out=tuple((str(n), tuple(map(str, p))) for n, p in payload["left_out"]),
                            profiles=tuple(map(str, payload["profiles"])), values=values, volumes=volumes,
                            sections=tuple((str(n), str(t)) for n, t in payload.get("sections", ())))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TuiOrchError(f"the manifest shipped by the client cannot be read ({exc.__class__.__name__}: "
                           f"{str(exc)[:120]}); are client and controller the same tui-orch version?") from None
    for digest, data in [*values.items(), *files.items()]:
        if is_tree(digest) or hashlib.sha256(data).hexdigest() != digest:
            raise TuiOrchError(f"a file shipped with {manifest.file} does not match its digest; nothing was applied")
    for digest, tree in trees.items():
        if tree_digest(list(tree.entries)) != digest:
            raise TuiOrchError(f"a folder shipped with {manifest.file} does not match its digest; nothing was applied")
    return manifest, files, trees


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _bytes(text: Any) -> bytes:
    return base64.b64decode(str(text), validate=True)
