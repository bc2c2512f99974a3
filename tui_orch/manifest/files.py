"""Reading the files a user names (manifest, env_file, .env, inventory): regular files only,
with a size limit.

A FIFO with no writer would block ``open`` forever, and ``/dev/zero`` or a character device
never ends: the file is opened without blocking and refused unless it is a regular file.
"""

from __future__ import annotations

import os
import stat

MAX_FILE_BYTES = 4 * 1024 * 1024

_KINDS = (
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file; give the path of a file"),
    (stat.S_ISSOCK, "is a socket, not a regular file; give the path of a file"),
    (stat.S_ISCHR, "is a device, not a regular file; give the path of a file"),
    (stat.S_ISBLK, "is a device, not a regular file; give the path of a file"),
)


class FileRefused(OSError):
    """A path that cannot be read as a file: ``reason`` says why in a few words."""

    def __init__(self, reason: str, folder: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.folder = folder

    def __str__(self) -> str:
        return self.reason


def _refuse_special(mode: int, kind: str) -> None:
    """Raise ``FileRefused`` unless ``mode`` is a regular file's."""
    if stat.S_ISDIR(mode):
        raise FileRefused(f"is a folder, not a {kind}", folder=True)
    for test, reason in _KINDS:
        if test(mode):
            raise FileRefused(reason)
    if not stat.S_ISREG(mode):
        raise FileRefused("is not a regular file; give the path of a file")


def read_limited(path: str, limit: int = MAX_FILE_BYTES, kind: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (a ``kind`` of file, for messages). Raises
    FileNotFoundError for a missing path, and ``FileRefused`` (an OSError) for one that is
    not a regular file, cannot be read or is larger than ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise FileRefused(f"is a folder, not a {kind}", folder=True) from None
    except OSError as exc:
        try:  # a socket cannot be opened at all (ENXIO): say what it is
            _refuse_special(os.stat(path).st_mode, kind)
        except OSError as again:
            if isinstance(again, FileRefused):
                raise
        raise FileRefused(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        _refuse_special(os.fstat(fd).st_mode, kind)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as handle:
            fd = -1  # closed by the handle
            data = handle.read(limit + 1)
    except FileRefused:
        raise
    except OSError as exc:
        raise FileRefused(f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:
        raise FileRefused(f"larger than {limit // (1024 * 1024)} MiB; is it really a {kind}?")
    return data


__all__ = ["MAX_FILE_BYTES", "FileRefused", "read_limited"]
