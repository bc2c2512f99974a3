"""A real HAProxy (Debian's 2.6 binary, unpacked by tests/lab/labparts/proxyimage.py) on
127.0.0.1, and tiny HTTP replicas (one process each) for it to route to.

The session fixture ``haproxy_argv`` (tests/conftest.py, from haproxy_binary) downloads and
unpacks the packages once (cached in /tmp/tui-orch-lab/proxy-debs); without network to the
Debian mirrors it fails the test with the lab's one-sentence reason, it never skips.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labparts.layout import LabError
from labparts.proxyimage import haproxy_command
from tui_orch.nodes.proxyapi import runtime
from tui_orch.traffic import haproxy, runtime as api
from tui_orch.traffic.model import ProxyConfig


def haproxy_binary() -> tuple[list[str], dict[str, str]]:
    try:
        return haproxy_command()
    except LabError as exc:
        pytest.fail(f"no haproxy binary for the traffic tests: {exc}", pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REPLICA = r"""
import http.server, socket, sys, time
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(float(self.path.split("/")[2]))
        body = name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@dataclass
class Replica:
    name: str
    process: subprocess.Popen
    port: int

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)


def start_replica(name: str) -> Replica:
    process = subprocess.Popen([sys.executable, "-c", REPLICA, name], stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    return Replica(name, process, port)


def get(port: int, path: str = "/", timeout: float = 5.0) -> str:
    """One request on a new connection (the proxy balances connections); the replica's name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
        return answer.read().decode()


@dataclass
class Proxy:
    """haproxy -f <folder>/haproxy.cfg in master-worker mode, run by this test."""

    folder: Path
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen | None = None
    log: list[str] = field(default_factory=list)

    @property
    def cfg(self) -> Path:
        return self.folder / "haproxy.cfg"

    @property
    def socket(self) -> str:
        return str(self.folder / "admin.sock")

    def start(self, config: ProxyConfig) -> None:
        self.cfg.write_text(haproxy.render(config))
        self.process = subprocess.Popen(self.argv + ["-f", str(self.cfg)], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=open(self.folder / "log", "w"),
                                        start_new_session=True)
        self.wait_layout(config)

    def wait_layout(self, config: ProxyConfig, timeout: float = 10.0) -> None:
        """Until the worker running config answers on the admin socket."""
        want, deadline = haproxy.layout_digest(config), time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.folder / "log").read_text()
            try:
                if api.parse_layout(self.ask_now(api.show_layout())) == want:
                    return
            except OSError:  # not up yet
                pass
            time.sleep(0.02)
        raise AssertionError(f"haproxy did not run the new configuration: {(self.folder / 'log').read_text()}")

    def reload(self, config: ProxyConfig) -> None:
        """Rewrite haproxy.cfg and reload (SIGUSR2 to the master), as the controller will."""
        before = self.worker()
        self.cfg.write_text(haproxy.render(config))
        self.process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while self.worker() in (before, 0):
            assert time.monotonic() < deadline, f"no new worker: {(self.folder / 'log').read_text()}"
            time.sleep(0.02)
        self.wait_layout(config)

    def worker(self) -> int:
        """The pid of the worker answering on the admin socket (0: none yet)."""
        try:
            info = self.ask_now("show info")
        except OSError:
            return 0
        return next((int(line.split(":")[1]) for line in info.splitlines() if line.startswith("Pid:")), 0)

    def ask_now(self, command: str) -> str:
        """One command, blocking (for the test's own threads and waits)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket)
            s.sendall(api.session_text([command]).encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return (api.split_answers(data.decode(), 1) or [""])[0]

    async def ask(self, commands: list[str]) -> list[str]:
        return await runtime(lambda: asyncio.open_unix_connection(self.socket), commands, 5.0)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the master and its workers
                self.process.wait(5)


class Load(threading.Thread):
    """A client sending `rate` requests/s (each on a new connection) until stopped."""

    def __init__(self, port: int, rate: float = 50.0):
        super().__init__(daemon=True)
        self.port, self.interval = port, 1.0 / rate
        self.sent, self.failed, self.errors = 0, 0, []
        self.served: dict[str, int] = {}
        self.slowest = 0.0  # seconds, of a request that succeeded
        self._stop_event = threading.Event()
        self._between: list[tuple[object, threading.Event]] = []

    def between(self, action) -> None:
        """Run action in the client's thread between two requests (none in flight), and wait."""
        done = threading.Event()
        self._between.append((action, done))
        assert done.wait(10), "the client did not run the action"

    def run(self) -> None:
        next_at = time.monotonic()
        while not self._stop_event.is_set():
            while self._between:
                action, done = self._between.pop(0)
                action()
                done.set()
            self.sent += 1
            try:
                start = time.monotonic()
                name = get(self.port)
                self.slowest = max(self.slowest, time.monotonic() - start)
                self.served[name] = self.served.get(name, 0) + 1
            except OSError as exc:
                self.failed += 1
                self.errors.append(repr(exc))
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self) -> "Load":
        self._stop_event.set()
        self.join(10)
        return self
