"""Each service's part of a Compose file's text, as the operator wrote it (comments, anchors
and all): what the console's ``y`` shows of a service. Kept with each revision at apply time
(``Revision.compose``), so that it shows the file as it was applied, not as it is now.

A secret's value is never in a Compose file (``secrets:`` names a file or an environment
variable), so a section holds none; the top-level ``secrets:`` is not part of any section."""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.manifest.reader import YamlProblem, compose

MAX_SECTION = 32 * 1024  # characters kept of one service's part (the desired state stays small)


def _services_entry(root: Node | None) -> tuple[int, list[tuple[str, int]]] | None:
    """(the line after the ``services:`` mapping, [(service, its first line)]) of a document."""
    if not isinstance(root, MappingNode):
        return None
    tops = [(k, v) for k, v in root.value if isinstance(k, ScalarNode)]
    for i, (key, value) in enumerate(tops):
        if key.value != "services" or not isinstance(value, MappingNode):
            continue
        end = tops[i + 1][0].start_mark.line if i + 1 < len(tops) else None
        if end is None or end < value.start_mark.line:  # keys out of line order: to the mapping's end
            end = value.end_mark.line + (1 if value.end_mark.column else 0)
        starts = [(k.value, k.start_mark.line) for k, _ in value.value if isinstance(k, ScalarNode)]
        return end, starts
    return None


def service_sections(text: str, root: Node | None) -> dict[str, str]:
    """service -> its lines of ``text`` (``root``: the text's composed document), each under a
    ``services:`` line so that it reads as Compose; trailing blank and comment lines (those
    belong to the next service) left out. Services of an included file are not in it."""
    found = _services_entry(root)
    if found is None:
        return {}
    end, starts = found
    lines = text.splitlines()
    ordered = sorted(starts, key=lambda s: s[1])
    out: dict[str, str] = {}
    for i, (name, first) in enumerate(ordered):
        last = min(ordered[i + 1][1] if i + 1 < len(ordered) else end, len(lines))
        part = lines[first:last]
        while part and (not part[-1].strip() or part[-1].lstrip().startswith("#")):
            part.pop()
        body = "\n".join(["services:", *part])
        out[name] = body if len(body) <= MAX_SECTION else body[:MAX_SECTION] + "\n# ... (cut: the section is longer)"
    return out


def section_of(text: str, file: str, service: str) -> str | None:
    """``service``'s part of the Compose ``text`` (None when it is not there, or the text is
    not YAML any more)."""
    try:
        root = compose(text, file)
    except YamlProblem:
        return None
    return service_sections(text, root).get(service)


__all__ = ["MAX_SECTION", "section_of", "service_sections"]
