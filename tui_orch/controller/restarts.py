"""When to restart a replica that died or turned unhealthy: pure bookkeeping, no I/O.

Delay of attempt n (n = 0 for the first after a good run): ``delay * 2**n``, capped at
``BACKOFF_CAP``. ``delay: 0`` is honoured as "no backoff": the first attempt is immediate
and every further one in a row waits ``HOT_LOOP_FLOOR`` (no doubling), so a replica that
dies at once is restarted about once a second instead of in a hot loop. A replica that ran ``RESET_AFTER`` seconds before failing starts
again from n = 0. ``max_attempts`` counts attempts in the last ``window`` seconds (all of
them when the window is 0); once reached, the replica is given up (FAILED).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tui_orch.model import RestartPolicy

BACKOFF_CAP = 300.0  # 5 minutes
RESET_AFTER = 600.0  # 10 minutes running fine resets the backoff
HOT_LOOP_FLOOR = 1.0  # delay 0: seconds between restarts in a row (no doubling)


@dataclass
class RestartTracker:
    attempts: deque[float] = field(default_factory=deque)  # times of past attempts
    consecutive: int = 0  # failures since the last good run


@dataclass(frozen=True)
class Decision:
    restart: bool
    delay: float = 0.0
    attempt: int = 0  # 1-based number of this attempt in the current window
    reason: str = ""  # why not, when not


def decide(policy: RestartPolicy, tracker: RestartTracker, *, now: float, exit_code: int | None,
           unhealthy: bool = False, ran_for: float = 0.0) -> Decision:
    """Whether and when to restart; records the attempt in ``tracker`` when it does."""
    if policy.condition == "none":
        return Decision(False, reason="restart policy is none")
    failed = unhealthy or exit_code != 0
    if policy.condition == "on-failure" and not failed:
        return Decision(False, reason="exited with code 0 (restart on failure only)")
    if ran_for >= RESET_AFTER:
        tracker.consecutive = 0
    if policy.window > 0:
        while tracker.attempts and now - tracker.attempts[0] > policy.window:
            tracker.attempts.popleft()
    if policy.max_attempts and len(tracker.attempts) >= policy.max_attempts:
        within = f" within {policy.window:g} s" if policy.window > 0 else ""
        return Decision(False, reason=f"gave up after {len(tracker.attempts)} restarts{within}")
    delay = min(_delay(policy.delay, tracker.consecutive), BACKOFF_CAP)
    tracker.consecutive += 1
    tracker.attempts.append(now)
    return Decision(True, delay, len(tracker.attempts))


def _delay(base: float, consecutive: int) -> float:
    if base <= 0:  # honoured: no backoff, only the floor against a hot loop
        return 0.0 if consecutive == 0 else HOT_LOOP_FLOOR
    return base * 2 ** consecutive
