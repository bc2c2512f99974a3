"""A node's sshd, reachable from the machine's own network namespace.

The node's programs live in its network namespace (labparts/netns.py); the controller runs in
the machine's, where the node is 127.0.0.(N+1):2222 as before. This gate listens there, then
moves itself into the node's namespace and serves each connection with the real OpenSSH server
in inetd mode (`sshd -i`, one per connection, its children its own): every command run over SSH
(reading /proc/net, docker, tar) runs on the node's network, as on a separate host. Killing the
gate and its children is the lab's "network cut", as killing sshd was.

    python3 sshgate.py ADDRESS PORT NETNS_PATH PID_FILE -- /usr/sbin/sshd -i -f CONFIG -E LOG

Standard library only (it runs before any virtualenv exists).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys

CLONE_NEWNET = 0x40000000


def _setns(path: str) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def _reap(signum: int, frame: object) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: "list[str]") -> int:
    if len(argv) < 6 or argv[4] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    address, port, netns, pid_file, command = argv[0], int(argv[1]), argv[2], argv[3], argv[5:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(128)
    _setns(netns)  # the listener stays in the machine's namespace; what it starts runs on the node
    signal.signal(signal.SIGCHLD, _reap)  # a handler, not SIG_IGN: that one would pass to sshd
    tmp = pid_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, pid_file)  # written once it listens, as sshd does
    devnull = os.open(os.devnull, os.O_RDWR)
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        try:
            subprocess.Popen(command, stdin=conn.fileno(), stdout=conn.fileno(), stderr=devnull,
                             close_fds=True, restore_signals=True)
        except OSError as exc:
            print(f"sshgate: could not start {command[0]}: {exc}", file=sys.stderr, flush=True)
        finally:
            conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
