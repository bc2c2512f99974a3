"""The volumes of a simulated node: in memory, a path -> bytes map each.

Copying one to another simulated node copies the map and reports its bytes as progress,
with the same checksum form as a real copy (of the content only, nodes/tardigest.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tui_orch.errors import NodeError
from tui_orch.model import Mount, Pairs, VolumeSpec
from tui_orch.nodes.base import LABEL_VOLUME, VolumeCopy, VolumeInfo, VolumeProgress
from tui_orch.nodes.mounts import missing_external
from tui_orch.nodes.tardigest import digest_files


@dataclass
class SimVolume:
    name: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


class SimVolumes:
    """One node's volumes; ``users(name)`` names the containers that mount one."""

    def __init__(self, node: str, users: Callable[[str], list[str]]):
        self.node = node
        self.users = users
        self.volumes: dict[str, SimVolume] = {}

    def create(self, name: str, labels: dict[str, str] | None = None,
               files: dict[str, bytes] | None = None) -> SimVolume:
        """A volume (labelled as tui-orch's unless ``labels`` says otherwise); an existing one is kept."""
        if name not in self.volumes:
            self.volumes[name] = SimVolume(name, labels=dict(labels if labels is not None else {LABEL_VOLUME: name}),
                                           files=dict(files or {}))
        return self.volumes[name]

    def ensure(self, volume: VolumeSpec, labels: Pairs) -> str:
        """``Node.ensure_volume``: as an engine does it."""
        if volume.name in self.volumes:
            return "present"
        if volume.external:
            raise NodeError(self.node, missing_external(volume.name, volume.key))
        made = self.create(volume.name, {**dict(volume.labels), LABEL_VOLUME: volume.key, **dict(labels)})
        made.driver = volume.driver or "local"
        return "created"

    def mount(self, mounts: tuple[Mount, ...]) -> None:
        """A container mounts these: a named volume that is missing is made bare, as the engine
        does (no labels: not tui-orch's)."""
        for m in mounts:
            if m.type == "volume" and m.source:
                self.create(m.source, labels={})

    def listing(self) -> list[VolumeInfo]:
        return [VolumeInfo(v.name, self.node, v.driver, tuple(sorted(v.labels.items())),
                           tuple(sorted(self.users(v.name))), sum(len(d) for d in v.files.values()))
                for v in sorted(self.volumes.values(), key=lambda v: v.name) if LABEL_VOLUME in v.labels]

    def remove(self, name: str) -> None:
        volume = self.volumes.get(name)
        if volume is None:
            return
        if LABEL_VOLUME not in volume.labels:
            raise NodeError(self.node, f"volume {name} is not tui-orch's; it is left alone (docker volume rm it there)")
        using = self.users(name)
        if using:
            raise NodeError(self.node, f"volume {name} is used by container {', '.join(sorted(using))}; "
                            f"remove or move that first")
        del self.volumes[name]

    def receive(self, source: "SimVolumes", name: str, progress: VolumeProgress | None) -> VolumeCopy:
        started = time.monotonic()
        original = source.volumes.get(name)
        if original is None:
            raise NodeError(source.node, f"inspect volume {name}: no such volume")
        if name in self.volumes:
            raise NodeError(self.node, f"volume {name} already exists there; nothing was copied "
                            f"(tui-orch volume rm {name} --node {self.node} if it is a stale copy)")
        copy = SimVolume(name, original.driver, dict(original.labels), dict(original.files))
        self.volumes[name] = copy
        size = sum(len(d) for d in copy.files.values())
        if progress is not None:
            progress("copy", size, time.monotonic() - started)
        before, after = digest_files(original.files), digest_files(copy.files)
        return VolumeCopy(name, source.node, self.node, size, after.content_bytes, after.files,
                          time.monotonic() - started, before.checksum, after.checksum)
