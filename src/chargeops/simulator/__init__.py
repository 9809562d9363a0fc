"""Simulated OCPP charging stations, for the demo and for load.

``run_fleet(FleetConfig(url=...), stop)`` connects a fleet that boots, heartbeats,
authorizes, charges with meter values and stops, until ``stop`` is set. Station
behaviour (``station.py``) is independent of the OCPP version; ``v16.py`` wires it to
OCPP 1.6J with the ``ocpp`` package's charge point side.
"""

from chargeops.simulator.fleet import (
    SUPPORTED_OCPP_VERSIONS,
    FleetConfig,
    default_id_tags,
    make_stations,
    run_fleet,
    run_station,
    station_ids,
)

__all__ = [
    "SUPPORTED_OCPP_VERSIONS",
    "FleetConfig",
    "default_id_tags",
    "make_stations",
    "run_fleet",
    "run_station",
    "station_ids",
]
