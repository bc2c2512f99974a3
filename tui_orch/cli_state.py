"""``tui-orch state export|import``: the state folder as one JSON document (store/portable.py)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tui_orch import config


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("state", help="export or import the whole state (JSON): backups, moves",
                       description="Export the state folder as one JSON document, or import one into a folder.")
    state_sub = p.add_subparsers(dest="state_verb", metavar="ACTION", required=True)
    q = state_sub.add_parser("export", parents=[common], help="write the state as JSON (works while a console runs)")
    q.add_argument("-o", "--output", metavar="FILE", default="-", help="the file to write (0600; default: stdout)")
    q.set_defaults(func=cmd_export)
    q = state_sub.add_parser("import", parents=[common], help="make a state folder hold an exported state")
    q.add_argument("file", metavar="FILE", help="what `state export` wrote ('-': standard input)")
    q.add_argument("--force", action="store_true",
                   help="replace a state that holds services or replicas (its files are moved aside)")
    q.set_defaults(func=cmd_import)


def cmd_export(args: argparse.Namespace) -> int:
    from tui_orch.errors import TuiOrchError
    from tui_orch.store.files import atomic_write, open_dir
    from tui_orch.store.portable import export_state

    target = config.state_dir(getattr(args, "state", None))
    folder = getattr(target, "spec", None) or str(target)  # an etcd state: its URL with its options
    document, n = export_state(folder)
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    summary = f"{n['services']} services, {n['replicas']} replicas, {n['events']} events from {target}"
    if args.output == "-":
        sys.stdout.write(text)
        print(f"exported {summary}", file=sys.stderr)
        return 0
    try:
        dir_fd = open_dir(os.path.dirname(os.path.abspath(args.output)))
        try:
            atomic_write(os.path.abspath(args.output), text.encode(), dir_fd)  # 0600, durable
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise TuiOrchError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"exported {summary} to {args.output}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tui_orch.store.portable import counts, import_state, load_document

    from tui_orch.control.place import running
    from tui_orch.errors import StoreLocked, TuiOrchError

    target = config.state_dir(getattr(args, "state", None))
    folder = getattr(target, "spec", None) or str(target)  # an etcd state: its URL with its options
    document = load_document(args.file)
    try:
        aside = import_state(document, folder, source=args.file, force=args.force)
    except StoreLocked:
        info = running(os.fspath(target))
        if info is None:
            raise
        raise TuiOrchError(f"a controller runs for {folder} ({info.describe()}); stop it first (SIGTERM), "
                           f"import, then start it again") from None
    for path in aside:
        print(f"moved aside: {path}")
    n = counts(folder)
    print(f"imported {n['services']} services, {n['replicas']} replicas, {n['events']} events into {target}")
    return 0
