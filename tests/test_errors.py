"""Messages are printable whatever the names and paths they quote (errors.printable)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tui_orch.errors import InventoryError, ManifestError, NodeError, Problem, printable, printable_lines

HOSTILE = "web\rx.yaml: valid\x1b[8m"


def test_printable_escapes_as_python_writes_it() -> None:
    assert printable(HOSTILE) == "web\\rx.yaml: valid\\x1b[8m"
    assert printable("a\u202eb\x7f\x85\u200b\n\t") == "a\\u202eb\\x7f\\x85\\u200b\\n\\t"
    assert printable("caf\u00e9 \u65e5\u672c \\ ok") == "caf\u00e9 \u65e5\u672c \\ ok"  # printable: unchanged
    assert printable_lines("a\rb\nc\x1b") == "a\\rb\nc\\x1b"


@given(st.text())
def test_every_character_of_the_escaped_text_is_printable(text: str) -> None:
    assert printable(text).isprintable()
    assert all(line.isprintable() for line in printable_lines(text).split("\n"))


@given(st.text().filter(str.isprintable))
def test_printable_text_is_unchanged(text: str) -> None:
    assert printable(text) == text and printable_lines(text) == text


@given(st.text(), st.text())
def test_escaping_never_merges_two_texts(a: str, b: str) -> None:
    """Different control characters stay different: the escaped text still tells them apart."""
    if a != b and not ("\\" in a or "\\" in b):
        assert printable(a) != printable(b)


def test_error_messages_are_printable() -> None:
    problem = Problem(f"{HOSTILE}.yaml", 2, 3, f"services.{HOSTILE}", "bad name")
    assert str(problem) == "web\\rx.yaml: valid\\x1b[8m.yaml:2:3: services.web\\rx.yaml: valid\\x1b[8m: bad name"
    for exc in (ManifestError([problem, problem]), InventoryError([problem]), InventoryError(f"{HOSTILE}: no"),
                NodeError(HOSTILE, "gone\x1b]0;title\x07")):
        assert all(line.isprintable() for line in str(exc).split("\n")), str(exc)
    assert str(ManifestError([problem, problem])).count("\n") == 1  # one line per problem, still
