"""Compose-style manifests -> validated service specs, or every problem with file:line:column.

``load_manifest(path)`` reads a file; ``parse_manifest(text, filename)`` reads text. Both
return a ``Manifest`` (services with Docker Swarm's defaults applied, and warnings) or raise
``ManifestError`` carrying every problem of the file at once. ``DECISIONS`` tells, for each
Compose key, whether tui-orch reads it, ignores it with a warning, or rejects it.
"""

from tui_orch.manifest.decisions import TABLES as DECISIONS
from tui_orch.manifest.decisions import Decision
from tui_orch.manifest.document import Manifest, load_manifest, parse_manifest

__all__ = ["DECISIONS", "Decision", "Manifest", "load_manifest", "parse_manifest"]
