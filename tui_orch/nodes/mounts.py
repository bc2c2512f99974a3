"""A container request's mounts in the Engine API's HostConfig terms (no I/O, no docker-py).

- A named or anonymous volume: a ``Mounts`` entry of type volume (``VolumeOptions``: NoCopy,
  Subpath). The controller made the named one first (``Node.ensure_volume``), with its driver
  and labels; the engine would otherwise make a bare one of the default driver.
- A bind of a path on the node: short syntax (``create_host_path`` true) goes to ``Binds``,
  ``/src:/dst[:ro,z,rshared]``, for which the engine creates a missing folder, as Compose does;
  long syntax goes to ``Mounts`` type bind (``BindOptions.Propagation``), for which a missing
  path is an error (``missing_bind``), unless it says ``create_host_path: true``. SELinux
  relabelling (``z``/``Z``) exists in the ``Binds`` form only, so such a bind goes there too,
  and so does a named volume with ``z``/``Z`` (``name:/dst:z``, as Compose writes it).
- A tmpfs mount: ``Mounts`` type tmpfs (``TmpfsOptions``: SizeBytes, Mode); the service key
  ``tmpfs``: ``Tmpfs`` {path: options}.
- ``volumes_from``: ``VolumesFrom``, container ids resolved on the same node by the controller.
"""

from __future__ import annotations

import re
from typing import Any

from tui_orch.model import Mount

# the engine's words when a long-syntax bind names a path that is not on the node
_MISSING_BIND = re.compile(r"bind source path does not exist: (\S+)")


def _binds_form(m: Mount) -> bool:
    if m.type == "volume":  # a named one to relabel, with nothing only Mounts can say (subpath)
        return bool(m.option("selinux")) and bool(m.source) and not m.option("subpath")
    return m.type == "bind" and (m.option("create_host_path") == "true" or bool(m.option("selinux")))


def _bind(m: Mount) -> str:
    modes = ["ro"] if m.read_only else []
    modes += [v for v in (m.option("selinux"), m.option("propagation")) if v]
    modes += ["nocopy"] if m.type == "volume" and m.option("nocopy") == "true" else []
    return f"{m.source}:{m.target}" + (":" + ",".join(modes) if modes else "")


def _mount(m: Mount) -> dict[str, Any]:
    entry: dict[str, Any] = {"Type": m.type, "Target": m.target, "ReadOnly": m.read_only}
    if m.type == "volume":
        if m.source:  # none: an anonymous volume, removed with its container
            entry["Source"] = m.source
        options = {k: v for k, v in (("NoCopy", m.option("nocopy") == "true"), ("Subpath", m.option("subpath"))) if v}
        if options:
            entry["VolumeOptions"] = options
    elif m.type == "bind":
        entry["Source"] = m.source
        if m.option("propagation"):
            entry["BindOptions"] = {"Propagation": m.option("propagation")}
    else:
        options = {}
        if m.option("size"):
            options["SizeBytes"] = int(m.option("size"))
        if m.option("mode"):
            options["Mode"] = int(m.option("mode"), 8)
        if options:
            entry["TmpfsOptions"] = options
    return entry


def host_config_mounts(mounts: tuple[Mount, ...], tmpfs: tuple[tuple[str, str], ...],
                       volumes_from: tuple[str, ...]) -> dict[str, Any]:
    """The HostConfig fields for these mounts (only those that are not empty); ``Binds`` is
    to be appended to the delivered files' binds."""
    out: dict[str, Any] = {}
    binds = [_bind(m) for m in mounts if _binds_form(m)]
    entries = [_mount(m) for m in mounts if not _binds_form(m)]
    if binds:
        out["Binds"] = binds
    if entries:
        out["Mounts"] = entries
    if tmpfs:
        out["Tmpfs"] = dict(tmpfs)
    if volumes_from:
        out["VolumesFrom"] = list(volumes_from)
    return out


def missing_bind(engine_text: str) -> str | None:
    """One sentence for the engine's refusal of a long-syntax bind whose path is missing."""
    found = _MISSING_BIND.search(engine_text)
    if found is None:
        return None
    return (f"the bind source {found.group(1)} does not exist on this node; create it there, "
            f"or set bind.create_host_path: true (or use the short syntax) to have it created")


def missing_external(name: str, key: str) -> str:
    return (f"external volume {name} (volumes.{key}) does not exist on this node; create it there "
            f"(docker volume create {name}), or drop external: true to let tui-orch create it")
