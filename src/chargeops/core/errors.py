"""One hierarchy of errors, mapped once at each edge.

::

    ChargeOpsError            (500) something we did not expect
    ├── InvalidInput          (422) the caller sent something we cannot accept
    ├── NotFound              (404) the thing asked for does not exist
    ├── Conflict              (409) the request clashes with what is stored
    ├── TooLarge              (413) an upload over the size limit
    ├── TooManyAttempts       (429) too many failed logins: locked for a while
    ├── Forbidden             (403) the caller's roles do not allow it
    ├── Unauthorized          (401) no valid credentials
    └── DeliveryFailed        (502) an SMTP server, webhook or SMS gateway did not take a
                                    message (``retryable`` says whether trying later may help)

The HTTP layer renders these as problem documents, the CLI as a one-line message and a
non-zero exit, and the OCPP layer keeps its own CALLERROR codes (protocol/errors.py).
"""

from __future__ import annotations


class ChargeOpsError(Exception):
    """Base of every error chargeops raises on purpose."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ChargeOpsError):
    status = 422
    title = "Invalid input"


class NotFound(ChargeOpsError):
    status = 404
    title = "Not found"


class Conflict(ChargeOpsError):
    status = 409
    title = "Conflict"


class TooLarge(ChargeOpsError):
    status = 413
    title = "Too large"


class TooManyAttempts(ChargeOpsError):
    status = 429
    title = "Too many attempts"


class Forbidden(ChargeOpsError):
    """Authenticated, but the caller's roles do not allow this."""

    status = 403
    title = "Forbidden"


class Unauthorized(ChargeOpsError):
    status = 401
    title = "Unauthorized"


class DeliveryFailed(ChargeOpsError):
    """Another system did not accept what we sent. ``retryable`` is False when sending
    the same again cannot succeed (a refused address, a 4xx answer), so callers stop."""

    status = 502
    title = "Delivery failed"

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable
