"""The controller's kept placer (controller/placing.py) against a placement made from scratch of
the nodes and records as they are at that moment, while the state changes under it: deploys,
scaling, records written and removed, a node cordoned and uncordoned, a node going down, an
apply that adds an ingress port (every node's edge proxy then holds it). Each answer must be
the same as the from-scratch one."""

from __future__ import annotations

import dataclasses

from tui_orch import placement
from tui_orch.controller import placing, planning
from tui_orch.model import Availability, NodeState
from ui_support import manifest, sim_controller

WEB = """
services:
  web:
    image: tuiorch/web:1
    ports: ["8080"]
    deploy:
      replicas: {n}
      resources: {{reservations: {{cpus: "0.5", memory: 256M}}}}
  api:
    image: tuiorch/api:1
    deploy:
      replicas: 2
      resources: {{reservations: {{cpus: "1", memory: 1G}}}}
"""

EDGE = WEB + """
  edge:
    image: tuiorch/edge:1
    ports:
      - target: 80
        published: 20000
        mode: ingress
"""


def check(ctl, spec_name: str = "web", without: tuple[str, ...] = (), avoid: tuple[str, ...] = ()) -> None:  # type: ignore[no-untyped-def]
    ctx = ctl.ctx
    spec = planning.desired(ctx)[spec_name][0]
    nodes = planning.node_infos(ctx)
    if avoid:
        nodes = [dataclasses.replace(n, availability=Availability.CORDONED) if n.name in avoid else n for n in nodes]
    current = [r for r in ctx.store.replicas() if r.key not in without]
    slots = [50, 51, 52]
    expected = placement.place(spec, slots, nodes, current)
    got = placing.place(ctx, spec, slots, without=without, avoid=avoid)
    assert got == expected
    assert got.starts  # it did place: the comparison is not between two empty plans


async def test_the_kept_placer_answers_as_a_fresh_one_while_the_state_changes(tmp_path):
    async with sim_controller(tmp_path / "state") as (ctl, sim):
        assert (await ctl.apply(manifest(WEB.format(n=3), "web.yaml"))).ok
        check(ctl)
        kept = ctl.ctx.placing["kept"].live
        await ctl.scale("web", 6)
        check(ctl)
        await ctl.cordon("sim-1")
        check(ctl)
        await ctl.uncordon("sim-1")
        check(ctl, without=("web.2",))
        check(ctl, avoid=("sim-2",))
        assert ctl.ctx.placing["kept"].live is kept  # followed, not made anew each time
        # an ingress port: every node's edge proxy holds it, no replica may get it as its own
        # (the nodes' bound ports changed: the placer is made anew)
        assert (await ctl.apply(manifest(EDGE.format(n=6), "web.yaml"))).ok
        check(ctl)
        kept = ctl.ctx.placing["kept"].live
        await ctl.scale("web", 2)  # records removed
        check(ctl)
        sim_node = ctl.ctx.fleet.nodes["sim-3"]
        sim_node.set_status(NodeState.NOT_READY, "test: down")
        check(ctl)
        assert ctl.ctx.placing["kept"].live is kept  # followed, not made anew each time
