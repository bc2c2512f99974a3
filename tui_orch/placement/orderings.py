"""The orders in which a batch places its replicas.

An order is a list of (Request, slots, whys) runs; a service may come back in several runs.

1. largest first, balanced: services by decreasing dominant share (the larger of their cpu and
   memory share of the largest schedulable node), alternating cpu-heavy and memory-heavy ones
   so that the demand placed so far stays balanced. Best fit then puts complementary replicas
   on the same nodes instead of filling nodes with cpu-heavy replicas first and stranding their
   memory. A service's replicas stay together, so the engine places them in whole rounds.
2. bin by bin: the order in which a node-by-node greedy (Panigrahy et al., "Heuristics for
   vector bin packing", 2011) fills empty reference nodes (the largest schedulable one): it
   fills one node at a time with the replica of largest dot product with the room left, never
   two of one service, and opens the next node when nothing fits. Replayed through best fit on
   empty identical nodes it rebuilds exactly that packing; on a real fleet it is one more order.
3. for small batches only (``options.search_limit``): the best of the same greedy with the
   closest fit instead of the dot product and of up to ``options.search_runs`` runs with
   perturbed scores (fixed seeds; stopped as soon as a run meets the batch's lower bound),
   and plain orders by dominant share, size sum, cpu and memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tui_orch.placement.pool import NodePool, Request
from tui_orch.placement.result import PlacementOptions

Run = tuple[Request, list[int], list[str]]
_EPS = 1e-12


def _shares(fleet: NodePool, groups: Sequence[Run]) -> np.ndarray:
    """Each group's (cpu, memory) share of the largest schedulable node."""
    ok = fleet.schedulable
    big_c = float(fleet.alloc_c[ok].max()) if ok.any() else 0.0
    big_m = float(fleet.alloc_m[ok].max()) if ok.any() else 0.0
    out = np.array([(g[0].rc, g[0].rm) for g in groups], dtype=np.float64).reshape(-1, 2)
    out[:, 0] = out[:, 0] / big_c if big_c else 0.0
    out[:, 1] = out[:, 1] / big_m if big_m else 0.0
    return out


def balanced(ordered: Sequence[int], share: np.ndarray, sizes: Sequence[int]) -> list[int]:
    """Merge the cpu-heavy and memory-heavy groups of ``ordered`` (each kind kept in its order),
    taking the next from the kind whose placed demand is behind."""
    cpu = [k for k in ordered if share[k, 0] >= share[k, 1]]
    mem = [k for k in ordered if share[k, 0] < share[k, 1]]
    out: list[int] = []
    placed_c = placed_m = 0.0
    i = j = 0
    while i < len(cpu) or j < len(mem):
        if j >= len(mem) or (i < len(cpu) and placed_c <= placed_m):
            k, i = cpu[i], i + 1
        else:
            k, j = mem[j], j + 1
        placed_c += share[k, 0] * sizes[k]
        placed_m += share[k, 1] * sizes[k]
        out.append(k)
    return out


def bin_by_bin(
    ordered: Sequence[int], share: np.ndarray, sizes: Sequence[int], rule: str, seed: int | None = None
) -> tuple[int, list[int]]:
    """How many empty unit nodes the node-by-node greedy fills, and the sequence of groups (one
    entry per replica) in which it fills them. ``rule`` is "dot" (largest dot product with the
    room left) or "closest" (least room left); ties go to the earlier group of ``ordered``.
    With a ``seed``, each group's score is scaled by a fixed random factor in [1, 1.3): the
    perturbed runs of the small-batch search."""
    order = np.asarray(ordered, dtype=np.int64)
    sc, sm = share[order, 0], share[order, 1]
    left = np.asarray(sizes, dtype=np.int64)[order].copy()
    too_big = np.flatnonzero((sc > 1 + _EPS) | (sm > 1 + _EPS))
    tail = [int(order[p]) for p in too_big for _ in range(int(left[p]))]  # fit no node: last
    left[too_big] = 0
    factor = None if seed is None else 1.0 + 0.3 * np.random.default_rng(seed).random(len(order))
    seq: list[int] = []
    in_bin = np.zeros(len(order), dtype=bool)
    room_c = room_m = 1.0
    remaining, bins = int(left.sum()), 0
    while remaining:
        fits = (left > 0) & ~in_bin & (sc <= room_c + _EPS) & (sm <= room_m + _EPS)
        if not fits.any():
            if not in_bin.any():  # nothing fits an empty node (cannot happen once too_big is out)
                break
            in_bin[:] = False
            room_c = room_m = 1.0
            continue
        if not in_bin.any():
            bins += 1
        score = sc * room_c + sm * room_m if rule == "dot" else -((room_c - sc) ** 2 + (room_m - sm) ** 2)
        if factor is not None:
            score = score * factor if rule == "dot" else score / factor
        k = int(np.where(fits, score, -np.inf).argmax())
        seq.append(int(order[k]))
        left[k] -= 1
        remaining -= 1
        in_bin[k] = True
        room_c -= float(sc[k])
        room_m -= float(sm[k])
    seq += [int(order[p]) for p in np.flatnonzero(left) for _ in range(int(left[p]))]
    return bins + len(tail), seq + tail


def _runs(groups: Sequence[Run], seq: Sequence[int]) -> list[Run]:
    """Turn a sequence of group indexes (one per replica) into runs of consecutive replicas."""
    taken = [0] * len(groups)
    runs: list[Run] = []
    for k in seq:
        req, slots, whys = groups[k]
        a = taken[k]
        if runs and runs[-1][0] is req:
            runs[-1][1].append(slots[a])
            runs[-1][2].append(whys[a])
        else:
            runs.append((req, [slots[a]], [whys[a]]))
        taken[k] = a + 1
    return runs


def orderings(groups: Sequence[Run], fleet: NodePool, opts: PlacementOptions) -> Iterator[tuple[str, list[Run]]]:
    """Candidate orders of ``groups`` (one (Request, slots, whys) per service), best guess
    first. No order is yielded twice."""
    total = sum(len(g[1]) for g in groups)
    share = _shares(fleet, groups)
    sizes = [len(g[1]) for g in groups]
    names = [g[0].service for g in groups]

    def by(key) -> list[int]:  # type: ignore[no-untyped-def]
        return sorted(range(len(groups)), key=lambda k: (*key(share[k, 0], share[k, 1]), names[k]))

    largest = by(lambda c, m: (-max(c, m), -min(c, m)))
    first = balanced(largest, share, sizes)
    yield "largest first", [groups[k] for k in first]
    if total < 2 or total > opts.retry_limit:
        return

    def expand(order: list[int]) -> list[int]:
        return [k for k in order for _ in range(sizes[k])]

    seen: list[list[int]] = [expand(first)]

    def fresh(seq: list[int]) -> bool:
        if seq in seen:
            return False
        seen.append(seq)
        return True

    bins, seq = bin_by_bin(largest, share, sizes, "dot")
    if fresh(seq):
        yield "bin by bin", _runs(groups, seq)
    if total > opts.search_limit:
        return
    best = bin_by_bin(largest, share, sizes, "closest")
    if best[0] < bins:
        bins, seq = best
    # Perturbed runs, while the simulation is above the batch's own lower bound.
    bound = int(np.ceil(max(float((share[:, 0] * sizes).sum()), float((share[:, 1] * sizes).sum())) - 1e-9))
    for k in range(opts.search_runs):
        if bins <= bound:
            break
        found = bin_by_bin(largest, share, sizes, "dot" if k % 2 == 0 else "closest", seed=k)
        if found[0] < bins:
            bins, seq = found
    for label, order in (
        ("bin by bin (searched)", seq),
        ("by dominant share", expand(largest)),
        ("by size sum", expand(by(lambda c, m: (-(c + m), -max(c, m))))),
        ("by cpu", expand(by(lambda c, m: (-c, -m)))),
        ("by memory", expand(by(lambda c, m: (-m, -c)))),
    ):
        if fresh(order):
            yield label, _runs(groups, order)


__all__ = ["balanced", "bin_by_bin", "orderings"]
