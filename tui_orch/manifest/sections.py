"""Each service's part of a Compose file's text, as the operator wrote it (comments, anchors
and all): what the console's ``y`` shows of a service. Kept with each revision at apply time
(``Revision.compose``), so that it shows the file as it was applied, not as it is now.

A secret's value is never in a Compose file (``secrets:`` names a file or an environment
variable), so a section holds none; the top-level ``secrets:`` is not part of any section. An
environment variable whose name says it holds a credential is shown hidden (``hide_credentials``)."""

from __future__ import annotations

import re

from yaml.nodes import MappingNode, Node, ScalarNode

from tui_orch.manifest.reader import YamlProblem, compose

MAX_SECTION = 32 * 1024  # characters kept of one service's part (the desired state stays small)
HIDDEN = "(hidden)"
CREDENTIAL = re.compile(r"pass|secret|token|credential|private|(^|_)key($|_)|api_?key", re.IGNORECASE)
# an environment entry: ``KEY: value`` (a mapping) or ``- KEY=value`` (a list), quoted or not
_ENTRY = re.compile(r"""^(\s*(?:-\s*)?["']?)([A-Za-z_][A-Za-z0-9_.-]*)(["']?\s*[:=]\s*)(.*)$""")
_FLOW = re.compile(r"""(["']?)([A-Za-z_][A-Za-z0-9_.-]*)\1(\s*[:=]\s*)([^,}\]]+)""")


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


def _hidden_entry(line: str) -> str:
    m = _ENTRY.match(line)
    if m is None or not CREDENTIAL.search(m.group(2)) or not m.group(4).strip():
        return line
    return f"{m.group(1)}{m.group(2)}{m.group(3)}{HIDDEN}"


def _hidden_flow(text: str) -> str:
    return _FLOW.sub(lambda m: m.group(0) if not CREDENTIAL.search(m.group(2)) else
                     f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{HIDDEN}", text)


def hide_credentials(text: str) -> str:
    """``text`` with the value of each environment variable named like a credential (PASSWORD,
    API_TOKEN...) replaced by "(hidden)", in block and flow style (``environment: {A: b}``)."""
    out: list[str] = []
    under: int | None = None  # the indentation of the environment: key whose block we are in
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if under is not None and line.strip() and indent <= under and not line.lstrip().startswith("#"):
            under = None
        key, sep, rest = line.strip().partition(":")
        if key == "environment" and sep:
            if rest.strip():
                line = line[:line.index(":") + 1] + _hidden_flow(line[line.index(":") + 1:])
            else:
                under = indent
        elif under is not None:
            line = _hidden_entry(line)
        out.append(line)
    return "\n".join(out)


__all__ = ["CREDENTIAL", "HIDDEN", "MAX_SECTION", "hide_credentials", "section_of", "service_sections"]
