"""Volume homes in the store: where each replica's named volume holds its data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_orch.errors import StoreError
from tui_orch.model import VolumeHome
from tui_orch.store import open_store


def home(replica: str = "db.1", volume: str = "shop_data", node: str = "node1", since: float = 1.0) -> VolumeHome:
    return VolumeHome(replica, replica.split(".", 1)[0], volume, node, since)


def test_homes_persist_across_reopen_and_move(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    with open_store(folder) as s:
        s.set_volume_homes([home(), home(volume="shop_logs"), home("db.2", node="node2"), home("web.1", "x", "node3")])
        s.set_volume_home(home(node="node1", since=5.0))  # the same node again: kept as it was
    with open_store(folder, readonly=True) as s:
        assert s.volume_homes() == [home(), home(volume="shop_logs"), home("db.2", node="node2"), home("web.1", "x", "node3")]
        assert s.volume_homes("db", node="node2") == [home("db.2", node="node2")]
    with open_store(folder) as s:
        s.set_volume_home(home(node="node3", since=9.0))  # moved (volume move)
        assert s.volume_homes("db", node="node3") == [home(node="node3", since=9.0)]
        assert s.forget_volume_home("db.1", "shop_logs") == 1
        assert s.forget_volume_home("db.2") == 1 and s.forget_volume_home("db.2") == 0
    with open_store(folder) as s:
        assert s.volume_homes() == [home(node="node3", since=9.0), home("web.1", "x", "node3")]


def test_a_home_recorded_twice_is_a_corrupt_file(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    with open_store(folder) as s:
        s.set_volume_home(home())
    data = json.loads((folder / "observed.json").read_text())
    data["volume_homes"]["2"] = data["volume_homes"]["1"]
    (folder / "observed.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match="corrupt"):
        open_store(folder)


def test_the_store_refuses_what_is_not_a_home(tmp_path: Path) -> None:
    with open_store(tmp_path / "state") as s, pytest.raises(TypeError):
        s.set_volume_home(("db.1", "node1"))  # type: ignore[arg-type]
