"""OCPP 2.0.1 wiring of the simulated station, on the ``ocpp`` package's charge point side.

The station's connectors become EVSEs: simulator connector ``n`` is EVSE ``n`` with a
single connector 1. The differences from 1.6 that shape this module:

- the charger names its transactions (a UUID) and reports them with TransactionEvent
  Started / Updated / Ended, numbered by a ``seqNo`` that starts at 0 per transaction;
- sampled values are numbers with a ``unitOfMeasure``;
- id tokens are typed, configuration is a device model (Get/SetVariables), and the
  station as a whole has no StatusNotification of its own.

Transaction numbering outlives a connection: after a reconnect a Started or Ended that got
no answer is sent again with the same transaction id and ``seqNo``, and Updated events go
on from where they were. That bookkeeping lives in a :class:`_Ledger` per station, kept
beside the station rather than in the link, which lasts one connection only.

As in ``v16.py``, handlers never await a call to the CSMS: they change the station's
state and return the answer; the station's own tasks send whatever follows.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import (
    Action,
    AttributeEnumType,
    AuthorizationStatusEnumType,
    BootReasonEnumType,
    ChangeAvailabilityStatusEnumType,
    ChargingStateEnumType,
    ClearCacheStatusEnumType,
    ConnectorStatusEnumType,
    DataTransferStatusEnumType,
    GetVariableStatusEnumType,
    IdTokenEnumType,
    LocationEnumType,
    MeasurandEnumType,
    MessageTriggerEnumType,
    OperationalStatusEnumType,
    ReadingContextEnumType,
    ReasonEnumType,
    RegistrationStatusEnumType,
    RequestStartStopStatusEnumType,
    ResetEnumType,
    ResetStatusEnumType,
    SetVariableStatusEnumType,
    TransactionEventEnumType,
    TriggerMessageStatusEnumType,
    TriggerReasonEnumType,
    UnlockStatusEnumType,
)

from chargeops.simulator.meter import MeterSample, ReadingContext
from chargeops.simulator.station import (
    BootResult,
    BootStatus,
    CommandStatus,
    Connector,
    ConnectorStatus,
    CsmsCallError,
    StartResult,
    Station,
    StationSpec,
    StopReason,
    TriggerKind,
)
from chargeops.simulator.v16 import MEASURANDS
from chargeops.simulator.wiring import (
    after_action,
    format_timestamp,
    frame_logger,
    on_action,
    send_call,
)

SUBPROTOCOL = "ocpp2.0.1"

#: Every simulated EVSE has one connector, and this is its number.
CONNECTOR_ID = 1

#: The token type the simulated drivers present (their tags stand for RFID cards).
TOKEN_TYPE = IdTokenEnumType.iso14443

#: 1.6 connector statuses (the station's vocabulary) in 2.0.1 words.
_STATUSES = {
    "Available": ConnectorStatusEnumType.available,
    "Preparing": ConnectorStatusEnumType.occupied,
    "Charging": ConnectorStatusEnumType.occupied,
    "SuspendedEV": ConnectorStatusEnumType.occupied,
    "SuspendedEVSE": ConnectorStatusEnumType.occupied,
    "Finishing": ConnectorStatusEnumType.occupied,
    "Reserved": ConnectorStatusEnumType.reserved,
    "Unavailable": ConnectorStatusEnumType.unavailable,
    "Faulted": ConnectorStatusEnumType.faulted,
}

#: For each way a transaction ends: what triggered the Ended event, and the reason given.
_ENDINGS: dict[StopReason, tuple[TriggerReasonEnumType, ReasonEnumType]] = {
    StopReason.EV_DISCONNECTED: (
        TriggerReasonEnumType.ev_communication_lost,
        ReasonEnumType.ev_disconnected,
    ),
    StopReason.LOCAL: (TriggerReasonEnumType.stop_authorized, ReasonEnumType.local),
    StopReason.REMOTE: (TriggerReasonEnumType.remote_stop, ReasonEnumType.remote),
    StopReason.SOFT_RESET: (TriggerReasonEnumType.reset_command, ReasonEnumType.reboot),
    StopReason.HARD_RESET: (TriggerReasonEnumType.reset_command, ReasonEnumType.immediate_reset),
    StopReason.UNLOCK_COMMAND: (TriggerReasonEnumType.unlock_command, ReasonEnumType.other),
    StopReason.DE_AUTHORIZED: (TriggerReasonEnumType.deauthorized, ReasonEnumType.de_authorized),
}

_TRIGGERS = {
    MessageTriggerEnumType.boot_notification: TriggerKind.BOOT_NOTIFICATION,
    MessageTriggerEnumType.heartbeat: TriggerKind.HEARTBEAT,
    MessageTriggerEnumType.status_notification: TriggerKind.STATUS_NOTIFICATION,
    MessageTriggerEnumType.meter_values: TriggerKind.METER_VALUES,
}


def connector_status(status: ConnectorStatus | str) -> ConnectorStatusEnumType:
    """A connector status in 2.0.1 words: every state with a car plugged in is Occupied."""
    return _STATUSES[str(status)]


def token(id_tag: str, token_type: str = TOKEN_TYPE) -> dict[str, str]:
    """An IdTokenType for a driver's tag."""
    return {"id_token": id_tag, "type": token_type}


def _sampled(
    value: float, context: str, measurand: str, unit: str, location: str
) -> dict[str, Any]:
    return {
        "value": value,
        "context": context,
        "measurand": measurand,
        "location": location,
        "unit_of_measure": {"unit": unit},
    }


def meter_value(sample: MeterSample) -> dict[str, Any]:
    """A 2.0.1 MeterValue: the register in whole Wh, then power, current, voltage and SoC,
    as numbers with their unit."""
    context = ReadingContextEnumType(sample.context.value)
    outlet = LocationEnumType.outlet
    readings: list[tuple[float, MeasurandEnumType, str, LocationEnumType]] = [
        (sample.energy_wh, MeasurandEnumType.energy_active_import_register, "Wh", outlet),
        (round(sample.power_w), MeasurandEnumType.power_active_import, "W", outlet),
        (round(sample.current_a, 1), MeasurandEnumType.current_import, "A", outlet),
        (round(sample.voltage_v, 1), MeasurandEnumType.voltage, "V", outlet),
    ]
    if sample.soc_percent is not None:
        readings.append(
            (round(sample.soc_percent), MeasurandEnumType.soc, "Percent", LocationEnumType.ev)
        )
    return {
        "timestamp": format_timestamp(sample.timestamp),
        "sampled_value": [
            _sampled(value, context, measurand, unit, location)
            for value, measurand, unit, location in readings
        ],
    }


def _register_value(energy_wh: int, timestamp: datetime, context: ReadingContext) -> dict[str, Any]:
    """A MeterValue with the energy register alone (the start reading has nothing else)."""
    return {
        "timestamp": format_timestamp(timestamp),
        "sampled_value": [
            _sampled(
                energy_wh,
                ReadingContextEnumType(context.value),
                MeasurandEnumType.energy_active_import_register,
                "Wh",
                LocationEnumType.outlet,
            )
        ],
    }


# ------------------------------------------------------------------ per-station ledger


@dataclass(slots=True)
class _Transaction:
    """One transaction the station named, and the ``seqNo`` of its events."""

    transaction_id: str
    evse_id: int
    started_at: datetime
    token: dict[str, str]
    remote_start_id: int | None
    next_seq_no: int = 1
    #: Fixed at the first attempt, so a resent Ended keeps its number.
    ended_seq_no: int | None = None

    def take_seq_no(self) -> int:
        seq_no = self.next_seq_no
        self.next_seq_no += 1
        return seq_no


@dataclass(slots=True)
class _RemoteStart:
    """A RequestStartTransaction the station accepted, waiting for its transaction."""

    remote_start_id: int
    token: dict[str, str]


@dataclass(slots=True)
class _Ledger:
    """What a 2.0.1 station remembers from one connection to the next."""

    by_evse: dict[int, _Transaction] = field(default_factory=dict)
    by_id: dict[str, _Transaction] = field(default_factory=dict)
    remote_starts: dict[int, _RemoteStart] = field(default_factory=dict)
    boot_reason: BootReasonEnumType = BootReasonEnumType.power_up

    def forget(self, transaction: _Transaction) -> None:
        self.by_id.pop(transaction.transaction_id, None)
        if self.by_evse.get(transaction.evse_id) is transaction:
            del self.by_evse[transaction.evse_id]


_LEDGERS: weakref.WeakKeyDictionary[Station, _Ledger] = weakref.WeakKeyDictionary()


def _ledger(station: Station) -> _Ledger:
    ledger = _LEDGERS.get(station)
    if ledger is None:
        ledger = _LEDGERS[station] = _Ledger()
    return ledger


# ------------------------------------------------------------------------ device model


@dataclass(frozen=True, slots=True)
class _Variable:
    """A device model variable: how to read it, and how to apply a valid value if writable."""

    read: Callable[[Station], str]
    write: Callable[[Station, float], None] | None = None


#: The device model the simulator reports, as (component, variable) -> variable.
_DEVICE_MODEL: dict[tuple[str, str], _Variable] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): _Variable(
        lambda s: f"{s.heartbeat_interval_s:g}", Station.set_heartbeat_interval
    ),
    ("SampledDataCtrlr", "TxUpdatedInterval"): _Variable(
        lambda s: f"{s.meter_interval_s:g}", Station.set_meter_interval
    ),
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): _Variable(lambda s: MEASURANDS),
    ("SampledDataCtrlr", "TxEndedMeasurands"): _Variable(lambda s: MEASURANDS),
    ("AuthCtrlr", "AuthorizeRemoteStart"): _Variable(lambda s: "false"),
    ("TxCtrlr", "TxStartPoint"): _Variable(lambda s: "Authorized"),
    ("TxCtrlr", "TxStopPoint"): _Variable(lambda s: "EVConnected,Authorized"),
    ("SecurityCtrlr", "Identity"): _Variable(lambda s: s.station_id),
}
_COMPONENTS = frozenset(component for component, _ in _DEVICE_MODEL)


def _lookup(
    component: dict[str, Any], variable: dict[str, Any], attribute_type: str | None
) -> tuple[_Variable | None, str | None]:
    """The variable addressed, or None with the status that says why it is not there."""
    name = component.get("name")
    if name not in _COMPONENTS or "evse" in component or "instance" in component:
        return None, "UnknownComponent"
    known = _DEVICE_MODEL.get((name, variable.get("name", "")))
    if known is None or "instance" in variable:
        return None, "UnknownVariable"
    if attribute_type not in (None, AttributeEnumType.actual):
        return None, "NotSupportedAttributeType"
    return known, None


def _addressed(item: dict[str, Any]) -> tuple[dict[str, Any], _Variable | None]:
    """The start of a Get/SetVariables result for ``item``, and the variable it names;
    when there is none, the result already says why."""
    attribute_type = item.get("attribute_type")
    result: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
    if attribute_type is not None:
        result["attribute_type"] = attribute_type
    known, problem = _lookup(item["component"], item["variable"], attribute_type)
    if known is None:
        result["attribute_status"] = problem
    return result, known


def _positive_seconds(text: str) -> float | None:
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


# ----------------------------------------------------------------------------- link


class V201Link(ChargePoint):  # type: ignore[misc]  # the ocpp package is untyped
    """One station's OCPP 2.0.1 connection: the station's :class:`CsmsLink` for 2.0.1."""

    def __init__(
        self, station: Station, connection: Any, response_timeout_s: float, validate: bool
    ) -> None:
        super().__init__(
            station.station_id,
            connection,
            response_timeout=response_timeout_s,
            logger=frame_logger,
        )
        self._station = station
        self._validate = validate
        self._ledger = _ledger(station)

    async def serve(self) -> None:
        """Read and dispatch frames until the connection closes (then raise its error)."""
        await self.start()

    async def _call(self, payload: Any) -> Any:
        """Send a CALL; a CALLERROR or invalid answer becomes a :class:`CsmsCallError`."""
        return await send_call(self, payload, self._validate)

    def _connector(self, evse_id: int) -> Connector | None:
        connectors = self._station.connectors
        return connectors[evse_id - 1] if 1 <= evse_id <= len(connectors) else None

    # ------------------------------------------------------------ CsmsLink

    async def boot(self, spec: StationSpec) -> BootResult:
        """BootNotification; the reason is PowerUp unless a Reset or a trigger caused it."""
        result = await self._call(
            call.BootNotification(
                charging_station={
                    "vendor_name": spec.vendor,
                    "model": spec.model,
                    "serial_number": spec.serial_number,
                    "firmware_version": spec.firmware_version,
                },
                reason=self._ledger.boot_reason,
            )
        )
        status = {
            RegistrationStatusEnumType.accepted: BootStatus.ACCEPTED,
            RegistrationStatusEnumType.pending: BootStatus.PENDING,
        }.get(result.status, BootStatus.REJECTED)
        if status is BootStatus.ACCEPTED:
            self._ledger.boot_reason = BootReasonEnumType.power_up
        return BootResult(status=status, interval_s=int(result.interval))

    async def heartbeat(self) -> None:
        """Heartbeat; the CSMS's time in the answer is not used."""
        await self._call(call.Heartbeat())

    async def status(self, connector_id: int, status: ConnectorStatus) -> None:
        """StatusNotification for EVSE ``connector_id``, connector 1.

        2.0.1 has no status for the station as a whole (1.6's connector 0): nothing is sent.
        """
        if connector_id == 0:
            return
        await self._call(
            call.StatusNotification(
                timestamp=format_timestamp(datetime.now(UTC)),
                connector_status=connector_status(status),
                evse_id=connector_id,
                connector_id=CONNECTOR_ID,
            )
        )

    async def authorize(self, id_tag: str) -> bool:
        """Authorize; only Accepted lets the session go on."""
        result = await self._call(call.Authorize(id_token=token(id_tag)))
        return bool(result.id_token_info.get("status") == AuthorizationStatusEnumType.accepted)

    async def start_transaction(
        self, connector_id: int, id_tag: str, meter_start_wh: int, timestamp: datetime
    ) -> StartResult:
        """TransactionEvent Started, seqNo 0, for a transaction the station names itself.

        The same start sent again (after a reconnect) keeps its transaction id. A token
        the CSMS does not accept here is reported as not accepted; no idTokenInfo in the
        answer means the CSMS has nothing against it.
        """
        ledger = self._ledger
        transaction = ledger.by_evse.get(connector_id)
        if transaction is None or transaction.started_at != timestamp:
            remote = ledger.remote_starts.pop(connector_id, None)
            if remote is not None and remote.token["id_token"] != id_tag:
                remote = None
            transaction = _Transaction(
                transaction_id=str(uuid.uuid4()),
                evse_id=connector_id,
                started_at=timestamp,
                token=remote.token if remote is not None else token(id_tag),
                remote_start_id=remote.remote_start_id if remote is not None else None,
            )
            ledger.by_evse[connector_id] = transaction
            ledger.by_id[transaction.transaction_id] = transaction
        info: dict[str, Any] = {
            "transaction_id": transaction.transaction_id,
            "charging_state": ChargingStateEnumType.charging,
        }
        remote_start = transaction.remote_start_id is not None
        if remote_start:
            info["remote_start_id"] = transaction.remote_start_id
        result = await self._call(
            call.TransactionEvent(
                event_type=TransactionEventEnumType.started,
                timestamp=format_timestamp(timestamp),
                trigger_reason=TriggerReasonEnumType.remote_start
                if remote_start
                else TriggerReasonEnumType.authorized,
                seq_no=0,
                transaction_info=info,
                evse={"id": connector_id, "connector_id": CONNECTOR_ID},
                id_token=transaction.token,
                meter_value=[
                    _register_value(meter_start_wh, timestamp, ReadingContext.TRANSACTION_BEGIN)
                ],
            )
        )
        token_info = result.id_token_info
        accepted = token_info is None or (
            token_info.get("status") == AuthorizationStatusEnumType.accepted
        )
        return StartResult(transaction_id=transaction.transaction_id, accepted=accepted)

    def _transaction(self, transaction_id: str, connector_id: int, at: datetime) -> _Transaction:
        """The ledger's record of a transaction (recreated if it was somehow lost)."""
        transaction = self._ledger.by_id.get(transaction_id)
        if transaction is None:
            transaction = _Transaction(transaction_id, connector_id, at, {}, None)
            self._ledger.by_id[transaction_id] = transaction
        return transaction

    async def meter_values(
        self, connector_id: int, transaction_id: str | None, sample: MeterSample
    ) -> None:
        """TransactionEvent Updated while charging; MeterValues between sessions and when
        the CSMS asked for them with TriggerMessage."""
        if transaction_id is None or sample.context is ReadingContext.TRIGGER:
            await self._call(
                call.MeterValues(evse_id=connector_id, meter_value=[meter_value(sample)])
            )
            return
        transaction = self._transaction(transaction_id, connector_id, sample.timestamp)
        await self._call(
            call.TransactionEvent(
                event_type=TransactionEventEnumType.updated,
                timestamp=format_timestamp(sample.timestamp),
                trigger_reason=TriggerReasonEnumType.meter_value_periodic,
                seq_no=transaction.take_seq_no(),
                transaction_info={
                    "transaction_id": transaction_id,
                    "charging_state": ChargingStateEnumType.charging,
                },
                meter_value=[meter_value(sample)],
            )
        )

    async def stop_transaction(
        self,
        transaction_id: str,
        id_tag: str,
        meter_stop_wh: int,
        timestamp: datetime,
        reason: StopReason,
        sample: MeterSample,
    ) -> None:
        """TransactionEvent Ended with the final reading; the driver's token when they stop it."""
        transaction = self._transaction(transaction_id, 0, timestamp)
        if transaction.ended_seq_no is None:
            transaction.ended_seq_no = transaction.take_seq_no()
        trigger, stopped_reason = _ENDINGS[reason]
        unplugged = reason is StopReason.EV_DISCONNECTED
        payload = call.TransactionEvent(
            event_type=TransactionEventEnumType.ended,
            timestamp=format_timestamp(timestamp),
            trigger_reason=trigger,
            seq_no=transaction.ended_seq_no,
            transaction_info={
                "transaction_id": transaction_id,
                "charging_state": ChargingStateEnumType.idle
                if unplugged
                else ChargingStateEnumType.ev_connected,
                "stopped_reason": stopped_reason,
            },
            id_token=(transaction.token or token(id_tag)) if reason is StopReason.LOCAL else None,
            meter_value=[meter_value(replace(sample, energy_wh=meter_stop_wh))],
        )
        try:
            await self._call(payload)
        except CsmsCallError:
            self._ledger.forget(transaction)  # the station does not send it again
            raise
        self._ledger.forget(transaction)

    # ------------------------------------------------------ CSMS commands

    @on_action(Action.request_start_transaction)
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        """Start without a local Authorize (AuthorizeRemoteStart is false).

        The remote start id and the token as the CSMS typed it go into the Started event.
        """
        tag = str(id_token["id_token"])
        accepted = self._station.remote_start(tag, evse_id) is CommandStatus.ACCEPTED
        if accepted:
            chosen = [evse_id] if evse_id is not None else []
            chosen += [
                c.connector_id
                for c in self._station.connectors
                if c.remote_id_tag == tag and c.connector_id not in self._ledger.remote_starts
            ]
            if chosen:
                token = {"id_token": tag, "type": str(id_token["type"])}
                self._ledger.remote_starts[chosen[0]] = _RemoteStart(remote_start_id, token)
        return call_result.RequestStartTransaction(
            status=RequestStartStopStatusEnumType.accepted
            if accepted
            else RequestStartStopStatusEnumType.rejected
        )

    @on_action(Action.request_stop_transaction)
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        """Stop a charging transaction with reason Remote."""
        accepted = self._station.remote_stop(transaction_id) is CommandStatus.ACCEPTED
        return call_result.RequestStopTransaction(
            status=RequestStartStopStatusEnumType.accepted
            if accepted
            else RequestStartStopStatusEnumType.rejected
        )

    @on_action(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        """The whole station resets (an EVSE alone cannot); the reboot follows the answer.

        The simulator does not wait for idle: OnIdle, too, ends running transactions at
        once (reason Reboot; Immediate gives ImmediateReset).
        """
        if evse_id is not None:
            return call_result.Reset(status=ResetStatusEnumType.rejected)
        self._station.reset(hard=type == ResetEnumType.immediate)
        return call_result.Reset(status=ResetStatusEnumType.accepted)

    @after_action(Action.reset)
    def after_reset(self, type: str, evse_id: int | None = None, **_: Any) -> None:
        """Stop transactions, close, reconnect and boot again with reason RemoteReset."""
        if evse_id is not None:
            return
        self._ledger.boot_reason = BootReasonEnumType.remote_reset
        hard = type == ResetEnumType.immediate
        self._station.request_end(StopReason.HARD_RESET if hard else StopReason.SOFT_RESET)

    @on_action(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        """Unlocked; a connector with a transaction stays locked, as 2.0.1 asks."""
        connector = self._connector(evse_id)
        if connector is None or connector_id != CONNECTOR_ID:
            status = UnlockStatusEnumType.unknown_connector
        elif connector.transaction_id is not None:
            status = UnlockStatusEnumType.ongoing_authorized_transaction
        elif self._station.unlock(evse_id) is CommandStatus.ACCEPTED:
            status = UnlockStatusEnumType.unlocked
        else:
            status = UnlockStatusEnumType.unlock_failed
        return call_result.UnlockConnector(status=status)

    @on_action(Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        """The station (no EVSE, or EVSE 0) or one EVSE; Scheduled while it is in use."""
        evse_id = int(evse["id"]) if evse is not None else 0
        known_connector = evse is None or evse.get("connector_id", CONNECTOR_ID) == CONNECTOR_ID
        status = (
            self._station.change_availability(
                evse_id, operative=operational_status == OperationalStatusEnumType.operative
            )
            if known_connector
            else CommandStatus.REJECTED
        )
        return call_result.ChangeAvailability(
            status={
                CommandStatus.ACCEPTED: ChangeAvailabilityStatusEnumType.accepted,
                CommandStatus.SCHEDULED: ChangeAvailabilityStatusEnumType.scheduled,
            }.get(status, ChangeAvailabilityStatusEnumType.rejected)
        )

    @on_action(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        """Read the small device model; only the Actual attribute exists."""
        results = []
        for item in get_variable_data:
            result, known = _addressed(item)
            if known is not None:
                result["attribute_status"] = GetVariableStatusEnumType.accepted
                result["attribute_value"] = known.read(self._station)
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on_action(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        """The intervals are writable (positive seconds); the other variables are read-only."""
        results = []
        for item in set_variable_data:
            result, known = _addressed(item)
            if known is not None:
                seconds = _positive_seconds(str(item["attribute_value"]))
                if known.write is None or seconds is None:
                    result["attribute_status"] = SetVariableStatusEnumType.rejected
                else:
                    known.write(self._station, seconds)
                    result["attribute_status"] = SetVariableStatusEnumType.accepted
            results.append(result)
        return call_result.SetVariables(set_variable_result=results)

    @on_action(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        """Boot, heartbeat, status and meter values can be triggered; the rest is NotImplemented."""
        kind = _TRIGGERS.get(MessageTriggerEnumType(requested_message))
        if kind is None:
            return call_result.TriggerMessage(status=TriggerMessageStatusEnumType.not_implemented)
        connector_id = int(evse["id"]) if evse is not None else None
        accepted = self._station.trigger(kind, connector_id) is CommandStatus.ACCEPTED
        if accepted and kind is TriggerKind.BOOT_NOTIFICATION:
            self._ledger.boot_reason = BootReasonEnumType.triggered
        return call_result.TriggerMessage(
            status=TriggerMessageStatusEnumType.accepted
            if accepted
            else TriggerMessageStatusEnumType.rejected
        )

    @on_action(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        """There is no authorization cache to clear, so clearing always succeeds."""
        return call_result.ClearCache(status=ClearCacheStatusEnumType.accepted)

    @on_action(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        """The simulator knows no vendor extensions."""
        return call_result.DataTransfer(status=DataTransferStatusEnumType.unknown_vendor_id)
