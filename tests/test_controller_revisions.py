"""controller/revisions.py: a revision's spec as text, what changed in a few words, and the
diff of two revisions, with a secret shown by its name only."""

from __future__ import annotations

import dataclasses

from tui_orch.controller import revisions
from tui_orch.model import FileRef, Revision, ServiceSpec

SECRET = FileRef("secret", "db_password", "/run/secrets/db_password", "file", "/home/op/pw.txt", "d1" * 32)


def rev(number: int, spec: ServiceSpec) -> Revision:
    return Revision("web", number, spec, 1000.0 + number, "apply web.yaml")


def test_a_secret_is_shown_by_name_and_a_new_content_said_in_words() -> None:
    one = ServiceSpec("web", "nginx:1", secrets=(SECRET,))
    two = dataclasses.replace(one, secrets=(dataclasses.replace(SECRET, digest="e2" * 32),))
    text = "\n".join(revisions.spec_text(two))
    assert "db_password" in text and "e2e2" not in text and "pw.txt" not in text and "/run/secrets" not in text
    lines = revisions.diff(rev(1, one), rev(2, two))
    assert lines[-1] == "# secret db_password: new content (not shown)"
    assert not any(line.startswith(("+", "-")) and "db_password" in line for line in lines)
    assert revisions.summary(rev(1, one), rev(2, two)) == "secrets"


def test_only_changed_fields_are_named_and_defaults_are_left_out() -> None:
    one = ServiceSpec("web", "nginx:1")
    assert revisions.spec_text(one) == ["image: nginx:1"]  # every other field is its default
    two = dataclasses.replace(one, image="nginx:2", environment=(("A", "1"),), command=("run",),
                              entrypoint=("sh",), working_dir="/w", user="u")
    assert revisions.summary(rev(1, one), rev(2, two)) == "image nginx:1 -> nginx:2, command, entrypoint, environment, 2 more"
    assert revisions.summary(rev(1, one), rev(2, one)) == "same spec (new replicas)"
    assert revisions.diff(rev(1, one), rev(2, one)) == [
        "revision 2 has the same spec as revision 1 (a restart: new replicas)"]
    assert "+environment:" in revisions.diff(rev(1, one), rev(2, two)) and "+  A: '1'" in revisions.diff(rev(1, one), rev(2, two))


def test_a_nested_field_shows_only_what_differs_from_its_default() -> None:
    from tui_orch.model import Resources, ResourceSpec

    spec = ServiceSpec("web", "nginx:1", resources=ResourceSpec(reservations=Resources(0.5, 256 << 20)))
    assert revisions.spec_text(spec) == ["image: nginx:1", "resources:", "  reservations:", "    cpus: 0.5",
                                         "    memory: 268435456"]
