"""File-system primitives of the state folder: permissions, the owner lock, durable atomic
replacement of a file, moving a corrupt file aside and cleaning stale temp files.

Nothing here knows about TinyDB or the model."""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import stat
import time

from tui_orch.errors import StoreError, StoreLocked

DIR_MODE = 0o700
FILE_MODE = 0o600
LOCK_NAME = "lock"
TMP_MARK = ".tmp-"

_tmp_counter = itertools.count(1)

# fdatasync flushes the data and the size (all a reader needs); fsync where it is missing.
datasync = getattr(os, "fdatasync", os.fsync)


def tighten(path: str, mode: int) -> None:
    """Remove every permission bit of ``path`` beyond ``mode`` (0700 folder, 0600 file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        return
    if stat.S_IMODE(st.st_mode) & ~mode:
        os.chmod(path, mode)


def ensure_folder(folder: str) -> None:
    """Create the state folder (0700) if needed and tighten a looser existing one."""
    try:
        os.makedirs(folder, mode=DIR_MODE, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"state folder {folder} exists but is not a folder; use --state DIR") from None
    except OSError as exc:
        raise StoreError(f"cannot create state folder {folder}: {exc.strerror}; use --state DIR") from None
    if not os.path.isdir(folder):
        raise StoreError(f"state folder {folder} exists but is not a folder; use --state DIR")
    try:
        tighten(folder, DIR_MODE)
    except OSError as exc:
        raise StoreError(f"cannot restrict state folder {folder} to its owner: {exc.strerror}") from None


def open_dir(folder: str) -> int:
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FolderLock:
    """An advisory, non-blocking ``flock`` on FOLDER/lock, which holds the owner's pid.

    flock locks belong to an open file description, so a second opener in the same process
    is refused too. The kernel drops the lock when its holder dies, even by SIGKILL."""

    def __init__(self, folder: str):
        self.path = os.path.join(folder, LOCK_NAME)
        self._fd: int | None = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise StoreError(f"cannot open {self.path}: {exc.strerror}; use --state DIR") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            pid = _read_pid(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreLocked(folder, pid) from None
            raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
                os.fchmod(fd, FILE_MODE)
            pid_line = f"{os.getpid()}\n".encode()
            # write first, then cut: a reader never sees an empty file
            os.pwrite(fd, pid_line, 0)
            os.ftruncate(fd, len(pid_line))
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot write {self.path}: {exc.strerror}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return None


def atomic_write(path: str, data: bytes, dir_fd: int) -> None:
    """Replace ``path`` with ``data`` durably: temp file in the same folder (0600), write,
    fsync, rename over, fsync the folder. Readers see the old or the new file, never a mix."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}{TMP_MARK}{os.getpid()}-{next(_tmp_counter)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
            write_all(fd, data)
            datasync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.fsync(dir_fd)


def clean_temp_files(folder: str, names: tuple[str, ...]) -> list[str]:
    """Remove temp files left by a writer that died (only ours: ``.NAME.tmp-*``)."""
    removed = []
    prefixes = tuple(f".{name}{TMP_MARK}" for name in names)
    for entry in os.listdir(folder):
        if entry.startswith(prefixes):
            try:
                os.unlink(os.path.join(folder, entry))
                removed.append(entry)
            except FileNotFoundError:
                pass
    return removed


def move_aside(path: str, dir_fd: int) -> str:
    """Rename a corrupt file to NAME.corrupt-<UTC timestamp> (never overwriting one)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = f"{path}.corrupt-{stamp}"
    n = 1
    while os.path.exists(aside):
        n += 1
        aside = f"{path}.corrupt-{stamp}-{n}"
    os.rename(path, aside)
    os.fsync(dir_fd)
    return aside


def read_bytes(path: str) -> bytes | None:
    """The file's content, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read state file {path}: {exc.strerror}") from None
