"""CALLERROR codes, and the exception that carries one to the edge of a charger session."""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    """OCPP-J RPC error codes, by meaning. The values are the 1.6 spellings; an adapter's
    ``error_code`` turns a code into its version's word (2.0.1 renamed some)."""

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
    # the frame is not an OCPP-J RPC frame at all (2.0.1: RpcFrameworkError)
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"
    # a message type number other than 2, 3 and 4 (2.0.1: MessageTypeNotSupported)
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"


class CallError(Exception):
    """Raised while handling a CALL: the charger gets a CALLERROR with this code."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}
