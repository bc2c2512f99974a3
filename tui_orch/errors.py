"""Errors a user can cause. Each renders as one clear sentence: what, where, what to do."""

from __future__ import annotations

from dataclasses import dataclass


def printable(text: str) -> str:
    """``text`` with every character a terminal would not simply print (C0 and C1 controls, ESC,
    CR, newline, DEL, bidi overrides such as U+202E, zero-width and other format characters:
    whatever ``str.isprintable`` refuses) written as Python writes it: ``\\r``, ``\\x1b``,
    ``\\u202e``. A name or a path read from a file or a host can then neither move the cursor,
    hide text nor reorder it: ``"web\\rx.yaml: valid"`` cannot overwrite the line it is on.
    Printable text is returned unchanged (a backslash stays one backslash)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def printable_lines(text: str) -> str:
    """``printable`` for each line of a message of several lines (the newlines are kept)."""
    if text.isprintable():
        return text
    return "\n".join(map(printable, text.split("\n")))


class TuiOrchError(Exception):
    """Base of every error the console shows to the operator as one message (never a traceback).
    Its text is always printable (``printable_lines``): messages quote names and paths read from
    files and hosts."""

    def __str__(self) -> str:
        return printable_lines(super().__str__())


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
        return printable(prefix + self.message)  # one line, whatever the names and paths hold


class ManifestError(TuiOrchError):
    """A Compose file that cannot be deployed. Carries every problem found, all at once."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = [p for p in problems if p.severity == "error"] or list(problems)
        # the warnings found with the errors: shown together, so that fixing the errors
        # brings no surprise
        self.warnings = [p for p in problems if p.severity != "error"] if self.problems != list(problems) else []
        # Every error found, also those past the cap that only an "and N more" line stands for.
        self.total = total if total is not None else len(self.problems)
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
            f"state folder {folder} is in use by {who} (another tui-orch console, command or controller); "
            f"close it first, or use --state DIR for a separate state"
        )


class NotLeading(StoreError):
    """This process no longer leads the (etcd) state: it must not write or act."""


class NodeError(TuiOrchError):
    """A host could not do what was asked. The message names the node and what to do."""

    def __init__(self, node: str, message: str):
        self.node = node
        super().__init__(f"{node}: {message}")


class HostKeyUnknown(NodeError):
    """The host's key is not in known_hosts: refused until the operator trusts it."""

    def __init__(self, node: str, fingerprint: str, address: str = ""):
        self.fingerprint = fingerprint
        where = f" ({address})" if address else ""
        super().__init__(
            node,
            f"unknown host key{where}, fingerprint {fingerprint}; if it is right, "
            f"trust it with: tui-orch trust {node}",
        )


class HostKeyChanged(NodeError):
    """The host presented a key other than the one recorded: refused, never replaced."""

    def __init__(self, node: str, fingerprint: str, address: str = ""):
        self.fingerprint = fingerprint
        where = f" ({address})" if address else ""
        super().__init__(
            node,
            f"HOST KEY CHANGED{where}: it now presents {fingerprint}, which does not match "
            f"known_hosts. This may be an attack. Refusing to connect; if the host was really "
            f"reinstalled, remove its old line from known_hosts and trust it again",
        )


class HostKeyRevoked(HostKeyChanged):
    """The host presented a key marked ``@revoked`` in known_hosts: refused, never trusted."""

    def __init__(self, node: str, fingerprint: str, address: str = ""):
        self.fingerprint = fingerprint
        where = f" ({address})" if address else ""
        NodeError.__init__(
            self,
            node,
            f"REVOKED HOST KEY{where}: it presents {fingerprint}, which known_hosts marks @revoked. "
            f"Refusing to connect; this key can never be trusted: give the host a new key",
        )


class NodeUnavailable(NodeError):
    """The node is not Ready (unreachable, no Docker, denied...)."""


class OperationTimeout(NodeError):
    """A remote operation did not finish in time."""


class ImageNotFound(NodeError):
    """An image that exists on no node and no registry."""


class AuthFailed(NodeError):
    """The host refused our key: retried only after the operator fixes it (reconnect)."""


class Unreachable(NodeUnavailable):
    """The host cannot be reached over SSH (refused, timed out, unknown name)."""


class NoDocker(NodeUnavailable):
    """The host has no Docker Engine at the configured socket (or it does not answer)."""


class DockerDenied(NodeUnavailable):
    """The SSH user may not use the host's Docker socket."""


class ContainerNotFound(NodeError):
    """No such container on the node (or it is not one tui-orch owns)."""


class PlanOutdated(TuiOrchError):
    """The services a plan was made for changed before it was confirmed (another operator
    applied, scaled or removed one): nothing was done; plan again."""


class BuildFailed(TuiOrchError):
    """An image could not be built (a failing step, a missing Dockerfile, a context too big):
    the apply stops before anything changes. ``lines`` are the build's own error lines."""

    def __init__(self, message: str, lines: tuple[str, ...] = ()):
        super().__init__(message)
        self.lines = lines
