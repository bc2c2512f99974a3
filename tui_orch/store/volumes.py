"""Where data lives: the node on which each named volume of each replica holds its data
(observed.json, table ``volume_homes``).

A home is set when a replica's container is created on a node with a named volume mounted
(the controller), or when the data is moved (``tui-orch volume move``); it is forgotten only
when the data is removed or moved, never because a node is away: a replica whose data is on a
node that is gone waits for it rather than starting empty elsewhere (placement pins it).
"""

from __future__ import annotations

from collections.abc import Iterable

from tui_orch.model import VolumeHome, from_dict, to_dict
from tui_orch.store.base import OBSERVED, StoreBase, _reader, _replace_with
from tui_orch.store.records import VOLUME_HOMES


class VolumesMixin(StoreBase):
    def set_volume_home(self, home: VolumeHome) -> None:
        """Record (or change) where ``home.volume`` of replica ``home.replica`` keeps its data."""
        self.set_volume_homes([home])

    def set_volume_homes(self, homes: Iterable[VolumeHome]) -> None:
        """``set_volume_home`` for several, in one durable write. A home already recorded on the
        same node keeps its ``since``."""
        with self.transaction():
            for home in homes:
                if not isinstance(home, VolumeHome):
                    raise TypeError(f"expected a VolumeHome, got {type(home).__name__}")
                key = (home.replica, home.volume)
                doc_id = self._o.volume_home_ids.get(key)
                if doc_id is not None and self._raw(OBSERVED, VOLUME_HOMES, doc_id)["node"] == home.node:
                    continue
                t = self._table(OBSERVED, VOLUME_HOMES)
                if doc_id is None:
                    self._o.volume_home_ids[key] = t.insert(to_dict(home))
                else:
                    t.update(_replace_with(to_dict(home)), doc_ids=[doc_id])

    def forget_volume_home(self, replica: str, volume: str | None = None) -> int:
        """Forget where replica ``replica`` keeps ``volume`` (None: all its volumes); returns
        how many homes were forgotten."""
        with self.transaction():
            keys = [k for k in self._o.volume_home_ids if k[0] == replica and (volume is None or k[1] == volume)]
            doc_ids = [self._o.volume_home_ids.pop(k) for k in keys]
            if doc_ids:
                self._table(OBSERVED, VOLUME_HOMES).remove(doc_ids=doc_ids)
        return len(doc_ids)

    @_reader
    def volume_homes(self, service: str | None = None, node: str | None = None) -> list[VolumeHome]:
        """The recorded homes (of one service, on one node), ordered by replica then volume."""
        out = []
        for key in sorted(self._o.volume_home_ids):
            doc = self._raw(OBSERVED, VOLUME_HOMES, self._o.volume_home_ids[key])
            if (service is None or doc["service"] == service) and (node is None or doc["node"] == node):
                out.append(from_dict(VolumeHome, doc))
        return out


__all__ = ["VolumesMixin"]
