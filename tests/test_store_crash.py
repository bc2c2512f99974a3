"""Crash safety: a child writes to the store in a loop and is SIGKILLed at a random moment.

After every kill the store must open (read-only and as owner) and hold every write the
child reported durable, plus at most the one write it was doing (in part, where that write
spans files: a transaction is atomic within each file). The state carries over from round
to round, so later rounds also start from crash leftovers (torn event lines, temp files).

Rounds: 200 when CI=true, else 20 (STORE_CRASH_ROUNDS overrides). The seed is random and
printed; STORE_CRASH_SEED=N replays one."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHILD = HERE / "store_crash_child.py"
ENV = {**os.environ, "PYTHONPATH": str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}

_spec = importlib.util.spec_from_file_location("store_crash_child", CHILD)
assert _spec and _spec.loader
child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(child)


def rounds() -> int:
    if os.environ.get("STORE_CRASH_ROUNDS"):
        return int(os.environ["STORE_CRASH_ROUNDS"])
    return 200 if os.environ.get("CI") == "true" else 20


def run_child(folder: Path, start: int, rng: random.Random) -> tuple[list[int], str]:
    """Start a writer, kill it at a random moment; (the writes it reported durable, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(folder), str(start)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = b""
    if rng.random() < 0.1:  # anywhere in start-up: imports, lock, load, first writes
        time.sleep(rng.uniform(0.0, 0.2))
    else:
        first = proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.1))
    proc.send_signal(signal.SIGKILL)
    out = first + proc.stdout.read()
    err = proc.stderr.read().decode(errors="replace")
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the writer ended by itself: {err}"
    durable = [int(line.split()[1]) for line in out.split(b"\n")[:-1] if line.startswith(b"durable ")]
    return durable, err


def test_every_durable_write_survives_sigkill(tmp_path: Path) -> None:
    seed = int(os.environ.get("STORE_CRASH_SEED") or random.randrange(2**32))
    print(f"store crash test: seed {seed} (replay with STORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    folder = tmp_path / "state"
    # state verified after the previous round (it includes earlier in-flight writes that landed)
    known: dict[tuple[str, str], Any] = {}
    known_events: list[int] = []
    known_revisions: list[int] = []
    attempted_events: set[int] = set()
    attempted_revisions: set[int] = set()
    start = 1
    total = 0
    for round_ in range(rounds()):
        where = f"seed {seed}, round {round_} (replay with STORE_CRASH_SEED={seed})"
        durable, err = run_child(folder, start, rng)
        assert durable == list(range(start, start + len(durable))), where
        last = durable[-1] if durable else start - 1
        maybe = last + 1  # the write the child was doing: applied in full, in part, or not
        total += len(durable)

        expected = dict(known)
        for n in durable:
            expected.update(child.effects(n))
        in_flight = child.effects(maybe)
        # retention keeps the newest N; the in-flight write may have pushed out one more
        must_events = sorted({*known_events, *(n for n in durable if child.has_event(n))})
        must_events = must_events[-(child.EVENT_LIMIT - 1):]
        must_revisions = sorted({*known_revisions, *(n for n in durable if child.has_revision(n))})
        must_revisions = must_revisions[-(child.REVISION_LIMIT - 1):]
        attempted_events.update(n for n in (*durable, maybe) if child.has_event(n))
        attempted_revisions.update(n for n in (*durable, maybe) if child.has_revision(n))

        views = []
        for readonly in (True, False):
            try:
                store = child.open_for_test(str(folder), readonly)
            except Exception as exc:  # pragma: no cover - the failure being tested for
                raise AssertionError(f"{where}: the store does not open after the kill: {exc}\n{err}")
            with store:
                seen = child.observe(store)
                revisions = [r.number for r in store.revisions("app")]
                events = [int(e.message) for e in store.events()]
            views.append((seen, revisions, events))

            for key in set(expected) | set(in_flight) | set(seen):
                allowed = {expected.get(key), in_flight.get(key)}
                assert seen.get(key) in allowed, f"{where}: {key} is {seen.get(key)!r}, expected one of {allowed}"
            batch = {v for (kind, key), v in seen.items() if kind == "replica" and key.startswith("batch.")}
            assert len(batch) <= 1, f"{where}: a batch of replicas was written in part: {batch}"
            if ("service", "app") in seen:
                assert seen[("service", "app")] in revisions, f"{where}: app's revision is not stored"
            assert revisions == sorted(revisions) and set(revisions) <= attempted_revisions, where
            assert len(revisions) <= child.REVISION_LIMIT, where
            lost = set(must_revisions) - set(revisions)
            assert not lost, f"{where}: lost durable revisions {sorted(lost)}"
            assert events == sorted(set(events)) and set(events) <= attempted_events, where
            assert len(events) <= child.EVENT_LIMIT, where
            lost = set(must_events) - set(events)
            assert not lost, f"{where}: lost durable events {sorted(lost)}"

        assert views[0] == views[1], f"{where}: read-only and owner opens disagree"
        leftovers = [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".corrupt-" in p.name]
        assert leftovers == [], f"{where}: {leftovers}"
        known, known_revisions, known_events = views[1]
        start = maybe + 1
    print(f"{rounds()} kills, {total} writes reported durable, all found")
    assert total > 0
