"""A checksum of a volume's content computed from a tar stream as it passes, chunk by chunk.

The checksum covers what the data is, not how the tar was written: the sorted list of entries
(path relative to the archive's top folder, kind, and the sha256 of a file's content or a
link's target). Modes, owners and times are left out, so equal data gives equal checksums
whichever engine wrote the archive. Memory: one 512-byte header at a time plus one
(path, digest) pair per entry; a file's content is hashed as it streams and never kept.

Understood: ustar/GNU headers with their prefix field, PAX per-file headers (``path``,
``linkpath``, ``size``), GNU long names and long link names, base-256 sizes. Global PAX
headers are skipped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

BLOCK = 512
_KINDS = {b"0": "f", b"\0": "f", b"7": "f", b"5": "d", b"2": "l", b"1": "h"}


class TarError(ValueError):
    """The stream is not a tar archive (or was cut short)."""


@dataclass(frozen=True)
class Digest:
    checksum: str  # sha256 hex of the sorted entries
    files: int  # regular files
    content_bytes: int  # bytes of file content (the tar stream is a little longer)


def _octal(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256 (GNU) for sizes past 8 GiB
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarError(f"bad number {text!r} in a tar header") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    """PAX records: "LEN key=value\\n" repeated."""
    found: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        length = int(data[pos:space])
        record = data[space + 1:pos + length - 1]
        key, _, value = record.partition(b"=")
        found[key.decode()] = value.decode("utf-8", "surrogateescape")
        pos += length
    return found


class TarDigest:
    """Feed it the chunks of a tar stream in order; ``result()`` after the last one."""

    def __init__(self) -> None:
        self._pending = bytearray()  # an incomplete header (or a small special member)
        self._remaining = 0  # data bytes left of the current member
        self._padding = 0  # bytes to skip after the data
        self._hasher: hashlib._Hash | None = None  # the current regular file's content
        self._special: bytearray | None = None  # collecting a PAX or GNU long-name member
        self._special_type = b""
        self._current: tuple[str, str] | None = None  # (kind, path) of the member being read
        self._next: dict[str, str] = {}  # overrides from a PAX / GNU header for the next member
        self._entries: list[tuple[str, str, str]] = []
        self._files = 0
        self._content = 0
        self._ended = False

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._ended:
                return  # zero padding after the end marker
            if self._remaining:
                view = self._data(view)
            elif self._padding:
                skip = min(self._padding, len(view))
                self._padding -= skip
                view = view[skip:]
            else:
                need = BLOCK - len(self._pending)
                self._pending += view[:need]
                view = view[need:]
                if len(self._pending) == BLOCK:
                    header, self._pending = bytes(self._pending), bytearray()
                    self._header(header)

    def _data(self, view: memoryview) -> memoryview:
        take = min(self._remaining, len(view))
        part = view[:take]
        if self._hasher is not None:
            self._hasher.update(part)
            self._content += take
        elif self._special is not None:
            self._special += part
        self._remaining -= take
        if not self._remaining:
            self._member_done()
        return view[take:]

    def _header(self, header: bytes) -> None:
        if header == bytes(BLOCK):
            self._ended = True
            return
        size = _octal(header[124:136])
        if "size" in self._next:
            size = int(self._next["size"])
        kind_flag = header[156:157]
        name = _text(header[0:100])
        if header[257:262] == b"ustar" and header[345:346] != b"\0":
            name = _text(header[345:500]) + "/" + name
        self._remaining, self._padding = size, -size % BLOCK
        if kind_flag in (b"x", b"L", b"K", b"g"):
            self._special, self._special_type = bytearray(), kind_flag
        else:
            path = self._next.pop("path", name)
            link = self._next.pop("linkpath", _text(header[157:257]))
            self._next.clear()
            kind = _KINDS.get(kind_flag, "o")
            self._current = (kind, path)
            if kind == "f":
                self._hasher = hashlib.sha256()
                self._files += 1
            elif kind in ("l", "h"):
                self._entries.append((_relative(path), kind, link))
            else:
                self._entries.append((_relative(path), kind, ""))
        if not size:
            self._member_done()

    def _member_done(self) -> None:
        if self._hasher is not None and self._current is not None:
            self._entries.append((_relative(self._current[1]), "f", self._hasher.hexdigest()))
        elif self._special is not None:
            data = bytes(self._special)
            if self._special_type == b"x":
                self._next.update(_pax(data))
            elif self._special_type == b"L":
                self._next["path"] = _text(data)
            elif self._special_type == b"K":
                self._next["linkpath"] = _text(data)
        self._hasher, self._special, self._current = None, None, None

    def result(self) -> Digest:
        if self._remaining or self._pending or self._special is not None:
            raise TarError("the tar stream was cut short")
        return Digest(_checksum(self._entries), self._files, self._content)


def _checksum(entries: list[tuple[str, str, str]]) -> str:
    """The volume checksum of (relative path, kind, value) entries, in any order."""
    total = hashlib.sha256()
    for path, kind, value in sorted(entries):
        total.update(f"{kind} {path} {value}\n".encode("utf-8", "surrogateescape"))
    return total.hexdigest()


def _relative(path: str) -> str:
    """The path below the archive's top folder (docker's archive of /x names entries x/...)."""
    path = path.rstrip("/")
    head, sep, rest = path.partition("/")
    return rest if sep else "."


def digest_files(files: dict[str, bytes]) -> Digest:
    """The same checksum for content held in memory (simulated volumes): path -> bytes."""
    entries = [(path, "f", hashlib.sha256(data).hexdigest()) for path, data in files.items()]
    return Digest(_checksum(entries), len(files), sum(len(d) for d in files.values()))


class ListingDigest:
    """The same checksum from a listing made on the node itself (nodes/volcheck.py's script),
    fed line by line: ``#d`` then directories, ``#l`` then each symlink's path and target on
    two lines, ``#f`` then ``sha256sum`` lines, ``#end``. Paths are find's (``./a``, ``.``).
    ``result()`` is None when the listing is cut short or not understood: the caller then
    reads the volume back instead."""

    def __init__(self) -> None:
        self._section = ""
        self._link: str | None = None  # a symlink's path, waiting for its target line
        self._entries: list[tuple[str, str, str]] = []
        self._files = 0
        self._bad = False

    def feed_line(self, line: str) -> None:
        if self._bad or self._section == "#end":
            self._bad = self._bad or bool(line)
            return
        if line in ("#d", "#l", "#f", "#end") and self._link is None:
            self._section = line
        elif self._section == "#d":
            self._entries.append((_found(line), "d", ""))
        elif self._section == "#l":
            if self._link is None:
                self._link = line
            else:
                self._entries.append((_found(self._link), "l", line))
                self._link = None
        elif self._section == "#f":
            self.feed_file_line(line)
        else:
            self._bad = True

    def feed_file_line(self, line: str) -> None:
        """One ``sha256sum`` line, whatever the section (the script's second hashing process
        writes its lines to stderr: a stream of their own, in no order with stdout's)."""
        if len(line) > 66 and line[64:66] == "  " and _HEX.fullmatch(line[:64]):
            self._entries.append((_found(line[66:]), "f", line[:64]))
            self._files += 1
        else:
            self._bad = True  # GNU sha256sum's escaped names (a leading backslash) land here too

    def result(self) -> str | None:
        if self._bad or self._section != "#end":
            return None
        return _checksum(self._entries)


_HEX = re.compile(r"[0-9a-f]{64}")


def _found(path: str) -> str:
    """find's ``./a/b`` (or ``.``) as the tar digest names it: ``a/b`` (or ``.``)."""
    return path[2:] if path.startswith("./") else path
