"""Where things live: state folder, config folder, inventory. Flags beat environment
variables, which beat the platform's user folders (platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from tui_orch.inventory import Inventory, default_inventory, load_inventory

if TYPE_CHECKING:
    from tui_orch.store.target import EtcdTarget

APP = "tui-orch"


def state_dir(flag: str | None = None) -> "Path | EtcdTarget":
    """--state DIR|etcd://..., else $TUI_ORCH_STATE, else the user state dir. An etcd target's
    ``os.fspath``/``str`` is this machine's folder for it (controller socket, info)."""
    from tui_orch.store import default_state_dir, state_target

    return state_target(flag) if flag else default_state_dir()


def config_dir() -> Path:
    value = os.environ.get("TUI_ORCH_CONFIG")
    return Path(value).expanduser() if value else Path(platformdirs.user_config_dir(APP))


def inventory_path(flag: str | None = None) -> Path | None:
    """--inventory FILE, else $TUI_ORCH_INVENTORY, else CONFIG/nodes.yaml if it exists."""
    value = flag or os.environ.get("TUI_ORCH_INVENTORY")
    if value:
        return Path(value).expanduser()
    default = config_dir() / "nodes.yaml"
    return default if default.exists() else None


def load(flag: str | None = None) -> Inventory:
    path = inventory_path(flag)
    return load_inventory(path) if path else default_inventory()
