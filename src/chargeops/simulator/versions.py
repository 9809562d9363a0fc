"""The OCPP versions the simulator speaks (fleet.py wires one link per version)."""

SUPPORTED_OCPP_VERSIONS: tuple[str, ...] = ("1.6", "2.0.1")

#: The ``ocpp_version`` of a fleet whose stations take turns at the supported versions.
MIXED = "mixed"
