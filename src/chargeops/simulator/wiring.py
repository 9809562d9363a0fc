"""What the OCPP wirings of the simulator (``v16.py``, ``v201.py``) have in common.

Both sit on the ``ocpp`` package's charge point side, which is untyped, logs chattily and
reports a CALLERROR as an exception of its own; the helpers here give its decorators
types, quieten its logging for a fleet, and turn its errors into the station's
:class:`~chargeops.simulator.station.CsmsCallError`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on

from chargeops.simulator.profiles import ChargingProfile, Kind, Period, Purpose, RateUnit
from chargeops.simulator.station import CsmsCallError, utcnow

Handler = TypeVar("Handler", bound=Callable[..., Any])


def on_action(action: str) -> Callable[[Handler], Handler]:
    """The ``ocpp`` package's ``@on``, typed so handlers keep their signatures."""
    decorator: Callable[[Handler], Handler] = on(action)
    return decorator


def after_action(action: str) -> Callable[[Handler], Handler]:
    """The ``ocpp`` package's ``@after``: runs once the answer has been sent."""
    decorator: Callable[[Handler], Handler] = after(action)
    return decorator


def format_timestamp(moment: datetime) -> str:
    """OCPP timestamps: UTC with a ``Z``, millisecond precision."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def parse_timestamp(text: str) -> datetime:
    """An OCPP timestamp from the CSMS; one without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def optional_timestamp(text: str | None) -> datetime | None:
    return parse_timestamp(text) if text else None


class _FrameLogger(logging.LoggerAdapter[logging.Logger]):
    """Tones down the ``ocpp`` package's logging to fit a fleet.

    It logs every frame at INFO (DEBUG material at fleet scale), and an ERROR with a
    traceback for each command the station has no handler for, although it has answered
    it with a CALLERROR: a warning with the reason says enough, the traceback goes to DEBUG.
    """

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.warning(f"{msg}: %s", *args, sys.exception())
        self.debug("traceback of the above", exc_info=True)


#: The logger every wiring hands to its ``ocpp`` ChargePoint.
frame_logger = _FrameLogger(logging.getLogger("chargeops.simulator.frames"))


async def send_call(point: Any, payload: Any, validate: bool) -> Any:
    """Send ``payload`` as a CALL on the ``ocpp`` ChargePoint ``point`` and return the answer.

    A CALLERROR, or an answer that fails schema validation, becomes a
    :class:`CsmsCallError` named after the message; transport errors pass through.
    """
    try:
        return await point.call(payload, suppress=False, skip_schema_validation=not validate)
    except OCPPError as exc:
        code = getattr(exc, "code", type(exc).__name__)
        raise CsmsCallError(type(payload).__name__, code, str(exc.description)) from exc


def charging_profile(
    profile: dict[str, Any],
    schedule: dict[str, Any],
    *,
    profile_id: int,
    purpose: Purpose,
    connector_id: int,
    transaction_id: str | None,
) -> ChargingProfile:
    """A profile from the fields 1.6 and 2.0.1 name alike (in the ``ocpp`` package's
    snake_case); the wiring reads the id, purpose and transaction in its own words."""
    periods = sorted(
        (
            Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
            for p in schedule["charging_schedule_period"]
        ),
        key=lambda p: p.start_s,
    )
    return ChargingProfile(
        profile_id=profile_id,
        connector_id=connector_id,
        stack_level=int(profile["stack_level"]),
        purpose=purpose,
        kind=Kind(profile["charging_profile_kind"]),
        unit=RateUnit(schedule["charging_rate_unit"]),
        periods=tuple(periods),
        received_at=utcnow(),
        start_schedule=optional_timestamp(schedule.get("start_schedule")),
        duration_s=schedule.get("duration"),
        recurrency=profile.get("recurrency_kind"),
        valid_from=optional_timestamp(profile.get("valid_from")),
        valid_to=optional_timestamp(profile.get("valid_to")),
        transaction_id=transaction_id,
    )
