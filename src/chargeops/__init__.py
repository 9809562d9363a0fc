"""chargeops: an EV charging network management platform (CSMS) for OCPP chargers."""

__version__ = "0.1.0"
