"""What operators ask chargers to do, in words that belong to no OCPP version.

The commands domain records a request; the gateway hands it to the station's connection,
whose protocol adapter turns it into that version's CALL and its answer back into a
:class:`CommandAnswer`. Arguments are plain JSON values, checked by the adapter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from chargeops.core.charging import ReportedVariable


class CommandName(enum.StrEnum):
    START_SESSION = "start_session"
    STOP_SESSION = "stop_session"
    RESET = "reset"
    UNLOCK_CONNECTOR = "unlock_connector"
    CHANGE_AVAILABILITY = "change_availability"
    GET_CONFIGURATION = "get_configuration"
    CHANGE_CONFIGURATION = "change_configuration"
    TRIGGER_MESSAGE = "trigger_message"
    CLEAR_CACHE = "clear_cache"
    DATA_TRANSFER = "data_transfer"
    UPDATE_FIRMWARE = "update_firmware"
    GET_DIAGNOSTICS = "get_diagnostics"
    RESERVE_NOW = "reserve_now"
    CANCEL_RESERVATION = "cancel_reservation"
    SEND_LOCAL_LIST = "send_local_list"
    GET_LOCAL_LIST_VERSION = "get_local_list_version"
    SET_CHARGING_PROFILE = "set_charging_profile"
    CLEAR_CHARGING_PROFILE = "clear_charging_profile"
    GET_COMPOSITE_SCHEDULE = "get_composite_schedule"


class CommandStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, not yet sent
    SENT = "sent"  # the CALL went out; no answer yet
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the charger answered, and said no
    FAILED = "failed"  # a CALLERROR, or we could not send it
    TIMEOUT = "timeout"  # no answer in time
    STATION_OFFLINE = "station_offline"

    @property
    def final(self) -> bool:
        return self not in (CommandStatus.PENDING, CommandStatus.SENT)


@dataclass(frozen=True, slots=True)
class CommandRequest:
    name: CommandName
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    """How a command ended, with what the charger said (its answer payload, or the error)."""

    status: CommandStatus
    response: dict[str, Any] | None = None  # None: the station said nothing
    detail: str | None = None  # for people: why it failed, what to do
    # configuration the answer told us (GetConfiguration, GetVariables, an accepted change)
    variables: tuple[ReportedVariable, ...] = ()
