"""Shell into a replica: the console suspends, the command from ``Fleet.shell_argv`` (``docker
exec -it``, over ``ssh -t`` for a remote node) runs on the terminal, and the console resumes
when the shell exits."""

from __future__ import annotations

import subprocess
from typing import Any

SSH_FAILED = 255  # ssh's own exit status when it cannot connect
EXEC_CANNOT_RUN = (126, 127)  # docker exec: the command cannot be run / is not found


def run_shell(app: Any, argv: list[str]) -> str | None:
    """Suspend ``app`` (a Textual App), run ``argv`` on the terminal, resume. None when the
    shell ended normally, else one sentence saying what went wrong."""
    from textual.app import SuspendNotSupported

    try:
        with app.suspend():
            result = subprocess.run(argv, check=False)
    except SuspendNotSupported:
        return "this console cannot hand its terminal to a shell (it is not running in a real terminal)"
    except FileNotFoundError:
        return f"cannot open a shell: {argv[0]} is not installed on this machine"
    except OSError as exc:
        return f"cannot open a shell: {argv[0]}: {exc.strerror or exc}"
    code = result.returncode
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
