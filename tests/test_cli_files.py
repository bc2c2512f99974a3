"""Hostile files and hostile names through the CLI, run as a user runs it (``python -m tui_orch``
in a subprocess): a FIFO, a device, deep nesting, binary, huge files, thousands of errors, and
control characters in keys. Each ends in exit status 1 with a few lines naming the file, never
a traceback, never a hang, never a raw control character on the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HOSTILE = "web\rx.yaml: valid\x1b[8m"
IN_YAML = "web\\rx.yaml: valid\\e[8m"  # the same name, as a double-quoted YAML string writes it
ESCAPED = "web\\rx.yaml: valid\\x1b[8m"
GOOD = "services:\n  web:\n    image: tuiorch/busybox:1\n"


def tui_orch(tmp_path: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``tui-orch ARGS`` with its own state and config folders; fails the test if it hangs."""
    env = {**os.environ, "TUI_ORCH_STATE": str(tmp_path / "state"), "TUI_ORCH_CONFIG": str(tmp_path / "config")}
    env.pop("TUI_ORCH_INVENTORY", None)
    return subprocess.run([sys.executable, "-m", "tui_orch", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path, errors="surrogateescape")


def refused(result: subprocess.CompletedProcess[str], file: str, lines: int = 1) -> str:
    """The stderr of a command refused with ``lines`` lines naming ``file`` (and nothing raw)."""
    err = result.stderr
    assert result.returncode == 1, (result.returncode, err)
    assert "Traceback" not in err and "Traceback" not in result.stdout, err
    assert len(err.splitlines()) == lines and file in err.splitlines()[0], err
    assert all(line.isprintable() for line in (result.stdout + err).splitlines()), err
    return err


# --------------------------------------------------------------------------- control characters


def test_validate_escapes_a_service_name_with_control_characters(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(f'services:\n  "{IN_YAML}":\n    image: x\n')
    result = tui_orch(tmp_path, "validate", "bad.yaml")
    err = refused(result, "bad.yaml", lines=2)
    assert "\r" not in err and "\x1b" not in err
    assert f"services.{ESCAPED}:" in err
    assert err.splitlines()[-1] == "bad.yaml: 1 error"  # not hidden by \x1b[8m, not overwritten by \r


def test_apply_dry_run_escapes_a_service_name_with_control_characters(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(f'services:\n  "{IN_YAML}\\u202e":\n    image: x\n')
    err = refused(tui_orch(tmp_path, "apply", "-f", "bad.yaml", "--dry-run"), "bad.yaml")
    assert f"services.{ESCAPED}\\u202e:" in err and "\x1b" not in err and "\u202e" not in err


def test_a_file_name_with_control_characters_is_escaped(tmp_path: Path) -> None:
    err = refused(tui_orch(tmp_path, "validate", "gone\x1b[8m.yaml"), "gone\\x1b[8m.yaml", lines=2)
    assert "\x1b" not in err


INVENTORY_KEYS = f'nodes:\n  - name: n1\n    "lab\\e[8mels\\u202e": x\n    "{IN_YAML}": 1\n'


@pytest.mark.parametrize("verb", [["nodes", "--offline"], ["nodes"], ["apply", "-f", "good.yaml", "--dry-run"]])
def test_inventory_errors_escape_keys_with_control_characters(tmp_path: Path, verb: list[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "inv.yaml").write_text(INVENTORY_KEYS)
    err = refused(tui_orch(tmp_path, *verb, "--inventory", "inv.yaml"), "inv.yaml", lines=2)
    assert "nodes[0].lab\\x1b[8mels\\u202e: unknown key" in err
    assert f"nodes[0].{ESCAPED}: unknown key" in err  # both errors shown, each on its own line


# --------------------------------------------------------------------------- hostile files


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "pipe.yaml")  # no writer: opening it for reading would block forever
    return "pipe.yaml"


@pytest.mark.parametrize("verb", [["validate"], ["apply", "--dry-run", "-f"]])
def test_a_fifo_as_manifest_is_refused_at_once(tmp_path: Path, fifo: str, verb: list[str]) -> None:
    err = refused(tui_orch(tmp_path, *verb, fifo, timeout=10), fifo, lines=2 if verb == ["validate"] else 1)
    assert "named pipe" in err


def test_a_fifo_as_env_file_is_refused_at_once(tmp_path: Path, fifo: str) -> None:
    (tmp_path / "app.yaml").write_text(GOOD + f"    env_file: {fifo}\n")
    err = refused(tui_orch(tmp_path, "validate", "app.yaml", timeout=10), "app.yaml", lines=2)
    assert fifo in err and "named pipe" in err


@pytest.mark.parametrize("inventory", ["pipe.yaml", "/dev/zero"])
@pytest.mark.parametrize("verb", [["nodes", "--offline"], ["nodes"], ["apply", "-f", "good.yaml", "--dry-run"]])
def test_a_fifo_or_a_device_as_inventory_is_refused_at_once(tmp_path: Path, fifo: str, inventory: str,
                                                           verb: list[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    err = refused(tui_orch(tmp_path, *verb, "--inventory", inventory, timeout=10), inventory)
    assert ("named pipe" if inventory == fifo else "device") in err


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE_CONTENT = {
    "nested": (GOOD + f"    command: {nested(500)}\n", "nodes:\n  - name: a\n    labels: {a: " + nested(500) + "}\n",
               "nested more than"),
    "binary": (bytes(range(256)) * 64, os.urandom(8192) + b"\0", "not UTF-8"),
    "huge": ("#" * (5 << 20), "#" * (5 << 20), "larger than 4 MiB"),
    "nul": (GOOD + "    user: a\0b\n", "nodes:\n  - name: a\0b\n", "character '\\x00' is not allowed"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_CONTENT))
def test_hostile_manifests_are_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    content, _, why = HOSTILE_CONTENT[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert why in refused(tui_orch(tmp_path, "validate", path.name), path.name, lines=2)
    assert why in refused(tui_orch(tmp_path, "apply", "-f", path.name, "--dry-run"), path.name)


@pytest.mark.parametrize("kind", sorted(HOSTILE_CONTENT))
@pytest.mark.parametrize("verb", [["nodes", "--offline"], ["apply", "-f", "good.yaml", "--dry-run"]])
def test_hostile_inventories_are_refused_in_one_line(tmp_path: Path, kind: str, verb: list[str]) -> None:
    _, content, why = HOSTILE_CONTENT[kind]
    (tmp_path / "good.yaml").write_text(GOOD)
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert why in refused(tui_orch(tmp_path, *verb, "--inventory", path.name), path.name)


# --------------------------------------------------------------------------- many errors


def test_an_inventory_of_10000_bad_hosts_shows_100_errors_and_how_many_more(tmp_path: Path) -> None:
    hosts = "".join(f"  - {{name: 'bad name {i}', port: 0}}\n" for i in range(10_000))
    (tmp_path / "many.yaml").write_text("nodes:\n" + hosts)
    result = tui_orch(tmp_path, "nodes", "--offline", "--inventory", "many.yaml", timeout=20)
    lines = refused(result, "many.yaml", lines=101).splitlines()
    assert lines[-1].startswith("many.yaml: and ") and "more errors (only the first 100 are shown)" in lines[-1]
    assert "more nodes not checked" in lines[-1]


def test_only_the_clis_own_control_sequences_reach_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from tui_orch.cli_output import escaped_output, write_control

    with escaped_output():
        print(f"node {HOSTILE}")
        print("a\u202eb", file=sys.stderr)
        write_control("\x1b[H\x1b[2J")  # nodes --watch clears the screen
        assert not sys.stdout.isatty()  # Rich writes no colours through it
    out, err = capsys.readouterr()
    assert out == f"node {ESCAPED}\n\x1b[H\x1b[2J" and err == "a\\u202eb\n"
