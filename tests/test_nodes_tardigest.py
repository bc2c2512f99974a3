"""The volume checksum read from a tar stream: equal data, equal checksum, whatever the tar."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from tui_orch.nodes.tardigest import ListingDigest, TarDigest, TarError

LONG = "deep/" + "d" * 120 + "/" + "f" * 150  # past ustar's 100 characters: PAX or GNU long names


def _archive(fmt: int, uid: int = 0, mtime: int = 0, files: dict[str, bytes] | None = None) -> bytes:
    files = files if files is not None else {"data/a.txt": b"hello\n", f"data/{LONG}": b"x" * 70000,
                                              "data/empty": b""}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        top = tarfile.TarInfo("data")
        top.type, top.uid, top.mtime = tarfile.DIRTYPE, uid, mtime
        tar.addfile(top)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.mtime, info.mode = len(content), uid, mtime, 0o600 + uid % 3
            tar.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo("data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "a.txt"
        tar.addfile(link)
    return buf.getvalue()


def _digest(data: bytes, chunk: int) -> str:
    d = TarDigest()
    for i in range(0, len(data), chunk):
        d.feed(data[i:i + chunk])
    return d.result().checksum


@pytest.mark.parametrize("chunk", [1, 511, 512, 4096, 1 << 20])
def test_same_data_same_checksum_whatever_the_format_metadata_or_chunking(chunk: int) -> None:
    reference = _digest(_archive(tarfile.PAX_FORMAT), 1 << 20)
    assert _digest(_archive(tarfile.GNU_FORMAT, uid=1000, mtime=12345), chunk) == reference
    assert _digest(_archive(tarfile.PAX_FORMAT, uid=7, mtime=99), chunk) == reference


def test_counts_files_and_content() -> None:
    d = TarDigest()
    d.feed(_archive(tarfile.PAX_FORMAT))
    result = d.result()
    assert (result.files, result.content_bytes) == (3, 6 + 70000)


def test_different_content_or_name_changes_the_checksum() -> None:
    base = _digest(_archive(tarfile.PAX_FORMAT, files={"data/a": b"1"}), 512)
    assert _digest(_archive(tarfile.PAX_FORMAT, files={"data/a": b"2"}), 512) != base
    assert _digest(_archive(tarfile.PAX_FORMAT, files={"data/b": b"1"}), 512) != base


def test_a_stream_cut_short_is_an_error() -> None:
    data = _archive(tarfile.PAX_FORMAT)
    d = TarDigest()
    d.feed(data[:3000])
    with pytest.raises(TarError):
        d.result()


def _listing(dirs: list[str], links: dict[str, str], files: dict[str, bytes]) -> list[str]:
    """What nodes/volcheck.py's script prints for a volume (find's paths, sha256sum's lines)."""
    lines = ["#d", *dirs, "#l"]
    for path, target in links.items():
        lines += [path, target]
    lines.append("#f")
    lines += [f"{hashlib.sha256(data).hexdigest()}  {path}" for path, data in files.items()]
    return lines + ["#end"]


def _listed(lines: list[str]) -> str | None:
    d = ListingDigest()
    for line in lines:
        d.feed_line(line)
    return d.result()


def test_a_listing_made_on_the_node_gives_the_tar_checksum() -> None:
    # the same volume as _archive's (its only directory entry is the top one), listed the way
    # find and sha256sum print it
    lines = _listing(["."], {"./link": "a.txt"},
                     {"./empty": b"", f"./{LONG}": b"x" * 70000, "./a.txt": b"hello\n"})
    assert _listed(lines) == _digest(_archive(tarfile.PAX_FORMAT), 4096)
    # other content, another link target, a missing directory: another checksum
    changed = [line.replace("a.txt", "b.txt") if line == "a.txt" else line for line in lines]
    assert _listed(changed) not in (None, _listed(lines))
    assert _listed(["#d", ".", "./deep", *lines[2:]]) not in (None, _listed(lines))
    # the second hashing process's lines come on stderr, after or before stdout's end
    split = ListingDigest()
    for line in [line for line in lines if "a.txt" not in line or line == "a.txt"]:
        split.feed_line(line)
    split.feed_file_line(f"{hashlib.sha256(b'hello' + bytes([10])).hexdigest()}  ./a.txt")
    assert split.result() == _listed(lines)


@pytest.mark.parametrize("cut", ["no end", "escaped name", "not a hash", "after the end"])
def test_a_listing_not_understood_gives_no_checksum(cut: str) -> None:
    lines = _listing(["."], {}, {"./a": b"1", "./b": b"2"})
    broken = {"no end": lines[:-1], "escaped name": lines[:-2] + ["\\" + lines[-2], "#end"],
              "not a hash": lines[:-2] + ["zz  ./b", "#end"], "after the end": lines + ["./c"]}[cut]
    assert _listed(lines) is not None and _listed(broken) is None
