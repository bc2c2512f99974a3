"""Reading the files a user names: manifests and inventories, large, hostile and full of errors.

    .venv/bin/python benchmarks/files.py          # about a minute

Each case runs ``tui-orch`` (or one read through ``load_inventory``) in its own process, as a
user would, and measures its wall time and peak memory (the child's max RSS, interpreter
included: about 30 MB). Prints one table; exits 1 when a target is missed.

- inventory near the 4 MiB limit: 3.8 MB of valid hosts (about 47,600), read and checked by
  ``load_inventory`` in at most 10 s (about 540,000 YAML nodes, composed in Python so that
  the nesting is limited); and ``nodes --offline`` listing them (information: that also
  resolves ~/.ssh/config for each host).
- inventory of 50 MB, and /dev/zero: refused in at most 1 s and 60 MB, reading no further
  than the limit.
- inventory of 10,000 bad hosts: 100 errors and one "and N more" line, in at most 3 s.
- manifest of 100,000 bad services (2.7 MB): 100 errors and one line saying how many services
  were not checked, in at most 6 s; one of 50 MB refused in at most 1 s.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS: list[tuple[str, str, str, str, str]] = []
MISSES: list[str] = []


def run(args: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """(seconds, peak MB, exit status, stderr) of ``python ARGS`` in a process of its own."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "TUI_ORCH_STATE": str(cwd / "state"), "TUI_ORCH_CONFIG": str(cwd / "config")}
    start = time.perf_counter()
    with subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace") as child:
        err = child.stderr.read() if child.stderr else ""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, child.returncode, err


def case(what: str, args: list[str], cwd: Path, max_s: float | None, max_mb: float | None,
         expect_status: int, expect: str = "", max_lines: int | None = None) -> None:
    seconds, mb, status, err = run(args, cwd)
    ok = status == expect_status and expect in err and (max_lines is None or len(err.splitlines()) <= max_lines)
    targets = []
    if max_s is not None:
        ok = ok and seconds <= max_s
        targets.append(f"<= {max_s:g} s")
    if max_mb is not None:
        ok = ok and mb <= max_mb
        targets.append(f"<= {max_mb:g} MB")
    shown = err.strip().splitlines()[-1][:70] if err.strip() else f"exit {status}"
    verdict = "" if not targets else ("ok" if ok else "MISS")
    ROWS.append((what, f"{seconds:.2f} s", f"{mb:.0f} MB", ", ".join(targets) or "-", f"{verdict:4} {shown}"))
    if targets and not ok:
        MISSES.append(what)


def write(path: Path, head: str, lines: Iterable[str]) -> None:
    """Written line by line: the benchmark's own memory stays small (a child's peak RSS
    counts the pages it shares with its parent when forked)."""
    with path.open("w") as out:
        out.write(head)
        out.writelines(lines)


def write_files(folder: Path) -> None:
    write(folder / "near.yaml", "nodes:\n", itertools.takewhile(
        lambda _: (folder / "near.yaml").stat().st_size < 3_800_000,
        (f"  - {{name: host-{i:06d}, address: 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}, user: deploy, "
         f"labels: {{zone: z{i % 3}}}}}\n" for i in itertools.count())))
    filler = "#" * 1023 + "\n"
    write(folder / "big.yaml", "nodes:\n", (filler for _ in range(50 << 10)))
    write(folder / "bad-hosts.yaml", "nodes:\n", (f"  - {{name: 'bad name {i}', port: 0}}\n" for i in range(10_000)))
    write(folder / "bad-services.yaml", "services:\n", (f"  s{i}: {{replicas: 1}}\n" for i in range(100_000)))
    write(folder / "big-manifest.yaml", "services:\n", (filler for _ in range(50 << 10)))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tui-orch-files-") as tmp:
        folder = Path(tmp)
        write_files(folder)
        tui = ["-m", "tui_orch"]
        read = ["-c", "import sys; from tui_orch.inventory import load_inventory; "
                      "print(len(load_inventory(sys.argv[1]).nodes), file=sys.stderr)", "near.yaml"]
        near_mb = (folder / "near.yaml").stat().st_size / 1e6
        case(f"inventory {near_mb:.1f} MB of valid hosts: read", read, folder, 10.0, 400, 0)
        case("  the same: nodes --offline (ssh config per host)", [*tui, "nodes", "--offline", "-o", "json",
             "--inventory", "near.yaml"], folder, None, None, 0)
        case("inventory 50 MB: nodes", [*tui, "nodes", "--inventory", "big.yaml"], folder, 1.0, 60, 1,
             "larger than 4 MiB", 1)
        case("inventory /dev/zero: nodes", [*tui, "nodes", "--inventory", "/dev/zero"], folder, 1.0, 60, 1,
             "is a device", 1)
        case("inventory 10,000 bad hosts: nodes --offline", [*tui, "nodes", "--offline", "--inventory",
             "bad-hosts.yaml"], folder, 3.0, 120, 1, "more nodes not checked", 101)
        case("manifest 100,000 bad services (2.7 MB): validate", [*tui, "validate", "bad-services.yaml"], folder,
             6.0, 400, 1, "more services not checked", 102)
        case("manifest 50 MB: validate", [*tui, "validate", "big-manifest.yaml"], folder, 1.0, 60, 1,
             "big-manifest.yaml: 1 error", 2)
    print("tui-orch file reading benchmark (each case a process of its own; peak = max RSS)")
    print()
    print(f"{'case':<52} {'time':>8} {'peak':>7}  {'target':<18} result")
    for what, seconds, mb, target, result in ROWS:
        print(f"{what:<52} {seconds:>8} {mb:>7}  {target:<18} {result}")
    print()
    print(f"FAILED: {', '.join(MISSES)}" if MISSES else "all targets met")
    return 1 if MISSES else 0


if __name__ == "__main__":
    sys.exit(main())
