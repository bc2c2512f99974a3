"""Errors a user can cause. Each renders as one clear sentence: what, where, what to do."""

from __future__ import annotations

from dataclasses import dataclass


class TuiOrchError(Exception):
    """Base of every error the console shows to the operator as one message (never a traceback)."""


class UnitError(TuiOrchError, ValueError):
    """A size, duration or cpu value that cannot be read."""


@dataclass(frozen=True)
class Problem:
    """One error or warning found in a file, with its position and key path."""

    file: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown
    path: str  # key path such as services.web.deploy.replicas ('' for the document)
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        prefix = f"{where}: "
        if self.severity == "warning":
            prefix += "warning: "
        if self.path:
            prefix += f"{self.path}: "
        return prefix + self.message


class ManifestError(TuiOrchError):
    """A Compose file that cannot be deployed. Carries every problem found, all at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = [p for p in problems if p.severity == "error"] or list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InventoryError(TuiOrchError):
    """A nodes file that cannot be read. Carries every problem found."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            super().__init__(problems)
        else:
            self.problems = list(problems)
            super().__init__("\n".join(str(p) for p in self.problems))


class StoreError(TuiOrchError):
    """The state folder cannot be used (corrupt, newer schema, permissions...)."""


class StoreLocked(StoreError):
    """Another tui-orch process owns the state folder."""

    def __init__(self, folder: str, pid: int | None):
        self.folder = folder
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(
            f"state folder {folder} is in use by {who} (another tui-orch console or command); "
            f"close it first, or use --state DIR for a separate state"
        )
