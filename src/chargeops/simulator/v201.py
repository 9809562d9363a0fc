"""OCPP 2.0.1 wiring of the simulated station, on the ``ocpp`` package's charge point side.

The station's connectors become EVSEs: simulator connector ``n`` is EVSE ``n`` with a
single connector 1. The differences from 1.6 that shape this module:

- the charger names its transactions (a UUID) and reports them with TransactionEvent
  Started / Updated / Ended, numbered by a ``seqNo`` that starts at 0 per transaction;
- sampled values are numbers with a ``unitOfMeasure``;
- id tokens are typed, configuration is a device model (Get/SetVariables, and the whole
  of it in NotifyReport parts after GetBaseReport), and the station as a whole has no
  StatusNotification of its own;
- requests that start a transfer or a report carry a ``requestId`` that every
  notification about them repeats.

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
    CancelReservationStatusEnumType,
    ChangeAvailabilityStatusEnumType,
    ChargingProfilePurposeEnumType,
    ChargingProfileStatusEnumType,
    ChargingRateUnitEnumType,
    ChargingStateEnumType,
    ClearCacheStatusEnumType,
    ClearChargingProfileStatusEnumType,
    ConnectorStatusEnumType,
    DataEnumType,
    DataTransferStatusEnumType,
    FirmwareStatusEnumType,
    GenericDeviceModelStatusEnumType,
    GenericStatusEnumType,
    GetVariableStatusEnumType,
    IdTokenEnumType,
    LocationEnumType,
    LogStatusEnumType,
    MeasurandEnumType,
    MessageTriggerEnumType,
    MutabilityEnumType,
    OperationalStatusEnumType,
    ReadingContextEnumType,
    ReasonEnumType,
    RegistrationStatusEnumType,
    ReportBaseEnumType,
    RequestStartStopStatusEnumType,
    ReservationUpdateStatusEnumType,
    ReserveNowStatusEnumType,
    ResetEnumType,
    ResetStatusEnumType,
    SendLocalListStatusEnumType,
    SetVariableStatusEnumType,
    TransactionEventEnumType,
    TriggerMessageStatusEnumType,
    TriggerReasonEnumType,
    UnlockStatusEnumType,
    UpdateEnumType,
    UpdateFirmwareStatusEnumType,
    UploadLogStatusEnumType,
)

from chargeops.simulator import transfers
from chargeops.simulator.local_list import ListEntry
from chargeops.simulator.meter import MeterSample, ReadingContext
from chargeops.simulator.profiles import ChargingProfile, Purpose, RateUnit
from chargeops.simulator.station import (
    BootReason,
    BootResult,
    BootStatus,
    CommandStatus,
    Connector,
    ConnectorStatus,
    CsmsCallError,
    Phase,
    Reservation,
    StartResult,
    Station,
    StationSpec,
    StopReason,
    TriggerKind,
    utcnow,
)
from chargeops.simulator.v16 import MAX_PERIODS, MAX_STACK_LEVEL, MEASURANDS
from chargeops.simulator.wiring import (
    after_action,
    charging_profile,
    format_timestamp,
    frame_logger,
    on_action,
    optional_timestamp,
    parse_timestamp,
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


_PURPOSES = {
    ChargingProfilePurposeEnumType.charging_station_max_profile: Purpose.STATION_MAX,
    ChargingProfilePurposeEnumType.tx_default_profile: Purpose.TX_DEFAULT,
    ChargingProfilePurposeEnumType.tx_profile: Purpose.TX,
}

_UPLOAD_STATUSES = {
    transfers.UploadStatus.UPLOADING: UploadLogStatusEnumType.uploading,
    transfers.UploadStatus.UPLOADED: UploadLogStatusEnumType.uploaded,
    transfers.UploadStatus.FAILED: UploadLogStatusEnumType.upload_failure,
}

#: Variables per NotifyReport part: a full report comes in a few parts, as from a real
#: charger whose device model is too big for one message.
REPORT_PART_SIZE = 8


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


def _profile(evse_id: int, fields: dict[str, Any]) -> ChargingProfile | None:
    """A 2.0.1 ChargingProfileType as the station's profile; None if it is one the station
    cannot hold (external constraints are not the CSMS's to set)."""
    purpose = _PURPOSES.get(ChargingProfilePurposeEnumType(fields["charging_profile_purpose"]))
    schedule = fields["charging_schedule"][0]
    if purpose is None or fields["stack_level"] > MAX_STACK_LEVEL:
        return None
    if len(schedule["charging_schedule_period"]) > MAX_PERIODS:
        return None
    return charging_profile(
        fields,
        schedule,
        profile_id=int(fields["id"]),
        purpose=purpose,
        connector_id=evse_id,
        transaction_id=fields.get("transaction_id"),
    )


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
    """A device model variable: how to read it, how to apply a valid value if writable,
    and how a report describes it. An EVSE's variable is read for its connector."""

    component: str
    name: str
    read: Callable[[Station, Connector | None], str]
    write: Callable[[Station, float], None] | None = None
    data_type: DataEnumType = DataEnumType.string
    unit: str | None = None
    values_list: str | None = None
    #: One per EVSE (component ``{"name": ..., "evse": {"id": n}}``).
    per_evse: bool = False
    #: Never changes while the station runs (identity, what the firmware supports).
    constant: bool = False
    max_limit: Callable[[Connector], float] | None = None

    def report_data(self, station: Station, connector: Connector | None) -> dict[str, Any]:
        """The variable as a NotifyReport ReportDataType."""
        component: dict[str, Any] = {"name": self.component}
        if connector is not None:
            component["evse"] = {"id": connector.connector_id}
        characteristics: dict[str, Any] = {
            "data_type": self.data_type,
            "supports_monitoring": False,
        }
        if self.unit is not None:
            characteristics["unit"] = self.unit
        if self.values_list is not None:
            characteristics["values_list"] = self.values_list
        if self.max_limit is not None and connector is not None:
            characteristics["max_limit"] = self.max_limit(connector)
        return {
            "component": component,
            "variable": {"name": self.name},
            "variable_attribute": [
                {
                    "type": AttributeEnumType.actual,
                    "value": self.read(station, connector),
                    "mutability": MutabilityEnumType.read_only
                    if self.write is None
                    else MutabilityEnumType.read_write,
                    "persistent": True,
                    "constant": self.constant,
                }
            ],
            "variable_characteristics": characteristics,
        }


def _evse_availability(station: Station, c: Connector | None) -> str:
    assert c is not None
    return str(connector_status(c.status or c.reported_status()))


def _evse_power(station: Station, c: Connector | None) -> str:
    assert c is not None
    return f"{c.meter.power_w():.0f}"


def _evse_phases(station: Station, c: Connector | None) -> str:
    assert c is not None
    return str(c.meter.phases)


def _station_availability(station: Station, _: Connector | None) -> str:
    return "Available" if any(c.operative for c in station.connectors) else "Unavailable"


_TRUE: Callable[[Station, Connector | None], str] = lambda s, c: "true"  # noqa: E731
_BOOLEAN = DataEnumType.boolean
_MEMBERS = DataEnumType.member_list
_TX_POINTS = "ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,EnergyTransfer"

#: The device model the simulator reports, in the order a report lists it.
_DEVICE_MODEL: tuple[_Variable, ...] = (
    _Variable("ChargingStation", "Model", lambda s, c: s.spec.model, constant=True),
    _Variable("ChargingStation", "VendorName", lambda s, c: s.spec.vendor, constant=True),
    _Variable(
        "ChargingStation",
        "AvailabilityState",
        _station_availability,
        data_type=DataEnumType.option_list,
        values_list="Available,Unavailable",
    ),
    _Variable(
        "EVSE",
        "AvailabilityState",
        _evse_availability,
        data_type=DataEnumType.option_list,
        values_list="Available,Occupied,Reserved,Unavailable,Faulted",
        per_evse=True,
    ),
    _Variable(
        "EVSE",
        "Power",
        _evse_power,
        data_type=DataEnumType.decimal,
        unit="W",
        per_evse=True,
        max_limit=lambda c: c.meter.max_power_w,
    ),
    _Variable(
        "EVSE",
        "SupplyPhases",
        _evse_phases,
        data_type=DataEnumType.integer,
        per_evse=True,
        constant=True,
    ),
    _Variable(
        "OCPPCommCtrlr",
        "HeartbeatInterval",
        lambda s, c: f"{s.heartbeat_interval_s:g}",
        Station.set_heartbeat_interval,
        data_type=DataEnumType.decimal,
        unit="s",
    ),
    _Variable(
        "SampledDataCtrlr",
        "TxUpdatedInterval",
        lambda s, c: f"{s.meter_interval_s:g}",
        Station.set_meter_interval,
        data_type=DataEnumType.decimal,
        unit="s",
    ),
    _Variable(
        "SampledDataCtrlr",
        "TxUpdatedMeasurands",
        lambda s, c: MEASURANDS,
        data_type=_MEMBERS,
        values_list=MEASURANDS,
        constant=True,
    ),
    _Variable(
        "SampledDataCtrlr",
        "TxEndedMeasurands",
        lambda s, c: MEASURANDS,
        data_type=_MEMBERS,
        values_list=MEASURANDS,
        constant=True,
    ),
    _Variable(
        "AuthCtrlr",
        "AuthorizeRemoteStart",
        lambda s, c: "false",
        data_type=_BOOLEAN,
        constant=True,
    ),
    _Variable("AuthCtrlr", "LocalPreAuthorize", _TRUE, data_type=_BOOLEAN, constant=True),
    _Variable("LocalAuthListCtrlr", "Enabled", _TRUE, data_type=_BOOLEAN, constant=True),
    _Variable(
        "LocalAuthListCtrlr",
        "Entries",
        lambda s, c: str(len(s.local_list)),
        data_type=DataEnumType.integer,
    ),
    _Variable("ReservationCtrlr", "Enabled", _TRUE, data_type=_BOOLEAN, constant=True),
    _Variable("SmartChargingCtrlr", "Enabled", _TRUE, data_type=_BOOLEAN, constant=True),
    _Variable(
        "TxCtrlr",
        "TxStartPoint",
        lambda s, c: "Authorized",
        data_type=_MEMBERS,
        values_list=_TX_POINTS,
        constant=True,
    ),
    _Variable(
        "TxCtrlr",
        "TxStopPoint",
        lambda s, c: "EVConnected,Authorized",
        data_type=_MEMBERS,
        values_list=_TX_POINTS,
        constant=True,
    ),
    _Variable("SecurityCtrlr", "Identity", lambda s, c: s.station_id, constant=True),
)
_COMPONENTS = {v.component: v.per_evse for v in _DEVICE_MODEL}


def _lookup(
    station: Station,
    component: dict[str, Any],
    variable: dict[str, Any],
    attribute_type: str | None,
) -> tuple[_Variable | None, Connector | None, str | None]:
    """The variable addressed (and its EVSE's connector), or None with the status that
    says why it is not there."""
    name = str(component.get("name"))
    evse = component.get("evse")
    per_evse = _COMPONENTS.get(name)
    connector = None
    if per_evse is None or "instance" in component or per_evse != (evse is not None):
        return None, None, "UnknownComponent"
    if evse is not None:
        connector = _connector_of(station, int(evse["id"]))
        if connector is None or evse.get("connector_id") is not None:
            return None, None, "UnknownComponent"
    known = next(
        (v for v in _DEVICE_MODEL if v.component == name and v.name == variable.get("name")),
        None,
    )
    if known is None or "instance" in variable:
        return None, None, "UnknownVariable"
    if attribute_type not in (None, AttributeEnumType.actual):
        return None, None, "NotSupportedAttributeType"
    return known, connector, None


def _connector_of(station: Station, evse_id: int) -> Connector | None:
    connectors = station.connectors
    return connectors[evse_id - 1] if 1 <= evse_id <= len(connectors) else None


def _addressed(
    station: Station, item: dict[str, Any]
) -> tuple[dict[str, Any], _Variable | None, Connector | None]:
    """The start of a Get/SetVariables result for ``item``, and the variable it names;
    when there is none, the result already says why."""
    attribute_type = item.get("attribute_type")
    result: dict[str, Any] = {"component": item["component"], "variable": item["variable"]}
    if attribute_type is not None:
        result["attribute_type"] = attribute_type
    known, connector, problem = _lookup(
        station, item["component"], item["variable"], attribute_type
    )
    if known is None:
        result["attribute_status"] = problem
    return result, known, connector


def _report(
    station: Station, wanted: Callable[[_Variable, Connector | None], bool]
) -> list[dict[str, Any]]:
    """ReportData for every variable (one per EVSE where it is per EVSE) ``wanted``."""
    out = []
    for variable in _DEVICE_MODEL:
        for connector in station.connectors if variable.per_evse else [None]:
            if wanted(variable, connector):
                out.append(variable.report_data(station, connector))
    return out


def _base_report(station: Station, base: str) -> list[dict[str, Any]]:
    """FullInventory: everything; ConfigurationInventory: what the CSMS may set;
    SummaryInventory: the availability of the station and each EVSE."""
    if base == ReportBaseEnumType.configuration_inventory:
        return _report(station, lambda v, c: v.write is not None)
    if base == ReportBaseEnumType.summary_inventory:
        return _report(station, lambda v, c: v.name == "AvailabilityState")
    return _report(station, lambda v, c: True)


def _matches(
    wanted: list[dict[str, Any]], variable: _Variable, connector: Connector | None
) -> bool:
    """Whether GetReport's componentVariable list names this variable."""
    for item in wanted:
        component = item["component"]
        evse = component.get("evse")
        if component["name"] != variable.component or "instance" in component:
            continue
        if evse is not None and (connector is None or evse["id"] != connector.connector_id):
            continue
        if "variable" in item and item["variable"]["name"] != variable.name:
            continue
        return True
    return False


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
        return _connector_of(self._station, evse_id)

    # ------------------------------------------------------------ CsmsLink

    async def boot(self, spec: StationSpec, reason: BootReason | None = None) -> BootResult:
        """BootNotification; the reason is PowerUp unless a Reset, a trigger or the
        station (a firmware update) says otherwise."""
        result = await self._call(
            call.BootNotification(
                charging_station={
                    "vendor_name": spec.vendor,
                    "model": spec.model,
                    "serial_number": spec.serial_number,
                    "firmware_version": spec.firmware_version,
                },
                reason=BootReasonEnumType(reason.value) if reason else self._ledger.boot_reason,
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
        self,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        timestamp: datetime,
        reservation_id: int | None = None,
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
                reservation_id=reservation_id,
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

    async def firmware_status(
        self, status: transfers.FirmwareStatus, request_id: int | None
    ) -> None:
        """FirmwareStatusNotification with the UpdateFirmware's request id."""
        await self._call(
            call.FirmwareStatusNotification(
                status=FirmwareStatusEnumType(status.value), request_id=request_id
            )
        )

    async def upload_status(self, status: transfers.UploadStatus, request_id: int | None) -> None:
        """LogStatusNotification with the GetLog's request id."""
        await self._call(
            call.LogStatusNotification(status=_UPLOAD_STATUSES[status], request_id=request_id)
        )

    async def reservation_expired(self, reservation_id: int) -> None:
        """ReservationStatusUpdate Expired: the CSMS learns the EVSE is no longer held."""
        await self._call(
            call.ReservationStatusUpdate(
                reservation_id=reservation_id,
                reservation_update_status=ReservationUpdateStatusEnumType.expired,
            )
        )

    async def _notify_report(self, request_id: int, report: list[dict[str, Any]]) -> None:
        """The report in parts numbered from 0, each but the last marked to be continued."""
        parts = [report[i : i + REPORT_PART_SIZE] for i in range(0, len(report), REPORT_PART_SIZE)]
        for seq_no, part in enumerate(parts):
            await self._call(
                call.NotifyReport(
                    request_id=request_id,
                    generated_at=format_timestamp(utcnow()),
                    seq_no=seq_no,
                    report_data=part,
                    tbc=seq_no < len(parts) - 1,
                )
            )

    def _follow_with_report(self, request_id: int, report: list[dict[str, Any]]) -> None:
        self._station.follow_up(
            f"report {request_id}", lambda _: self._notify_report(request_id, report)
        )

    # ------------------------------------------------------ CSMS commands

    @on_action(Action.request_start_transaction)
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        """Start without a local Authorize (AuthorizeRemoteStart is false).

        The remote start id and the token as the CSMS typed it go into the Started event;
        a TxProfile given limits the transaction.
        """
        tag = str(id_token["id_token"])
        profile = _profile(evse_id or 0, charging_profile) if charging_profile else None
        if charging_profile and profile is None:
            return call_result.RequestStartTransaction(
                status=RequestStartStopStatusEnumType.rejected
            )
        status = self._station.remote_start(tag, evse_id, profile)
        accepted = status is CommandStatus.ACCEPTED
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
        elif connector.transaction_id is not None or connector.phase is Phase.STARTING:
            # STARTING: its TransactionEvent Started is out, the answer not yet in
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
            result, known, connector = _addressed(self._station, item)
            if known is not None:
                result["attribute_status"] = GetVariableStatusEnumType.accepted
                result["attribute_value"] = known.read(self._station, connector)
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on_action(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        """The intervals are writable (positive seconds); the other variables are read-only."""
        results = []
        for item in set_variable_data:
            result, known, _connector = _addressed(self._station, item)
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

    @on_action(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        """Accepted; the report follows in NotifyReport parts."""
        self._follow_with_report(request_id, _base_report(self._station, report_base))
        return call_result.GetBaseReport(status=GenericDeviceModelStatusEnumType.accepted)

    @on_action(Action.get_report)
    def on_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        component_criteria: list[str] | None = None,
        **_: Any,
    ) -> Any:
        """The variables named (all if none), of components meeting the criteria: every
        simulated component is active, available and enabled, and none has a problem."""
        healthy = not component_criteria or any(c != "Problem" for c in component_criteria)
        report = _report(
            self._station,
            lambda v, c: healthy and (not component_variable or _matches(component_variable, v, c)),
        )
        if not report:
            return call_result.GetReport(status=GenericDeviceModelStatusEnumType.empty_result_set)
        self._follow_with_report(request_id, report)
        return call_result.GetReport(status=GenericDeviceModelStatusEnumType.accepted)

    @on_action(Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        """Accepted (AcceptedCanceled if it replaces one in progress); the steps follow
        from the retrieve time on, each a FirmwareStatusNotification with ``request_id``."""
        update = transfers.FirmwareUpdate(
            firmware["location"], parse_timestamp(firmware["retrieve_date_time"]), request_id
        )
        status = self._station.update_firmware(update)
        return call_result.UpdateFirmware(status=UpdateFirmwareStatusEnumType(status.value))

    @on_action(Action.get_log)
    def on_get_log(
        self,
        log: dict[str, Any],
        log_type: str,
        request_id: int,
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> Any:
        """Accepted with the file's name; the upload follows, each step a
        LogStatusNotification with ``request_id``."""
        request = transfers.LogRequest(
            log["remote_location"],
            request_id=request_id,
            since=optional_timestamp(log.get("oldest_timestamp")),
            until=optional_timestamp(log.get("latest_timestamp")),
            retries=retries or 0,
            retry_interval_s=float(retry_interval or 0),
            kind="security" if log_type == "SecurityLog" else "diagnostics",
        )
        status, filename = self._station.get_log(request)
        return call_result.GetLog(status=LogStatusEnumType(status.value), filename=filename)

    @on_action(Action.reserve_now)
    def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        """Accepted, Occupied (in use or reserved for another), Unavailable or Rejected."""
        reservation = Reservation(id, str(id_token["id_token"]), parse_timestamp(expiry_date_time))
        status = self._station.reserve(reservation, evse_id)
        return call_result.ReserveNow(status=ReserveNowStatusEnumType(status.value))

    @on_action(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        accepted = self._station.cancel_reservation(reservation_id) is CommandStatus.ACCEPTED
        return call_result.CancelReservation(
            status=CancelReservationStatusEnumType.accepted
            if accepted
            else CancelReservationStatusEnumType.rejected
        )

    @on_action(Action.send_local_list)
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        """An entry without idTokenInfo removes the token (in a differential update)."""
        changes: list[tuple[str, ListEntry | None]] = []
        for item in local_authorization_list or []:
            tag = str(item["id_token"]["id_token"])
            info = item.get("id_token_info")
            entry = None
            if info is not None:
                expires = optional_timestamp(info.get("cache_expiry_date_time"))
                entry = ListEntry(tag, info["status"], expires)
            changes.append((tag, entry))
        status = self._station.update_local_list(
            version_number, update_type == UpdateEnumType.full, changes
        )
        return call_result.SendLocalList(status=SendLocalListStatusEnumType(status.value))

    @on_action(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        """0 when the station holds no list."""
        return call_result.GetLocalListVersion(version_number=self._station.local_list.version)

    @on_action(Action.set_charging_profile)
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        profile = _profile(evse_id, charging_profile)
        status = (
            self._station.set_charging_profile(evse_id, profile)
            if profile is not None
            else CommandStatus.REJECTED
        )
        return call_result.SetChargingProfile(
            status=ChargingProfileStatusEnumType.accepted
            if status is CommandStatus.ACCEPTED
            else ChargingProfileStatusEnumType.rejected
        )

    @on_action(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        """By id, or else by the criteria given; Unknown when nothing matched."""
        criteria = charging_profile_criteria or {}
        purpose = None
        if "charging_profile_purpose" in criteria:
            word = ChargingProfilePurposeEnumType(criteria["charging_profile_purpose"])
            purpose = _PURPOSES.get(word)
            if purpose is None:  # external constraints: the station holds none
                return call_result.ClearChargingProfile(
                    status=ClearChargingProfileStatusEnumType.unknown
                )
        status = self._station.clear_charging_profiles(
            charging_profile_id, criteria.get("evse_id"), purpose, criteria.get("stack_level")
        )
        return call_result.ClearChargingProfile(
            status=ClearChargingProfileStatusEnumType.accepted
            if status is CommandStatus.ACCEPTED
            else ClearChargingProfileStatusEnumType.unknown
        )

    @on_action(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        """The limit the EVSE (0: the station) holds to; in W unless asked for A."""
        schedule = self._station.composite_schedule(evse_id, duration)
        if schedule is None:
            return call_result.GetCompositeSchedule(status=GenericStatusEnumType.rejected)
        unit = RateUnit(charging_rate_unit or ChargingRateUnitEnumType.watts)
        return call_result.GetCompositeSchedule(
            status=GenericStatusEnumType.accepted,
            schedule={
                "evse_id": evse_id,
                "duration": schedule.duration_s,
                "schedule_start": format_timestamp(schedule.start),
                "charging_rate_unit": unit.value,
                "charging_schedule_period": [
                    {"start_period": offset, "limit": limit}
                    for offset, limit in schedule.in_unit(unit)
                ],
            },
        )
