"""What a command that changes the desired state reports back: ``ApplyResult``."""

from __future__ import annotations

from dataclasses import dataclass, field


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
