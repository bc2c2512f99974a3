"""A fix for asyncssh's receive flow control, so a slow reader bounds memory.

asyncssh (seen in 2.24) counts received bytes against the channel window when they arrive,
but when it next delivers data it re-opens the window to its full size, crediting the peer
also for the bytes still buffered undelivered (``SSHChannel._deliver_data``). With a fast
sender and a slow reader (``docker save`` on one node streamed into ``docker load`` on
another, through forwarded sockets), the paused channel's buffer then grows without bound:
measured here, a 44 MB image copy held ~20 MB in one channel's buffer and grew the console
by ~37 MB. Apache MINA sshd had the same bug (apache/mina-sshd#292).

``apply()`` wraps ``_deliver_data`` so the window is re-opened only for bytes actually
delivered: the window plus the undelivered buffer never exceeds the initial window. It is
applied only when the installed asyncssh has the flawed code, and is idempotent.
"""

from __future__ import annotations

import inspect
from typing import Any

from asyncssh.channel import SSHChannel

_FLAWED = "adjust = self._init_recv_window - self._recv_window"
_applied = False


def needed() -> bool:
    """True when the installed asyncssh re-opens the window for undelivered bytes."""
    try:
        source = inspect.getsource(SSHChannel._deliver_data)
    except (OSError, TypeError, AttributeError):
        return False
    return _FLAWED in source and "_recv_buf" not in source


def apply() -> bool:
    """Install the fix (once); True when it is active."""
    global _applied
    if _applied:
        return True
    if not needed():
        return False
    original = SSHChannel._deliver_data

    def _deliver_data(self: Any, data: Any, datatype: Any) -> None:
        buffered = sum(len(chunk) for chunk, _ in getattr(self, "_recv_buf", ()))
        # While asyncssh decides on a window adjust, count the undelivered bytes as still
        # open window: it then credits the peer only for what was really delivered.
        self._recv_window += buffered
        try:
            original(self, data, datatype)
        finally:
            self._recv_window -= buffered

    _deliver_data.__wrapped__ = original  # type: ignore[attr-defined]
    SSHChannel._deliver_data = _deliver_data  # type: ignore[method-assign]
    _applied = True
    return True
