"""``tui-orch controller install``: a systemd unit that runs ``tui-orch controller``.

The unit runs this installation's interpreter on the state folder and inventory the command
names (resolved to absolute paths now), restarts it when it fails, and stops it with
SIGTERM (it hands restarts to the engines then). ``--user`` (the default unless root) writes
it to ~/.config/systemd/user, ``--system`` to /etc/systemd/system; ``--unit-dir`` anywhere.
It is enabled and started when systemd runs on this machine; else the command says how.
One unit per state folder (unit_name)."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tui_orch import config
from tui_orch.errors import TuiOrchError

UNIT_NAME = "tui-orch-controller.service"
_PLAIN = re.compile(r"[A-Za-z0-9_./:@=+,-]+")


def unit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--user", dest="scope", action="store_const", const="user", default=None,
                   help="install: a unit of your user's systemd (default unless root)")
    p.add_argument("--system", dest="scope", action="store_const", const="system",
                   help="install: a unit of the system's systemd (default for root)")
    p.add_argument("--unit-dir", metavar="DIR", default=None, help="install: write the unit to DIR instead")
    p.add_argument("--no-enable", action="store_true", help="install: write the unit, do not enable it")


def systemd_quote(arg: str) -> str:
    """One ExecStart argument as systemd reads it: specifiers (%) and variables ($) escaped,
    quoted when it holds anything but plain characters."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_name(state: str) -> str:
    """One unit per state folder: the default folder's is tui-orch-controller.service, any
    other's carries a digest of its path (a second install never replaces another's unit)."""
    from tui_orch.store import default_state_dir

    default = default_state_dir()
    if state == getattr(default, "spec", None) or state == str(getattr(default, "resolve", lambda: None)()):
        return UNIT_NAME
    return f"tui-orch-controller-{hashlib.sha256(state.encode()).hexdigest()[:10]}.service"


def unit_text(argv: list[str], scope: str, state: str, env_file: str | None = None) -> str:
    network = ["Wants=network-online.target", "After=network-online.target"] if scope == "system" else []
    return "\n".join([
        "[Unit]",
        f"Description=tui-orch controller (state {state})".replace("%", "%%"),
        *network,
        "",
        "[Service]",
        "Type=simple",
        *([f"EnvironmentFile=-{systemd_quote(env_file)}"] if env_file else []),
        "ExecStart=" + " ".join(systemd_quote(a) for a in argv),
        "Restart=on-failure",
        "RestartSec=2",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=90",
        "UMask=0077",
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if scope == 'system' else 'default.target'}",
        "",
    ])


def cmd_install(args: argparse.Namespace) -> int:
    scope = args.scope or ("system" if os.geteuid() == 0 else "user")
    target = config.state_dir(getattr(args, "state", None))
    etcd = getattr(target, "spec", None)  # an etcd state: its URL and options
    state = etcd if etcd is not None else str(target.resolve())  # type: ignore[union-attr]
    inventory = config.inventory_path(getattr(args, "inventory", None))
    argv = [sys.executable, "-m", "tui_orch", "controller", "--state", state]
    if inventory is not None:
        if not inventory.is_file():
            raise TuiOrchError(f"inventory {inventory} does not exist; give the one the controller should use with --inventory FILE")
        argv += ["--inventory", str(inventory.resolve())]
    if args.log_format != "text":
        argv += ["--log-format", args.log_format]
    folder = Path(args.unit_dir).expanduser() if args.unit_dir else (
        Path("/etc/systemd/system") if scope == "system" else Path.home() / ".config/systemd/user")
    name = unit_name(state)
    path = folder / name
    env_file = None
    if getattr(target, "user", None):  # the etcd user's password: never in the unit itself
        env_file = str(config.config_dir() / "etcd.env")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        tmp = path.with_name(name + ".tmp")
        tmp.write_text(unit_text(argv, scope, state, env_file))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise TuiOrchError(f"cannot write {path}: {exc.strerror or exc}; "
                           f"{'run as root, or use --user' if scope == 'system' else 'use --unit-dir DIR'}") from None
    print(f"{'replaced' if existed else 'wrote'} {path}")
    if env_file:
        print(f"the controller reads the etcd password from {env_file}: put TUI_ORCH_ETCD_PASSWORD=... "
              f"there (chmod 600)")
    user = ["--user"] if scope == "user" else []
    enable = ["systemctl", *user, "enable", "--now", name]
    if args.no_enable or args.unit_dir:
        print(f"not enabled; to run it: systemctl {' '.join(user + ['daemon-reload'])} && {' '.join(enable)}")
        return 0
    if shutil.which("systemctl") is None or not os.path.isdir("/run/systemd/system"):
        print(f"systemd does not run on this machine, so the unit is not enabled; where it runs: "
              f"systemctl {' '.join(user + ['daemon-reload'])} && {' '.join(enable)}. "
              f"Elsewhere, run `tui-orch controller` under your own supervisor.")
        return 0
    for command in (["systemctl", *user, "daemon-reload"], enable):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise TuiOrchError(f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()}")
    print(f"enabled and started: systemctl {' '.join(user)} status {name}".replace("  ", " "))
    return 0
