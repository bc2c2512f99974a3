"""What a command that changes the desired state reports back: ``ApplyResult``,
``RebalanceResult``."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui_orch.model import Rollout, RolloutState


@dataclass
class ApplyResult:
    """What an apply (or remove, scale, drain) did, or would do for a dry run."""

    dry_run: bool = False
    plan: str = ""  # Plan.describe() of the moves (with unschedulable reasons)
    revisions: dict[str, int] = field(default_factory=dict)  # new revision per changed service
    unchanged: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # replica keys now running
    completed: list[str] = field(default_factory=list)  # one-shot jobs (restart "no") that ran to exit 0
    stopped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one sentence per replica that did not come up
    unschedulable: list[str] = field(default_factory=list)
    rollouts: dict[str, str] = field(default_factory=dict)  # service -> what its rollout does/did
    # what a plan was made on: service -> [its desired revision (0: none), its scale override
    # (-1: none), removed (1/0)]; an apply given it as ``expect`` refuses if any changed since
    basis: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unschedulable


@dataclass
class RebalanceResult:
    """What a rebalance did: the nodes its plan frees, and each service's rollout of kind
    rebalance in the order they ran (a service after one that did not complete is absent)."""

    nodes_before: int = 0
    nodes_after: int = 0
    freed: tuple[str, ...] = ()
    moves: int = 0  # replicas the plan moves
    rollouts: tuple[Rollout, ...] = ()  # a tuple: model.from_dict reads it back (a console attached)

    @property
    def ok(self) -> bool:
        return all(ro.state == RolloutState.COMPLETED for ro in self.rollouts)

    def sentence(self) -> str:
        """One line for the console: what moved and what it freed, or where it stopped."""
        if not self.moves:
            return "rebalance: nothing to move (no node can be freed onto nodes in use)"
        moved = sum(ro.healthy for ro in self.rollouts if ro.state == RolloutState.COMPLETED)
        stuck = next((ro for ro in self.rollouts if ro.state != RolloutState.COMPLETED), None)
        if stuck is not None:
            return (f"rebalance stopped at {stuck.service}: {stuck.message or stuck.state.value}; "
                    f"{moved} of {self.moves} replica(s) moved")
        return (f"rebalance: {moved} replica(s) moved; {self.nodes_before} -> {self.nodes_after} node(s) in use "
                f"(frees {', '.join(self.freed)})")
