"""`tui-orch rollout ...` on the lab, through cli.main as a user types it: apply :1, apply :2
(a rolling update, reported as it goes), status, history, restart, undo, pause without a
rollout; every mistake answered with one sentence."""

from __future__ import annotations

import json

from controller_support import cleanup, prefix
from test_controller_rollout import GOOD, WEB
from tui_orch.cli import main


def write(path, name: str, version: str) -> None:
    path.write_text(WEB.format(name=name, version=version, replicas=2, parallelism=1, order="start-first",
                               delay="0s", failure_action="rollback", health=GOOD))


def test_rollout_verbs(lab, tmp_path, capsys):
    pre = prefix()
    common = ["--state", str(tmp_path / "state"), "--inventory", str(lab.inventory)]
    v1, v2 = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    write(v1, pre, "1")
    write(v2, pre, "2")
    try:
        assert main(["apply", "-f", str(v1), *common]) == 0
        assert main(["rollout", "status", pre, *common]) == 0
        assert "no rollout yet" in capsys.readouterr().out

        assert main(["apply", "-f", str(v2), "--dry-run", *common]) == 0
        assert "rolling update of 2 replica(s) to revision 2" in capsys.readouterr().out

        assert main(["apply", "-f", str(v2), *common]) == 0
        out = capsys.readouterr().out
        assert "rolling update of 2 replica(s)" in out and "completed" in out, out

        assert main(["rollout", "status", pre, *common]) == 0
        out = capsys.readouterr().out
        assert "update from revision 1 to 2: completed" in out and "2/2 updated, 2 healthy, 0 failed" in out, out
        assert main(["rollout", "status", pre, "-o", "json", *common]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "completed"

        assert main(["rollout", "restart", pre, *common]) == 0
        out = capsys.readouterr().out
        assert "batch 2 of 2 begins" in out and "restart from revision 2 to 3: completed" in out, out

        assert main(["rollout", "undo", pre, "--to-revision", "1", *common]) == 0
        assert "undo from revision 3 to 1: rolled back" in capsys.readouterr().out

        assert main(["rollout", "history", pre, *common]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split()[:2] for line in out] == [["1"], ["2"], ["3"]] or len(out) == 3, out
        assert out[0].startswith("*") and "tuiorch/busybox:1" in out[0] and "rollout restart" in out[2], out

        assert main(["rollout", "pause", pre, *common]) == 1
        assert "has no rollout in progress (last: rolled back)" in capsys.readouterr().err
        assert main(["rollout", "undo", pre, "--to-revision", "7", *common]) == 1
        assert "revision 7 of" in capsys.readouterr().err
        assert main(["rollout", "status", "nosuch", *common]) == 1
        assert "there is no service nosuch" in capsys.readouterr().err
    finally:
        cleanup(lab, pre)
