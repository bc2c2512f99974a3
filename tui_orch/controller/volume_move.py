"""``volume move SERVICE[.SLOT] NODE``: a replica moves to another node with its data.

The order is what keeps the data safe: check everything that can be checked first (the node
exists and is Ready, the replica fits there, its image is there), then stop the replica (its
data must not change while it is copied), copy each named volume it mounts to the node
(nodes/volumes.py: streamed through this process, checksums of both sides compared), record
the node as the volumes' home, start the replica there and wait for its health gate, and
only then remove the old copies. Any failure before that last step removes what was made on
the new node and starts the replica on its old node again, with its old data; the caller gets
one sentence saying what failed. The old copies are the only copies until the new replica
has passed its health gate.

The controller's lock is held from the stop to the start (a reconcile pass must neither
restart the replica on its old node nor place it elsewhere while its data is in transit);
restarts of other services wait meanwhile, so a very large volume holds them up for its copy.

One replica at a time: a service with several replicas needs ``SERVICE.SLOT``. A volume that
another container on the node also mounts is refused (moving it would split its data in two).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tui_orch import placement
from tui_orch.controller import deploy, planning
from tui_orch.controller.availability import check_node
from tui_orch.controller.events import event
from tui_orch.errors import NodeError, TuiOrchError
from tui_orch.model import NodeState, Replica, ReplicaState, ServiceSpec, VolumeHome
from tui_orch.nodes.base import Node, VolumeCopy, VolumeProgress

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

Watch = Callable[[Replica], Awaitable[Replica]]  # waits for a started replica's health gate


class MoveFailed(TuiOrchError):
    """A move that was undone: the replica runs on its old node again, with its data there."""


@dataclass(frozen=True)
class MoveResult:
    replica: str
    source: str
    target: str
    copies: tuple[VolumeCopy, ...]
    warnings: tuple[str, ...] = ()

    def sentence(self) -> str:
        size = sum(c.content_bytes for c in self.copies)
        seconds = sum(c.seconds for c in self.copies)
        names = ", ".join(c.name for c in self.copies)
        rate = sum(c.bytes_sent for c in self.copies) / seconds / 1e6 if seconds > 0 else 0.0
        return (f"{self.replica} moved from {self.source} to {self.target} with volume {names} "
                f"({size / 2**20:.1f} MiB, checksums equal, {rate:.1f} MB/s); the copy on {self.source} is removed")


@dataclass(frozen=True)
class _Move:
    """What was checked before anything changed."""

    rep: Replica
    spec: ServiceSpec
    source: Node
    target: Node
    ports: tuple[int, ...]
    volumes: tuple[str, ...]


def parse_replica(text: str) -> tuple[str, int | None]:
    """``SERVICE`` or ``SERVICE.SLOT``."""
    service, dot, slot = text.rpartition(".")
    if dot and slot.isdigit() and service:
        return service, int(slot)
    return text, None


def _replica(ctx: Context, service: str, slot: int | None) -> tuple[Replica, ServiceSpec]:
    rec = ctx.store.get_service(service)
    if rec is None or rec.removed:
        raise TuiOrchError(f"there is no service {service}; see `tui-orch get services`")
    reps = sorted(ctx.store.replicas(service), key=lambda r: r.slot)
    spec = planning.revision_spec(ctx, service, rec.revision)
    if spec is not None and spec.mode == "global":
        raise TuiOrchError(f"service {service} is global (one replica on every node, each with its own "
                           f"volumes); there is no replica of it to move")
    if slot is None and len(reps) > 1:
        slots = ", ".join(str(r.slot) for r in reps)
        raise TuiOrchError(f"service {service} has {len(reps)} replicas (slots {slots}); name one, "
                           f"e.g. `tui-orch volume move {service}.{reps[0].slot} NODE`")
    found = [r for r in reps if slot is None or r.slot == slot]
    if not found:
        raise TuiOrchError(f"service {service} has no replica {slot}; see `tui-orch get replicas`")
    rep = found[0]
    rev_spec = planning.revision_spec(ctx, service, rep.revision)
    if rev_spec is None:
        raise TuiOrchError(f"replica {rep.key} has no revision {rep.revision} in the state")
    return rep, rev_spec


def _ready(ctx: Context, name: str, role: str) -> Node:
    node = ctx.fleet.nodes[name]
    if node.status.state != NodeState.READY:
        why = f" ({node.status.reason})" if node.status.reason else ""
        raise TuiOrchError(f"node {name} ({role}) is {node.status.state.value}{why}; nothing was changed")
    return node


def _fit(ctx: Context, spec: ServiceSpec, rep: Replica, target: str) -> tuple[int, ...]:
    """The ports the replica gets on ``target``, or why it does not fit there."""
    nodes = [n for n in planning.node_infos(ctx) if n.name == target]
    others = [r for r in ctx.store.replicas() if r.key != rep.key]
    p = placement.place(spec, [rep.slot], nodes, others)
    if not p.starts:
        why = p.unschedulable[0].reason if p.unschedulable else "it does not fit"
        raise TuiOrchError(f"{rep.key} cannot run on {target}: {why}; nothing was changed")
    return p.starts[0].ports


def named_volumes(spec: ServiceSpec) -> tuple[str, ...]:
    """The node-level names of the named volumes a replica of ``spec`` mounts; one the
    operator made (external) cannot be moved: it is not tui-orch's to copy or remove."""
    names = []
    for mount in spec.mounts:
        volume = spec.volume(mount.source) if mount.type == "volume" and mount.source else None
        if volume is None:
            continue
        if volume.external:
            raise TuiOrchError(f"volume {volume.name} of {spec.name} is external (made outside tui-orch): "
                               f"tui-orch neither copies nor removes it; nothing was changed")
        if volume.name not in names:
            names.append(volume.name)
    return tuple(names)


async def _volumes(rep: Replica, spec: ServiceSpec, source: Node) -> tuple[str, ...]:
    """The named volumes of the replica, each on its node and used by no other container."""
    names = named_volumes(spec)
    if not names:
        raise TuiOrchError(f"{rep.key} mounts no named volume; nothing to move "
                           f"(`tui-orch node drain` moves replicas without data)")
    try:
        mine = (await source.inspect(rep.container_id)).name if rep.container_id else ""
        found = {v.name: v for v in await source.list_volumes()}
    except NodeError as exc:
        raise TuiOrchError(f"cannot read the volumes of {rep.key} on {source.name}: {exc}; "
                           f"nothing was changed") from None
    for name in names:
        if name not in found:
            raise TuiOrchError(f"volume {name} of {rep.key} is not on {source.name}; nothing was changed")
        others = [u for u in found[name].users if u != mine]
        if others:
            raise TuiOrchError(f"volume {name} on {source.name} is also used by {', '.join(others)}; "
                               f"moving it would split its data in two: nothing was changed")
    return names


def _set_homes(ctx: Context, m: _Move, node: str) -> None:
    """Record ``node`` as the home of the replica's volumes (its data is there now)."""
    now = time.time()
    ctx.store.set_volume_homes([VolumeHome(m.rep.key, m.rep.service, name, node, now) for name in m.volumes])


async def _check(ctx: Context, service: str, slot: int | None, target: str) -> _Move:
    check_node(ctx, target)
    rep, spec = _replica(ctx, service, slot)
    if rep.node == target:
        raise TuiOrchError(f"{rep.key} already runs on {target}; nothing to move")
    source = _ready(ctx, rep.node, "where it runs")
    dest = _ready(ctx, target, "the destination")
    ports = _fit(ctx, spec, rep, target)
    volumes = await _volumes(rep, spec, source)
    try:
        await deploy.bring_image(ctx, dest, spec.image)  # needed there anyway; copies use it too
    except NodeError as exc:
        raise TuiOrchError(f"image {spec.image} cannot be brought to {target}: {exc}; nothing was changed") from None
    return _Move(rep, spec, source, dest, ports, volumes)


async def _prefetch(ctx: Context, service: str, slot: int | None, target: str) -> None:
    """Bring the image to the target before taking the lock (a copy of a large image must not
    hold up restarts); what goes wrong is said again, under the lock, by ``_check``."""
    check_node(ctx, target)
    rep, spec = _replica(ctx, service, slot)
    node = ctx.fleet.nodes[target]
    if rep.node != target and node.status.state == NodeState.READY:
        with contextlib.suppress(NodeError):
            await deploy.bring_image(ctx, node, spec.image)


async def move(ctx: Context, watch: Watch, service: str, slot: int | None, target: str,
               progress: Callable[[str, str, int, float], None] | None = None) -> MoveResult:
    """Move one replica and its named volumes to ``target`` (see the module's docstring).
    ``progress(volume, phase, bytes, seconds)`` is called while copying. Raises
    TuiOrchError before anything changed, MoveFailed once undone."""
    failure = ""
    await _prefetch(ctx, service, slot, target)
    async with ctx.lock:
        m = await _check(ctx, service, slot, target)
        ctx.bus.publish(event("volume", f"moving {m.rep.key} from {m.source.name} to {target} with volume "
                              f"{', '.join(m.volumes)}", service=service, replica=m.rep.key, node=target))
        await deploy.stop_replica(ctx, m.rep, f"moving with its data to {target}")
        copies: list[VolumeCopy] = []
        try:
            for name in m.volumes:
                copies.append(await m.target.copy_volume_from(m.source, name, m.spec.image,
                                                              _progress(progress, name)))
        except NodeError as exc:
            failure = f"copying the data failed: {exc}"
            undone = await _undo(ctx, m, None, copies)
        else:
            _set_homes(ctx, m, target)  # the verified copy is the data from now on
            new = await deploy.start_replica(ctx, m.spec, m.rep.revision, m.rep.slot, target, m.ports)
    if not failure:
        new = await watch(new)
        if new.state != ReplicaState.RUNNING:
            failure = f"it did not pass its health gate on {target} ({new.message or new.state.value})"
            async with ctx.lock:
                undone = await _undo(ctx, m, new, copies)
    if failure:
        await _failed(ctx, watch, m, undone, failure)
    warnings = await _remove_old(m)
    result = MoveResult(m.rep.key, m.source.name, target, tuple(copies), tuple(warnings))
    ctx.bus.publish(event("volume", result.sentence(), service=service, replica=m.rep.key, node=target))
    for line in warnings:
        ctx.bus.publish(event("volume", line, service=service, replica=m.rep.key, node=m.source.name,
                              level="warning"))
    return result


async def _remove_old(m: _Move) -> list[str]:
    """Remove the old copies (the new replica passed its health gate); what stays is said."""
    warnings = []
    for name in m.volumes:
        try:
            await m.source.remove_volume(name)
        except NodeError as exc:
            warnings.append(f"the old copy of volume {name} stays on {m.source.name} ({exc}); "
                            f"remove it with `tui-orch volume rm {name} --node {m.source.name}`")
    return warnings


def _progress(progress: Callable[[str, str, int, float], None] | None, name: str) -> VolumeProgress | None:
    if progress is None:
        return None
    return lambda phase, done, seconds: progress(name, phase, done, seconds)


async def _undo(ctx: Context, m: _Move, new: Replica | None,
                copies: list[VolumeCopy]) -> tuple[Replica, list[str]]:
    """Put everything back (the caller holds the lock): the new replica and the copies go,
    the replica starts on its old node with its old data. Returns it, and the copies that
    could not be removed."""
    if new is not None:
        await deploy.stop_replica(ctx, new, f"moving to {m.target.name} failed")
    _set_homes(ctx, m, m.source.name)  # the old copy, untouched since the replica stopped
    left = []
    for copy in copies:
        try:
            await m.target.remove_volume(copy.name)
        except NodeError:
            left.append(copy.name)
    old = await deploy.start_replica(ctx, m.spec, m.rep.revision, m.rep.slot, m.source.name, m.rep.ports)
    return old, left


async def _failed(ctx: Context, watch: Watch, m: _Move, undone: tuple[Replica, list[str]], why: str) -> None:
    """Wait for the replica back on its old node, say what happened, raise MoveFailed."""
    old, left = undone
    old = await watch(old)
    tail = f"; the partial copy of {', '.join(left)} stays on {m.target.name}" if left else ""
    state = "runs on" if old.state == ReplicaState.RUNNING else f"is {old.state.value} ({old.message}) on"
    message = (f"volume move of {m.rep.key} to {m.target.name} failed: {why}; {m.rep.key} {state} "
               f"{m.source.name} again with its data there{tail}")
    ctx.bus.publish(event("volume", message, service=m.rep.service, replica=m.rep.key, node=m.source.name,
                          level="error"))
    raise MoveFailed(message)
