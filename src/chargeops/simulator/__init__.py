"""Simulated OCPP charging stations, for the demo and for load.

``run_fleet(FleetConfig(url=...), stop)`` connects a fleet that boots, heartbeats,
authorizes, charges with meter values and stops, until ``stop`` is set. Station
behaviour (``station.py``) is independent of the OCPP version; ``v16.py`` and ``v201.py``
wire it to OCPP 1.6J and 2.0.1 with the ``ocpp`` package's charge point side, and a fleet
speaks one of them or (``ocpp_version="mixed"``) both by turns.
"""

from chargeops.simulator.fleet import (
    MIXED,
    SUPPORTED_OCPP_VERSIONS,
    FleetConfig,
    default_id_tags,
    make_stations,
    run_fleet,
    run_station,
    station_ids,
)

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
