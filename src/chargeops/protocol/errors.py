"""CALLERROR codes, and the exception that carries one to the edge of a charger session."""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    """OCPP-J RPC error codes (1.6 spellings; 2.0.1 adds its own in its adapter)."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # sic, as in 1.6
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class CallError(Exception):
    """Raised while handling a CALL: the charger gets a CALLERROR with this code."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}
