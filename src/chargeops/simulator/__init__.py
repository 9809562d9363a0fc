"""Simulated OCPP charging stations, for the demo and for load.

``run_fleet(FleetConfig(url=...), stop)`` connects a fleet that boots, heartbeats,
authorizes, charges with meter values and stops, until ``stop`` is set. Station
behaviour (``station.py``) is independent of the OCPP version; ``v16.py`` and ``v201.py``
wire it to OCPP 1.6J and 2.0.1 with the ``ocpp`` package's charge point side, and a fleet
speaks one of them or (``ocpp_version="mixed"``) both by turns.

The fleet, and the ``ocpp`` package under it, is imported on first use of one of its
names: the CLI names the versions in every command's help without paying for it.
"""

from typing import TYPE_CHECKING, Any

from chargeops.simulator.versions import MIXED, SUPPORTED_OCPP_VERSIONS

if TYPE_CHECKING:
    from chargeops.simulator.fleet import (
        FleetConfig,
        default_id_tags,
        make_stations,
        run_fleet,
        run_station,
        station_ids,
    )

_FROM_FLEET = frozenset(
    {"FleetConfig", "default_id_tags", "make_stations", "run_fleet", "run_station", "station_ids"}
)


def __getattr__(name: str) -> Any:
    if name in _FROM_FLEET:
        from chargeops.simulator import fleet

        return getattr(fleet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MIXED",
    "SUPPORTED_OCPP_VERSIONS",
    "FleetConfig",
    "default_id_tags",
    "make_stations",
    "run_fleet",
    "run_station",
    "station_ids",
]
