"""Files on a node: written and read over SFTP (no shell command, so no quoting of paths), or
directly on this machine for the local node. Used for secrets, configs and the files and
folders of the operator's machine bound by a relative path (delivery.py)."""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncssh

    from tui_orch.manifest.localtree import Entry

CHOWN_DEFAULT = (0, 0)  # uid/gid a file may keep as the SSH user's when it cannot be chowned
# Where delivered files live on a node: a tmpfs (never a disk). /dev/shm is writable by every
# user, so each folder from here down must be ours, a real folder (not a link) and 0700, or
# another user could have made it beforehand to read what we write.
ROOT = "/dev/shm/tui-orch"


def private_folders(path: str) -> list[str]:
    """The folders of ``path`` from ROOT down that must be ours and 0700."""
    folders = []
    folder = posixpath.dirname(path)
    while folder.startswith(ROOT):
        folders.append(folder)
        folder = posixpath.dirname(folder)
    return folders[::-1]


def check_private(folder: str, mode: int, uid: int, own: int) -> None:
    import stat

    if not stat.S_ISDIR(mode) or uid != own or mode & 0o077:
        raise PermissionError(f"{folder} is not a private folder of the SSH user (a link, another owner, or open "
                              f"to others); remove it on the node, then try again")


async def sftp_put(conn: asyncssh.SSHClientConnection, path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    import asyncssh

    folder = posixpath.dirname(path)
    side = path + ".part"
    async with conn.start_sftp_client() as sftp:
        await sftp.makedirs(folder, attrs=asyncssh.SFTPAttrs(permissions=0o700), exist_ok=True)
        async with sftp.open(side, "wb", attrs=asyncssh.SFTPAttrs(permissions=0o600)) as f:
            own = (await f.stat()).uid
            for private in private_folders(path):
                attrs = await sftp.lstat(private)
                check_private(private, attrs.permissions or 0, attrs.uid or 0, own or 0)
            await f.write(data)
        try:
            await sftp.chown(side, uid, gid)
        except asyncssh.SFTPError:
            if (uid, gid) != CHOWN_DEFAULT:  # the SSH user is not root: say what to do
                await sftp.remove(side)
                raise PermissionError(f"cannot give {path} to uid {uid}, gid {gid}: connect as root, "
                                      "or drop uid/gid") from None
        await sftp.chmod(side, mode)
        await sftp.posix_rename(side, path)


async def sftp_read(conn: asyncssh.SSHClientConnection, path: str) -> bytes | None:
    import asyncssh

    async with conn.start_sftp_client() as sftp:
        try:
            async with sftp.open(path, "rb") as f:
                return bytes(await f.read())
        except asyncssh.SFTPNoSuchFile:
            return None


async def sftp_list(conn: asyncssh.SSHClientConnection, folder: str) -> list[str]:
    import asyncssh

    async with conn.start_sftp_client() as sftp:
        try:
            return [n for n in await sftp.listdir(folder) if n not in (".", "..")]
        except asyncssh.SFTPNoSuchFile:
            return []


async def sftp_remove(conn: asyncssh.SSHClientConnection, path: str) -> None:
    import asyncssh

    async with conn.start_sftp_client() as sftp:
        with contextlib.suppress(asyncssh.SFTPNoSuchFile):
            await sftp.remove(path)


def local_put(path: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    for private in private_folders(path):  # each one 0700 (makedirs gives parents the umask's mode)
        with contextlib.suppress(FileExistsError):
            os.mkdir(private, 0o700)
    side = path + ".part"
    for private in private_folders(path):
        st = os.lstat(private)
        check_private(private, st.st_mode, st.st_uid, os.getuid())
    fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        os.chown(side, uid, gid)
    except PermissionError:
        if (uid, gid) != CHOWN_DEFAULT:
            os.remove(side)
            raise PermissionError(f"cannot give {path} to uid {uid}, gid {gid}: run as root, or drop uid/gid") from None
    os.chmod(side, mode)
    os.replace(side, path)


def local_read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def local_list(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def local_remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


# --------------------------------------------------------------------------- folders (localtree.py)


async def sftp_put_tree(conn: asyncssh.SSHClientConnection, path: str, entries: Sequence[Entry]) -> None:
    """The folder ``path`` with ``entries``, written beside it (``.part``) then renamed."""
    import asyncssh

    side = path + ".part"
    async with conn.start_sftp_client() as sftp:
        await sftp.makedirs(posixpath.dirname(path), attrs=asyncssh.SFTPAttrs(permissions=0o700), exist_ok=True)
        if await sftp.exists(side):  # left by a write cut short
            await sftp.rmtree(side)
        await sftp.mkdir(side, asyncssh.SFTPAttrs(permissions=0o700))
        own = (await sftp.lstat(side)).uid
        for private in private_folders(path):
            attrs = await sftp.lstat(private)
            check_private(private, attrs.permissions or 0, attrs.uid or 0, own or 0)
        for e in entries:
            where = posixpath.join(side, e.path)
            if e.folder:
                await sftp.mkdir(where, asyncssh.SFTPAttrs(permissions=e.mode))
            else:
                async with sftp.open(where, "wb", attrs=asyncssh.SFTPAttrs(permissions=0o600)) as f:
                    await f.write(e.data)
            await sftp.chmod(where, e.mode)  # the umask does not decide what the container reads
        await sftp.chmod(side, 0o755)
        await sftp.posix_rename(side, path)


async def sftp_remove_tree(conn: asyncssh.SSHClientConnection, path: str) -> None:
    import asyncssh

    async with conn.start_sftp_client() as sftp:
        with contextlib.suppress(asyncssh.SFTPNoSuchFile):
            await sftp.rmtree(path)


def local_put_tree(path: str, entries: Sequence[Entry]) -> None:
    side = path + ".part"
    for private in private_folders(path):  # each one 0700 (as local_put)
        with contextlib.suppress(FileExistsError):
            os.mkdir(private, 0o700)
    for private in private_folders(path):
        st = os.lstat(private)
        check_private(private, st.st_mode, st.st_uid, os.getuid())
    shutil.rmtree(side, ignore_errors=True)  # left by a write cut short
    os.mkdir(side, 0o700)
    for e in entries:
        where = os.path.join(side, e.path)
        if e.folder:
            os.mkdir(where)
        else:
            fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(e.data)
        os.chmod(where, e.mode)
    os.chmod(side, 0o755)
    os.replace(side, path)


def local_remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
