"""Synthetic output of simulated containers: a few lines a second, the same every time."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone

LINES_PER_SECOND = 2.0
PATHS = ("/", "/api/items", "/api/items/42", "/healthz", "/login", "/static/app.js", "/api/orders")
METHODS = ("GET", "GET", "GET", "POST", "PUT")
STATUSES = (200, 200, 200, 200, 201, 204, 304, 404, 500)


def _text(container_id: str, index: int) -> str:
    if index == 0:
        return "INFO starting (simulated replica)"
    rng = random.Random(f"{container_id}:{index}")
    roll = rng.random()
    if roll < 0.08:
        return f"INFO worker heartbeat ok (queue depth {rng.randint(0, 40)})"
    if roll < 0.11:
        return f"WARN slow request to {rng.choice(PATHS)} took {rng.randint(500, 3000)} ms"
    ip = f"10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)}"
    return (f'{ip} - - "{rng.choice(METHODS)} {rng.choice(PATHS)} HTTP/1.1" {rng.choice(STATUSES)} '
            f"{rng.randint(80, 9000)} {rng.randint(1, 120)}ms")


def _stamp(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def log_lines(container_id: str, started: float, end: float, exit_code: int | None,
              since: float | None, tail: int | None, done: int, timestamps: bool) -> tuple[list[str], int]:
    """The lines written between ``started`` and ``end`` from line
    ``done`` on; ``since`` and ``tail`` as in ``docker logs``. A container that exited
    says so in its last line. Also the index of the next line to come."""
    count = int(max(0.0, end - started) * LINES_PER_SECOND) + 1
    if exit_code is not None:
        count += 1  # the goodbye line
    lo = done
    if since is not None:
        lo = max(lo, math.ceil((since - started) * LINES_PER_SECOND))
    if tail is not None:
        lo = max(lo, count - tail)
    out: list[str] = []
    for index in range(max(0, lo), count):
        last = exit_code is not None and index == count - 1
        text = f"INFO shutting down (exit code {exit_code})" if last else _text(container_id, index)
        when = end if last else started + index / LINES_PER_SECOND
        out.append(f"{_stamp(when)} {text}" if timestamps else text)
    return out, max(done, count)
