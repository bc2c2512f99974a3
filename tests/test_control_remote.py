"""--controller ssh://...: what the URL may say, and what is refused before any connection."""

from __future__ import annotations

import pytest

from tui_orch.cli import main
from tui_orch.control.remote import ControllerUrl, parse_url
from tui_orch.errors import TuiOrchError


def test_urls_as_users_write_them():
    assert parse_url("ssh://ctl.example.com") == ControllerUrl(host="ctl.example.com")
    assert parse_url("ssh://ops@10.0.0.5:2222/srv/tui-orch/") == ControllerUrl("10.0.0.5", "ops", 2222, "/srv/tui-orch")
    assert parse_url("ssh://[fd00::5]:22/x") == ControllerUrl("fd00::5", None, 22, "/x")
    assert parse_url("ssh://a%40b@h/my%20state") == ControllerUrl("h", "a@b", None, "/my state")
    assert str(parse_url("ssh://ops@h:2222/srv")) == "ssh://ops@h:2222/srv"


@pytest.mark.parametrize("bad", ["ctl.example.com", "http://h/x", "ssh://", "ssh://h:99999", "ssh://u:pw@h",
                                 "ssh://h/x?y=1", "ssh://h:port"])
def test_a_url_that_is_not_one_is_named(bad):
    with pytest.raises(TuiOrchError, match="expected ssh://"):
        parse_url(bad)


@pytest.mark.parametrize("argv, says", [
    (["apply", "-f", "missing.yaml"], "missing.yaml"),  # read here first (then shipped): its error is this machine's
    (["apply", "--build-on", "node1", "-f", "web.yaml"], "build contexts are not shipped"),
    (["validate", "web.yaml"], "validate runs on this machine"),
    (["nodes"], "nodes runs on this machine"),
    (["scale", "web=2"], "expected ssh://"),  # sent: the URL is checked first
])
def test_commands_a_remote_controller_does_not_run_are_refused_here(argv, says, capsys):
    assert main(["--controller", "nonsense", *argv] if "expected" in says else
                ["--controller", "ssh://127.0.0.1:1/x", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tui-orch: ") and says in err and "Traceback" not in err, err


def test_an_unreachable_controller_gets_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config of this machine's user
    assert main(["--controller", "ssh://127.0.0.1:1/srv/state", "scale", "web=2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tui-orch: cannot reach the controller at ssh://127.0.0.1:1/srv/state") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
