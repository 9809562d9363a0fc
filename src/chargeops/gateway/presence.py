"""Which connection serves which station, and when each station was last heard from.

Only one connection per station: a station that reconnects replaces its old connection
(the old socket may be half-dead behind a NAT). Last-seen times are kept in memory and
written in one statement periodically, rather than one UPDATE per message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

C = TypeVar("C")


class Presence(Generic[C]):
    def __init__(self) -> None:
        self._connections: dict[str, C] = {}
        self._seen: dict[str, datetime] = {}

    def attach(self, station_id: str, connection: C) -> C | None:
        """Make ``connection`` the station's; return the one it replaces, if any."""
        old = self._connections.get(station_id)
        self._connections[station_id] = connection
        return old

    def detach(self, station_id: str, connection: C) -> bool:
        """Forget ``connection``; False if a newer connection already took its place."""
        if self._connections.get(station_id) is connection:
            del self._connections[station_id]
            return True
        return False

    def get(self, station_id: str) -> C | None:
        return self._connections.get(station_id)

    def __len__(self) -> int:
        return len(self._connections)

    def connections(self) -> list[C]:
        return list(self._connections.values())

    def seen(self, station_id: str, at: datetime) -> None:
        self._seen[station_id] = at

    def take_seen(self) -> dict[str, datetime]:
        seen, self._seen = self._seen, {}
        return seen
