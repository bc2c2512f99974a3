"""Build the images of a manifest's services that have ``build:``, before anything else of an
apply happens: a failed build stops the apply with nothing changed.

Where: on the node ``--build-on`` names; else on this machine's engine (DOCKER_HOST, else
/var/run/docker.sock) when it answers; else on the inventory's ``build_on`` node; else the
apply is refused with one line saying so. The image then reaches the nodes that run the
service by the usual image copy (pull, or ``docker save | docker load`` from the engine that
has it: the build node, or this machine's engine).

Each built service's spec is stored with ``image`` the built image's run tag (its name's tag
plus the image id, manifest/build.py ``run_tag``) and ``build`` None: a rebuild that yields
the same image gives the same spec (no rollout), a changed image a new revision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tui_orch.controller.events import event
from tui_orch.errors import BuildFailed, TuiOrchError
from tui_orch.manifest import Manifest
from tui_orch.manifest.build import run_tag
from tui_orch.model import BuildSpec, NodeState, ServiceSpec
from tui_orch.nodes import build as engines

if TYPE_CHECKING:
    from tui_orch.controller.context import Context

Output = Callable[[str], None]
Build = Callable[[str, BuildSpec, str, Output], Awaitable[str | None]]


async def build_services(ctx: "Context", manifest: Manifest, build_on: str | None = None,
                         output: Output | None = None) -> Manifest:
    """The manifest with each ``build:`` service's image built and its spec pointing at it.
    Raises BuildFailed (a step failed: its error lines) or TuiOrchError (no engine to build on)."""
    todo = [s for s in manifest.services if s.build is not None]
    if not todo:
        return manifest
    say = output or (lambda _line: None)
    where, build = await _engine(ctx, build_on or None, todo[0].name)
    built: dict[str, ServiceSpec] = {}
    for spec in todo:  # one after the other: the log stays readable, and later builds reuse the cache
        assert spec.build is not None
        say(f"building {spec.name} as {spec.image} on {where}")
        try:
            image_id = await build(spec.name, spec.build, spec.image, lambda line, n=spec.name: say(f"{n} | {line}"))
        except TuiOrchError as exc:
            ctx.bus.publish(event("build", f"the build of {spec.name} failed on {where}: {exc}",
                                  service=spec.name, level="error"))
            if isinstance(exc, BuildFailed):
                raise
            raise BuildFailed(f"the build of {spec.name} failed: {exc}; nothing was changed") from None
        if image_id is None:  # this machine's engine went away between the look and the build
            raise BuildFailed(f"the build of {spec.name} failed: {where} stopped answering; nothing was changed")
        ref = run_tag(spec.image, image_id)
        say(f"built {spec.name}: {ref}")
        built[spec.name] = dataclasses.replace(spec, image=ref, build=None)
    return dataclasses.replace(manifest, services=tuple(built.get(s.name, s) for s in manifest.services))


def as_last_built(ctx: "Context", manifest: Manifest) -> Manifest:
    """For a dry run, which builds nothing: each ``build:`` service as if its build gave the
    image last built for it under the same name (so the plan shows what else changes), or,
    never built under that name, its name (a new revision)."""
    def assumed(spec: ServiceSpec) -> ServiceSpec:
        if spec.build is None:
            return spec
        cur = ctx.store.current_revision(spec.name)
        prefix = run_tag(spec.image, "")  # "name:tag-"
        image = cur.spec.image if cur is not None and cur.spec.image.startswith(prefix) else spec.image
        return dataclasses.replace(spec, image=image, build=None)

    return dataclasses.replace(manifest, services=tuple(map(assumed, manifest.services)))


def dry_run_notes(manifest: Manifest) -> list[str]:
    return [f"note: {s.name} is built at apply (from {s.build.context}); if its image changed, that starts a rollout"
            for s in manifest.services if s.build is not None]


async def _engine(ctx: "Context", build_on: str | None, service: str) -> tuple[str, Build]:
    """(where, how) to build: the named node, else this machine, else the inventory's build_on."""
    if build_on is None and await engines.has_local_engine():
        return engines.local_engine_name(), engines.build_here
    name = build_on or ctx.fleet.inventory.build_on
    if name is None:
        raise TuiOrchError(f"{service} has build: but this machine has no Docker Engine to build it "
                           f"(DOCKER_HOST, or /var/run/docker.sock): start one, or build on a node with "
                           f"--build-on NODE (or build_on: NODE in the inventory)")
    node = ctx.fleet.nodes.get(name)
    if node is None:
        known = ", ".join(ctx.fleet.nodes)
        raise TuiOrchError(f"cannot build on {name}: there is no such node in the inventory (nodes: {known})")
    if node.status.state != NodeState.READY:
        why = f" ({node.status.reason})" if node.status.reason else ""
        raise TuiOrchError(f"cannot build on {name}: the node is {node.status.state.value}{why}; "
                           f"bring it back or build on another node (--build-on NODE)")
    return name, node.build_image


__all__ = ["Output", "as_last_built", "build_services", "dry_run_notes"]
