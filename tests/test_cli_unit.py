"""`tui-orch controller install`: the systemd unit it writes, read as systemd would."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys

from tui_orch.cli import main
from tui_orch.cli_unit import UNIT_NAME, systemd_quote, unit_name


def systemd_unquote(text: str) -> list[str]:
    """ExecStart split as systemd does for the forms systemd_quote writes."""
    return [a.replace("%%", "%").replace("$$", "$") for a in shlex.split(text)]


def test_arguments_survive_systemd_quoting():
    args = ["/opt/my venv/bin/python", "50%", "$HOME", 'a"b', "back\\slash", "plain-arg_1.2:x@y"]
    assert systemd_unquote(" ".join(systemd_quote(a) for a in args)) == args
    assert systemd_quote("plain-arg_1.2") == "plain-arg_1.2"


def test_install_writes_a_unit_that_runs_this_controller(tmp_path, capsys):
    inventory = tmp_path / "my nodes.yaml"
    inventory.write_text("nodes:\n  - name: a\n    address: 10.0.0.1\n")
    state = tmp_path / "state 100%"
    code = main(["controller", "install", "--user", "--unit-dir", str(tmp_path / "units"),
                 "--state", str(state), "--inventory", str(inventory), "--log-format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    unit = tmp_path / "units" / unit_name(str(state))
    assert f"wrote {unit}" in out and "systemctl --user daemon-reload" in out
    assert stat.S_IMODE(os.stat(unit).st_mode) == 0o644
    text = unit.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert systemd_unquote(exec_line[len("ExecStart="):]) == [
        sys.executable, "-m", "tui_orch", "controller", "--state", str(state), "--inventory", str(inventory),
        "--log-format", "json"]
    assert "KillSignal=SIGTERM" in text and "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert "network-online" not in text  # a user's systemd has no such target
    # the command it runs is one this installation understands
    help_text = subprocess.run([sys.executable, "-m", "tui_orch", "controller", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "--log-format" in help_text


def test_install_names_a_missing_inventory(tmp_path, capsys):
    code = main(["controller", "install", "--unit-dir", str(tmp_path), "--inventory", str(tmp_path / "nope.yaml"),
                 "--state", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1 and "nope.yaml does not exist" in err and not list(tmp_path.glob("*.service"))


def test_two_state_folders_get_two_units(tmp_path, capsys, monkeypatch):
    """The second install replaced the first one's unit (one fixed name)."""
    monkeypatch.setenv("TUI_ORCH_STATE", str(tmp_path / "default"))
    for state in ("s1", "s2", "default"):
        assert main(["controller", "install", "--system", "--unit-dir", str(tmp_path / "u"),
                     "--state", str(tmp_path / state)]) == 0
    units = sorted(p.name for p in (tmp_path / "u").iterdir())
    assert len(units) == 3 and UNIT_NAME in units, units
    texts = [p.read_text() for p in (tmp_path / "u").iterdir()]
    assert all("network-online.target" in t for t in texts)
    states = sorted(systemd_unquote(line[len("ExecStart="):])[5] for t in texts for line in t.splitlines()
                    if line.startswith("ExecStart="))
    assert states == [str(tmp_path / s) for s in ("default", "s1", "s2")], states
