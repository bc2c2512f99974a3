"""A folder of the operator's machine bound by a relative path (``./site:/usr/share/nginx/html``):
walked, limited and digested, so that the controller can copy it to the nodes like a file.

What is taken: regular files and folders. A symbolic link is followed only when it points
inside the bound folder (a link out of it would copy what the operator did not name) and not
to a folder above itself (a loop); a FIFO, socket or device is refused naming its path. The
walk is iterative (no recursion limit) and bounded: at most MAX_ENTRIES entries, MAX_BYTES in
all and MAX_DEPTH folders deep; beyond that one line says to use a named volume or bake the
folder into the image (a copy per node is for configuration and small sites, not data).

The digest is sha256 over the sorted (relative path, kind, mode, content digest) lines: what
the container sees. Modes are reduced to what is delivered (files 0444 plus the execute bits,
folders 0755), so a chmod the container cannot see rolls nothing out.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from tui_orch.manifest.files import FileRefused, read_limited

MAX_ENTRIES = 10_000
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_FILE_BYTES = 16 * 1024 * 1024  # one file bound on its own
TREE_PREFIX = "tree-"  # a folder's digest starts with this; a file's digest is the plain sha256
NOT_FOUND = "not found; create it (tui-orch copies it to the nodes)"
BIG = "use a named volume, or bake it into the image"


@dataclass(frozen=True)
class Entry:
    path: str  # relative, with "/" (never "", ".." or absolute)
    folder: bool
    mode: int  # as delivered: folders 0o755, files 0o444 plus the source's execute bits
    data: bytes = b""


@dataclass(frozen=True)
class Tree:
    digest: str  # TREE_PREFIX + sha256 hex
    entries: tuple[Entry, ...]  # sorted by path; folders before what they hold

    @property
    def size(self) -> int:
        return sum(len(e.data) for e in self.entries)


def is_tree(digest: str) -> bool:
    return digest.startswith(TREE_PREFIX)


def _kind(mode: int) -> str | None:
    """Why a non-regular, non-folder entry is refused (None when it is taken)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _follow(root_real: str, full: str, shown: str) -> os.stat_result:
    """The stat of what the link ``full`` points to, when it stays inside the folder."""
    target = os.path.realpath(full)
    if target != root_real and not target.startswith(root_real + os.sep):
        raise FileRefused(f"holds {shown}, a link out of the folder (to {target}); copy the file in, or bind it on its own")
    try:
        st = os.stat(full)
    except OSError:
        raise FileRefused(f"holds {shown}, a link to nothing; remove it") from None
    if stat.S_ISDIR(st.st_mode):
        here = os.path.realpath(os.path.dirname(full))
        if here == target or here.startswith(target + os.sep):
            raise FileRefused(f"holds {shown}, a link to a folder above it (a loop); remove it")
    return st


def walk(root: str, read: bool = True) -> Tree:
    """The folder ``root`` as the nodes receive it (``read=False``: sizes only, no content and
    an empty digest: what validate checks). Raises FileNotFoundError when it is missing and
    FileRefused (one sentence, after the path) for what cannot be copied."""
    root_real = os.path.realpath(root)
    if not os.path.isdir(root_real):
        raise FileNotFoundError(root) if not os.path.exists(root) else FileRefused("is not a folder")
    entries: list[Entry] = []
    total = 0
    stack: list[tuple[str, int]] = [("", 0)]
    while stack:
        rel, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FileRefused(f"is more than {MAX_DEPTH} folders deep (at {rel}); {BIG}")
        try:
            names = sorted(os.listdir(os.path.join(root, rel) if rel else root))
        except OSError as exc:
            raise FileRefused(f"cannot be read at {rel or '.'}: {exc.strerror or exc}") from None
        for name in names:
            sub = f"{rel}/{name}" if rel else name
            full = os.path.join(root, sub)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                st = _follow(root_real, full, sub)
            why = _kind(st.st_mode)
            if why:
                raise FileRefused(f"holds {sub}, {why}; only files and folders are copied to the nodes")
            if len(entries) >= MAX_ENTRIES:
                raise FileRefused(f"holds more than {MAX_ENTRIES:,} files and folders; {BIG}")
            if stat.S_ISDIR(st.st_mode):
                entries.append(Entry(sub, True, 0o755))
                stack.append((sub, depth + 1))
                continue
            total += st.st_size
            if total > MAX_BYTES:
                raise FileRefused(f"holds more than {MAX_BYTES // (1024 * 1024)} MiB; {BIG}")
            data = read_limited(full, MAX_BYTES, "file") if read else b""
            entries.append(Entry(sub, False, 0o444 | (st.st_mode & 0o111), data))
    entries.sort(key=lambda e: e.path.split("/"))
    return Tree(_digest(entries) if read else "", tuple(entries))


def _digest(entries: list[Entry]) -> str:
    h = hashlib.sha256()
    for e in entries:
        content = "-" if e.folder else hashlib.sha256(e.data).hexdigest()
        h.update(f"{e.path}\0{'d' if e.folder else 'f'}\0{e.mode:o}\0{content}\n".encode())
    return TREE_PREFIX + h.hexdigest()


def local_problem(path: str) -> str | None:
    """What apply would refuse about the relative bind ``path`` (a file or a folder), checked
    without reading contents, as the words after the path; None when it can be copied."""
    try:
        if os.path.isdir(path):
            walk(path, read=False)
            return None
        st = os.stat(path)
    except FileNotFoundError:
        return NOT_FOUND
    except FileRefused as exc:
        return exc.reason
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    why = _kind(st.st_mode)
    if why:
        return f"is {why}; give the path of a file or a folder"
    if st.st_size > MAX_FILE_BYTES:
        return f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; {BIG}"
    return None


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_ENTRIES", "MAX_FILE_BYTES", "NOT_FOUND", "TREE_PREFIX", "Entry",
           "FileRefused", "Tree", "is_tree", "local_problem", "walk"]
