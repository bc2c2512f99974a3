"""The control channel without nodes: a ControlServer in this process, the CLI's client in
a thread, as `tui-orch controller` and a CLI command use them. What a user relies on: what
the command prints reaches the client that sent it (not the controller's log), its exit
status too; a deep state folder works; nobody else may talk to the controller."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from tui_orch.cli_controller import routed_output
from tui_orch.control.client import ask_info, forward
from tui_orch.control.place import SOCKET_NAME, ControllerInfo, read_info, running
from tui_orch.control.server import ControlServer, run_act, serving


def info_for(folder) -> ControllerInfo:
    return ControllerInfo(host="here", pid=os.getpid(), since=time.time(), state=str(folder), inventory="")


async def serve(folder, run, controller=None) -> ControlServer:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    server = ControlServer(str(folder), info_for(folder), controller, run)
    await server.start()
    return server


async def test_output_and_exit_status_reach_the_client_only(tmp_path, capfd):
    seen = {}

    def run(argv, cwd, environ):
        seen.update(argv=argv, cwd=cwd, tag=environ.get("TAG"), serving=serving() is not None)
        print("to the client")
        print("an error for the client", file=sys.stderr)
        return 3

    with routed_output():
        server = await serve(tmp_path / "state", run)
        try:
            print("the controller's own log line")
            os.environ["TAG"] = "v7"
            try:
                code = await asyncio.to_thread(forward, str(tmp_path / "state"), ["scale", "web=2"])
            finally:
                del os.environ["TAG"]
        finally:
            await server.close()
    out, err = capfd.readouterr()
    assert code == 3
    assert seen == {"argv": ["scale", "web=2"], "cwd": os.getcwd(), "tag": "v7", "serving": True}
    assert out.count("to the client") == 1 and err.count("an error for the client") == 1
    assert "the controller's own log line" in out


async def test_a_command_acts_on_the_controller_of_the_loop(tmp_path, capfd):
    class Controller:
        async def scale(self, name, n):
            await asyncio.sleep(0)
            return f"{name} scaled to {n} on loop {id(asyncio.get_running_loop())}"

    def run(argv, cwd, environ):
        async def act(ctl):
            return await ctl.scale("web", 2)

        print(run_act(act))
        return 0

    with routed_output():
        server = await serve(tmp_path / "state", run, Controller())
        try:
            code = await asyncio.to_thread(forward, str(tmp_path / "state"), ["scale", "web=2"])
        finally:
            await server.close()
    assert code == 0
    assert f"web scaled to 2 on loop {id(asyncio.get_running_loop())}" in capfd.readouterr().out


async def test_no_controller_means_the_command_runs_itself(tmp_path):
    assert forward(str(tmp_path), ["scale", "web=2"]) is None
    (tmp_path / SOCKET_NAME).touch()  # left by a controller that died
    assert forward(str(tmp_path), ["scale", "web=2"]) is None
    assert running(str(tmp_path / "nothing")) is None


async def test_a_deep_state_folder_is_served(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6, "state")
    assert len(str(deep / SOCKET_NAME)) > 107  # past what a socket path may hold
    server = await serve(deep, lambda *a: 0)
    try:
        found = await asyncio.to_thread(ask_info, str(deep))
        assert found is not None and found.pid == os.getpid() and found.state == str(deep)
        assert stat.S_IMODE(os.stat(deep / SOCKET_NAME).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(deep / "controller.json").st_mode) == 0o600
    finally:
        await server.close()
    assert not (deep / SOCKET_NAME).exists() and read_info(deep) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
async def test_another_user_is_refused_even_when_the_socket_is_opened_up():
    import pathlib
    import shutil
    import tempfile

    top = pathlib.Path(tempfile.mkdtemp(prefix="tui-orch-peer-"))  # pytest's folders are root's only
    folder = top / "state"
    ran = []
    server = await serve(folder, lambda *a: ran.append(a) or 0)
    try:
        os.chmod(top, 0o755)
        os.chmod(folder, 0o755)
        probe = ["/usr/bin/python3", "-c", "import json,socket,sys; s=socket.socket(socket.AF_UNIX); "
                 "s.connect(sys.argv[1]); s.sendall(b'{\"verb\": \"info\"}\\n'); print(s.makefile().readline())",
                 str(folder / SOCKET_NAME)]
        denied = await asyncio.to_thread(subprocess.run, probe, user="nobody", capture_output=True, text=True, timeout=20)
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, denied  # 0600 keeps it out
        os.chmod(folder / SOCKET_NAME, 0o666)  # an operator's mistake: the controller still refuses
        refused = await asyncio.to_thread(subprocess.run, probe, user="nobody", capture_output=True, text=True, timeout=20)
        assert refused.returncode == 0 and "serves its own user only" in json.loads(refused.stdout)["error"], refused
        assert ran == []
    finally:
        await server.close()
        shutil.rmtree(top, ignore_errors=True)


async def test_a_malformed_request_gets_an_answer_not_a_crash(tmp_path):
    server = await serve(tmp_path / "state", lambda *a: 0)
    try:
        def talk(payload: bytes) -> str:
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(tmp_path / "state" / SOCKET_NAME))
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            data = s.makefile().read()
            s.close()
            return data

        assert "unknown request" in await asyncio.to_thread(talk, b'{"verb": "format-disk"}\n')
        assert await asyncio.to_thread(talk, b"\xff\xfe not json\n") == ""  # dropped, logged
        assert "malformed" in await asyncio.to_thread(talk, b'{"verb": "run", "argv": "rm -rf /"}\n')
        assert (await asyncio.to_thread(ask_info, str(tmp_path / "state"))) is not None  # still serving
    finally:
        await server.close()


async def test_a_controller_that_stops_mid_command_is_one_line_at_the_client(tmp_path, capfd, caplog):
    """The controller stopped (SIGTERM) while a forwarded command ran: the client printed a
    traceback of TuiOrchError, the controller's log one of CancelledError."""
    import threading

    from tui_orch.cli import main

    running, release = threading.Event(), threading.Event()

    def run(argv, cwd, environ):
        running.set()
        release.wait(10)
        return 0

    server = await serve(tmp_path / "state", run)
    client = asyncio.ensure_future(asyncio.to_thread(main, ["scale", "web=2", "--state", str(tmp_path / "state")]))
    await asyncio.to_thread(running.wait, 10)
    await server.close()
    release.set()
    code = await client
    err = capfd.readouterr().err
    assert code == 1 and "the controller is stopping; the command was left unfinished" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


async def test_a_connection_that_ends_before_its_answer_is_one_line(tmp_path, capfd):
    """The controller vanished (SIGKILL) mid-command: the connection ends with no exit status."""
    from tui_orch.cli import main

    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / SOCKET_NAME))
    listener.listen()

    def vanish() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = __import__("threading").Thread(target=vanish, daemon=True)
    thread.start()
    code = await asyncio.to_thread(main, ["scale", "web=2", "--state", str(folder)])
    err = capfd.readouterr().err
    listener.close()
    assert code == 1 and "stopped before the command finished" in err and "Traceback" not in err, err


def test_the_controller_variable_leaves_local_commands_alone(tmp_path, monkeypatch, capsys):
    from tui_orch.cli import main

    (tmp_path / "web.yaml").write_text("services:\n  web:\n    image: tuiorch/busybox:1\n")
    monkeypatch.setenv("TUI_ORCH_CONTROLLER", "ssh://127.0.0.1:1/srv/state")
    assert main(["validate", str(tmp_path / "web.yaml")]) == 0
    assert main(["state", "export", "-o", str(tmp_path / "x.json"), "--state", str(tmp_path / "s")]) == 1  # no state: said
    assert "there is no state" in capsys.readouterr().err
    assert main(["volume", "ls", "--controller", "ssh://127.0.0.1:1/x"]) == 1
    assert "volume ls runs on this machine" in capsys.readouterr().err
    assert main(["--controller", "ssh://127.0.0.1:1/x", "state", "export"]) == 1  # the URL is not a verb
    assert capsys.readouterr().err.startswith("tui-orch: state export runs on this machine")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`tui-orch validate FILE | head -1`: a BrokenPipeError traceback, exit 1."""
    (tmp_path / "web.yaml").write_text("services:\n" + "".join(
        f"  web{i}:\n    image: tuiorch/busybox:1\n" for i in range(300)))
    done = subprocess.run(f"{sys.executable} -m tui_orch validate {tmp_path / 'web.yaml'} | head -1",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.stdout.count("\n") == 1
