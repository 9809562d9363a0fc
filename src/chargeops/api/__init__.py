"""The HTTP API (``/api/v1``), health and metrics."""

from chargeops.api.app import create_app

__all__ = ["create_app"]
