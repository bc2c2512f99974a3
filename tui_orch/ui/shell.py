"""Hand the terminal to a program: a shell into a replica (the command from
``Fleet.shell_argv``: ``docker exec -it``, over ``ssh -t`` for a remote node), or the
operator's editor on a Compose file. The console suspends, the program runs on the
terminal, and the console resumes when it exits."""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Any

SSH_FAILED = 255  # ssh's own exit status when it cannot connect
EXEC_CANNOT_RUN = (126, 127)  # docker exec: the command cannot be run / is not found
NO_TERMINAL = "this console cannot hand its terminal to {what} (it is not running in a real terminal)"


def run_on_terminal(app: Any, argv: list[str], what: str) -> int | str:
    """Suspend ``app`` (a Textual App), run ``argv`` on the terminal, resume. The program's
    exit code, or one sentence saying why it could not run (``what``: "a shell", "an editor")."""
    from textual.app import SuspendNotSupported

    try:
        with app.suspend():
            return subprocess.run(argv, check=False).returncode
    except SuspendNotSupported:
        return NO_TERMINAL.format(what=what)
    except FileNotFoundError:
        return f"cannot open {what}: {argv[0]} is not installed on this machine"
    except OSError as exc:
        return f"cannot open {what}: {argv[0]}: {exc.strerror or exc}"


def run_shell(app: Any, argv: list[str]) -> str | None:
    """Run a shell into a replica. None when the shell ended normally, else one sentence
    saying what went wrong."""
    code = run_on_terminal(app, argv, "a shell")
    if isinstance(code, str):
        return code
    if code == 0:
        return None
    if argv[0] == "ssh" and code == SSH_FAILED:
        target = next((w for w in argv[argv.index("--") + 1:]), "the host") if "--" in argv else "the host"
        return (f"ssh to {target} failed (exit code {code}); check that the node is Ready and its "
                f"host key is trusted (tui-orch nodes)")
    if code in EXEC_CANNOT_RUN:
        return f"the container cannot run {argv[-1]} (exit code {code}); it may have no such shell"
    if code < 0:
        return f"the shell was killed by signal {-code}"
    return f"the shell ended with exit code {code}"


def editor_argv(path: str) -> list[str] | str:
    """The operator's editor on ``path``: $VISUAL, else $EDITOR, else vi (its words split as a
    shell would, the path one word of its own: never run through a shell). A sentence when
    the variable cannot be read."""
    name = "VISUAL" if os.environ.get("VISUAL") else "EDITOR"
    command = os.environ.get(name) or "vi"
    try:
        words = shlex.split(command)
    except ValueError as exc:
        return f"${name} cannot be read as a command ({exc}); set it to your editor, e.g. EDITOR=vim"
    if not words:
        return f"${name} is empty; set it to your editor, e.g. EDITOR=vim"
    return [*words, path]


def run_editor(app: Any, path: str) -> str | None:
    """Edit ``path`` in the operator's editor. None when the editor ended normally, else one
    sentence saying what went wrong."""
    argv = editor_argv(path)
    if isinstance(argv, str):
        return argv
    code = run_on_terminal(app, argv, "an editor")
    if isinstance(code, str):
        return f"{code}; set $EDITOR to your editor" if "not installed" in code else code
    if code != 0:
        return f"the editor ({argv[0]}) ended with exit code {code}"
    return None
