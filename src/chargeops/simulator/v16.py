"""OCPP 1.6J wiring of the simulated station, on the ``ocpp`` package's charge point side.

Translates the version-neutral :class:`~chargeops.simulator.station.CsmsLink` calls into
1.6 messages, and 1.6 commands from the CSMS into :class:`Station` method calls. Handlers
never await a call to the CSMS: the ``ocpp`` ChargePoint handles frames in its read loop,
so a handler waiting for an answer would wait forever.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    AvailabilityStatus,
    AvailabilityType,
    CancelReservationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    ClearCacheStatus,
    ClearChargingProfileStatus,
    ConfigurationStatus,
    DataTransferStatus,
    DiagnosticsStatus,
    FirmwareStatus,
    GetCompositeScheduleStatus,
    Location,
    Measurand,
    MessageTrigger,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetStatus,
    ResetType,
    TriggerMessageStatus,
    UnitOfMeasure,
    UnlockStatus,
    UpdateStatus,
    UpdateType,
)
from ocpp.v16.enums import ReadingContext as V16ReadingContext

from chargeops.simulator import transfers
from chargeops.simulator.local_list import MAX_ENTRIES as LOCAL_LIST_MAX
from chargeops.simulator.local_list import ListEntry
from chargeops.simulator.meter import MeterSample, ReadingContext
from chargeops.simulator.profiles import ChargingProfile, Purpose, RateUnit
from chargeops.simulator.station import (
    BootReason,
    BootResult,
    BootStatus,
    CommandStatus,
    ConnectorStatus,
    Reservation,
    StartResult,
    Station,
    StationSpec,
    StopReason,
    TriggerKind,
)
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

SUBPROTOCOL = "ocpp1.6"

_CONTEXTS = {
    ReadingContext.PERIODIC: V16ReadingContext.sample_periodic,
    ReadingContext.TRANSACTION_BEGIN: V16ReadingContext.transaction_begin,
    ReadingContext.TRANSACTION_END: V16ReadingContext.transaction_end,
    ReadingContext.TRIGGER: V16ReadingContext.trigger,
}

_TRIGGERS = {
    MessageTrigger.boot_notification: TriggerKind.BOOT_NOTIFICATION,
    MessageTrigger.heartbeat: TriggerKind.HEARTBEAT,
    MessageTrigger.status_notification: TriggerKind.STATUS_NOTIFICATION,
    MessageTrigger.meter_values: TriggerKind.METER_VALUES,
}

#: What every sample carries; announced in the configuration keys that describe it.
MEASURANDS = ",".join(
    (
        Measurand.energy_active_import_register,
        Measurand.power_active_import,
        Measurand.current_import,
        Measurand.voltage,
        Measurand.soc,
    )
)

_PURPOSES = {
    ChargingProfilePurposeType.charge_point_max_profile: Purpose.STATION_MAX,
    ChargingProfilePurposeType.tx_default_profile: Purpose.TX_DEFAULT,
    ChargingProfilePurposeType.tx_profile: Purpose.TX,
}

_UPLOAD_STATUSES = {
    transfers.UploadStatus.UPLOADING: DiagnosticsStatus.uploading,
    transfers.UploadStatus.UPLOADED: DiagnosticsStatus.uploaded,
    transfers.UploadStatus.FAILED: DiagnosticsStatus.upload_failed,
}

#: Highest stack level a profile may have (ChargeProfileMaxStackLevel).
MAX_STACK_LEVEL = 10
#: Most periods in a schedule (ChargingScheduleMaxPeriods).
MAX_PERIODS = 24

#: Configuration keys the CSMS may change, with how to apply a valid value.
_WRITABLE_KEYS: dict[str, Callable[[Station, float], None]] = {
    "HeartbeatInterval": Station.set_heartbeat_interval,
    "MeterValueSampleInterval": Station.set_meter_interval,
}


def _profile(
    connector_id: int, fields: dict[str, Any], transaction_id: int | None = None
) -> ChargingProfile | None:
    """A 1.6 csChargingProfiles as the station's profile; None if it is one the station
    cannot hold (too high a stack level, too many periods)."""
    schedule = fields["charging_schedule"]
    if fields["stack_level"] > MAX_STACK_LEVEL:
        return None
    if len(schedule["charging_schedule_period"]) > MAX_PERIODS:
        return None
    tx = fields.get("transaction_id", transaction_id)
    return charging_profile(
        fields,
        schedule,
        profile_id=int(fields["charging_profile_id"]),
        purpose=_PURPOSES[ChargingProfilePurposeType(fields["charging_profile_purpose"])],
        connector_id=connector_id,
        transaction_id=str(tx) if tx is not None else None,
    )


def meter_value(sample: MeterSample) -> dict[str, Any]:
    """A 1.6 MeterValue: the register as whole Wh, then power, current, voltage and SoC."""
    context = _CONTEXTS[sample.context]

    def value(text: str, measurand: str, unit: str, location: str) -> dict[str, str]:
        return {
            "value": text,
            "context": context,
            "measurand": measurand,
            "location": location,
            "unit": unit,
        }

    outlet = Location.outlet
    sampled = [
        value(
            str(sample.energy_wh), Measurand.energy_active_import_register, UnitOfMeasure.wh, outlet
        ),
        value(f"{sample.power_w:.0f}", Measurand.power_active_import, UnitOfMeasure.w, outlet),
        value(f"{sample.current_a:.1f}", Measurand.current_import, UnitOfMeasure.a, outlet),
        value(f"{sample.voltage_v:.1f}", Measurand.voltage, UnitOfMeasure.v, outlet),
    ]
    if sample.soc_percent is not None:
        sampled.append(
            value(f"{sample.soc_percent:.0f}", Measurand.soc, UnitOfMeasure.percent, Location.ev)
        )
    return {"timestamp": format_timestamp(sample.timestamp), "sampledValue": sampled}


class V16Link(ChargePoint):  # type: ignore[misc]  # the ocpp package is untyped
    """One station's OCPP 1.6J connection: the station's :class:`CsmsLink` for 1.6."""

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

    async def serve(self) -> None:
        """Read and dispatch frames until the connection closes (then raise its error)."""
        await self.start()

    async def _call(self, payload: Any) -> Any:
        """Send a CALL; a CALLERROR or invalid answer becomes a :class:`CsmsCallError`."""
        return await send_call(self, payload, self._validate)

    # ------------------------------------------------------------ CsmsLink

    async def boot(self, spec: StationSpec, reason: BootReason | None = None) -> BootResult:
        """BootNotification with the station's identity (1.6 gives no reason)."""
        result = await self._call(
            call.BootNotification(
                charge_point_vendor=spec.vendor,
                charge_point_model=spec.model,
                charge_point_serial_number=spec.serial_number,
                firmware_version=spec.firmware_version,
                meter_type=spec.meter_type,
                meter_serial_number=spec.meter_serial_number,
            )
        )
        status = {
            RegistrationStatus.accepted: BootStatus.ACCEPTED,
            RegistrationStatus.pending: BootStatus.PENDING,
        }.get(result.status, BootStatus.REJECTED)
        return BootResult(status=status, interval_s=int(result.interval))

    async def heartbeat(self) -> None:
        """Heartbeat; the CSMS's time in the answer is not used."""
        await self._call(call.Heartbeat())

    async def status(self, connector_id: int, status: ConnectorStatus) -> None:
        """StatusNotification; the simulator never faults, so the error code is NoError."""
        await self._call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=ChargePointErrorCode.no_error,
                status=ChargePointStatus(status.value),
                timestamp=format_timestamp(datetime.now(UTC)),
            )
        )

    async def authorize(self, id_tag: str) -> bool:
        """Authorize; only Accepted lets the session go on."""
        result = await self._call(call.Authorize(id_tag=id_tag))
        return bool(result.id_tag_info.get("status") == AuthorizationStatus.accepted)

    async def start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        timestamp: datetime,
        reservation_id: int | None = None,
    ) -> StartResult:
        """StartTransaction (with the reservation it used); the CSMS names the transaction."""
        result = await self._call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start_wh,
                timestamp=format_timestamp(timestamp),
                reservation_id=reservation_id,
            )
        )
        accepted = result.id_tag_info.get("status") == AuthorizationStatus.accepted
        return StartResult(transaction_id=str(result.transaction_id), accepted=bool(accepted))

    async def meter_values(
        self, connector_id: int, transaction_id: str | None, sample: MeterSample
    ) -> None:
        """MeterValues with one MeterValue; the transaction id is left out between sessions."""
        await self._call(
            call.MeterValues(
                connector_id=connector_id,
                meter_value=[meter_value(sample)],
                transaction_id=int(transaction_id) if transaction_id is not None else None,
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
        """StopTransaction with the final reading as transaction data."""
        await self._call(
            call.StopTransaction(
                meter_stop=meter_stop_wh,
                timestamp=format_timestamp(timestamp),
                transaction_id=int(transaction_id),
                reason=Reason(reason.value),
                id_tag=id_tag,
                transaction_data=[meter_value(sample)],
            )
        )

    async def firmware_status(
        self, status: transfers.FirmwareStatus, request_id: int | None
    ) -> None:
        """FirmwareStatusNotification; 1.6 has no request id."""
        await self._call(call.FirmwareStatusNotification(status=FirmwareStatus(status.value)))

    async def upload_status(self, status: transfers.UploadStatus, request_id: int | None) -> None:
        """DiagnosticsStatusNotification; 1.6 has no request id."""
        await self._call(call.DiagnosticsStatusNotification(status=_UPLOAD_STATUSES[status]))

    async def reservation_expired(self, reservation_id: int) -> None:
        """1.6 has no message for it: the connector's next status (Available) says it."""

    # ------------------------------------------------------ CSMS commands

    @on_action(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        """Start without a local Authorize (AuthorizeRemoteTxRequests is false); a
        TxProfile given limits the session."""
        profile = None
        if charging_profile is not None:
            profile = _profile(connector_id or 0, charging_profile)
            if profile is None:
                return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        status = self._station.remote_start(id_tag, connector_id, profile)
        accepted = status is CommandStatus.ACCEPTED
        return call_result.RemoteStartTransaction(
            status=RemoteStartStopStatus.accepted if accepted else RemoteStartStopStatus.rejected
        )

    @on_action(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        """Stop a charging transaction with reason Remote."""
        accepted = self._station.remote_stop(str(transaction_id)) is CommandStatus.ACCEPTED
        return call_result.RemoteStopTransaction(
            status=RemoteStartStopStatus.accepted if accepted else RemoteStartStopStatus.rejected
        )

    @on_action(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        """Always accepted; the reboot starts once the answer is out (see ``after_reset``)."""
        self._station.reset(hard=type == ResetType.hard)
        return call_result.Reset(status=ResetStatus.accepted)

    @after_action(Action.reset)
    def after_reset(self, type: str, **_: Any) -> None:
        """Stop transactions (reason Soft/HardReset), close, reconnect and boot again."""
        hard = type == ResetType.hard
        self._station.request_end(StopReason.HARD_RESET if hard else StopReason.SOFT_RESET)

    @on_action(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        """Unlocked (ending a running transaction first), or NotSupported for no such connector."""
        status = self._station.unlock(connector_id)
        return call_result.UnlockConnector(
            status=UnlockStatus.unlocked
            if status is CommandStatus.ACCEPTED
            else UnlockStatus.not_supported
        )

    @on_action(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        """Accepted, or Scheduled when a connector is busy and changes after its session."""
        status = self._station.change_availability(
            connector_id, operative=type == AvailabilityType.operative
        )
        return call_result.ChangeAvailability(
            status={
                CommandStatus.ACCEPTED: AvailabilityStatus.accepted,
                CommandStatus.SCHEDULED: AvailabilityStatus.scheduled,
            }.get(status, AvailabilityStatus.rejected)
        )

    def _configuration(self) -> dict[str, tuple[str, bool]]:
        """The keys this simulator knows: (value, read-only)."""
        station = self._station
        return {
            "HeartbeatInterval": (f"{station.heartbeat_interval_s:g}", False),
            "MeterValueSampleInterval": (f"{station.meter_interval_s:g}", False),
            "NumberOfConnectors": (str(len(station.connectors)), True),
            "AuthorizeRemoteTxRequests": ("false", True),
            "MeterValuesSampledData": (MEASURANDS, True),
            "StopTxnSampledData": (MEASURANDS, True),
            "SupportedFeatureProfiles": (
                "Core,FirmwareManagement,LocalAuthListManagement,Reservation,"
                "SmartCharging,RemoteTrigger",
                True,
            ),
            "LocalAuthListEnabled": ("true", True),
            "LocalPreAuthorize": ("true", True),
            "LocalAuthListMaxLength": (str(LOCAL_LIST_MAX), True),
            "SendLocalListMaxLength": (str(LOCAL_LIST_MAX), True),
            "ReserveConnectorZeroSupported": ("true", True),
            "ChargeProfileMaxStackLevel": (str(MAX_STACK_LEVEL), True),
            "ChargingScheduleAllowedChargingRateUnit": ("Current,Power", True),
            "ChargingScheduleMaxPeriods": (str(MAX_PERIODS), True),
        }

    @on_action(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        """All known keys, or the requested ones with the unknown ones listed."""
        known = self._configuration()
        wanted = key if key else list(known)
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": name, "readonly": known[name][1], "value": known[name][0]}
                for name in wanted
                if name in known
            ],
            unknown_key=[name for name in wanted if name not in known] or None,
        )

    @on_action(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        """The intervals are writable (positive seconds); other known keys are read-only."""
        apply = _WRITABLE_KEYS.get(key)
        if apply is None:
            status = (
                ConfigurationStatus.rejected
                if key in self._configuration()
                else ConfigurationStatus.not_supported
            )
            return call_result.ChangeConfiguration(status=status)
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if not seconds > 0:
            return call_result.ChangeConfiguration(status=ConfigurationStatus.rejected)
        apply(self._station, seconds)
        return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)

    @on_action(Action.trigger_message)
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        """Boot, heartbeat, status and meter values can be triggered; the rest is NotImplemented."""
        kind = _TRIGGERS.get(MessageTrigger(requested_message))
        if kind is None:
            return call_result.TriggerMessage(status=TriggerMessageStatus.not_implemented)
        accepted = self._station.trigger(kind, connector_id) is CommandStatus.ACCEPTED
        return call_result.TriggerMessage(
            status=TriggerMessageStatus.accepted if accepted else TriggerMessageStatus.rejected
        )

    @on_action(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        """There is no authorization cache to clear, so clearing always succeeds."""
        return call_result.ClearCache(status=ClearCacheStatus.accepted)

    @on_action(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        """The simulator knows no vendor extensions."""
        return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)

    @on_action(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> Any:
        """Answered at once (1.6 has no status for it); the steps follow from the
        retrieve date on as FirmwareStatusNotifications."""
        update = transfers.FirmwareUpdate(location, parse_timestamp(retrieve_date))
        self._station.update_firmware(update)
        return call_result.UpdateFirmware()

    @on_action(Action.get_diagnostics)
    def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
        **_: Any,
    ) -> Any:
        """Name the file; the upload follows, reported by DiagnosticsStatusNotifications."""
        request = transfers.LogRequest(
            location,
            since=optional_timestamp(start_time),
            until=optional_timestamp(stop_time),
            retries=retries or 0,
            retry_interval_s=float(retry_interval or 0),
        )
        filename = self._station.get_log(request)[1]
        return call_result.GetDiagnostics(file_name=filename)

    @on_action(Action.reserve_now)
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> Any:
        """Accepted, Occupied (in use or reserved for another), Unavailable or Rejected."""
        reservation = Reservation(reservation_id, id_tag, parse_timestamp(expiry_date))
        status = self._station.reserve(reservation, connector_id)
        return call_result.ReserveNow(status=ReservationStatus(status.value))

    @on_action(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        accepted = self._station.cancel_reservation(reservation_id) is CommandStatus.ACCEPTED
        return call_result.CancelReservation(
            status=CancelReservationStatus.accepted
            if accepted
            else CancelReservationStatus.rejected
        )

    @on_action(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        """An entry without idTagInfo removes the tag (in a differential update)."""
        changes: list[tuple[str, ListEntry | None]] = []
        for item in local_authorization_list or []:
            info = item.get("id_tag_info")
            entry = None
            if info is not None:
                expires = optional_timestamp(info.get("expiry_date"))
                entry = ListEntry(item["id_tag"], info["status"], expires)
            changes.append((item["id_tag"], entry))
        status = self._station.update_local_list(
            list_version, update_type == UpdateType.full, changes
        )
        return call_result.SendLocalList(status=UpdateStatus(status.value))

    @on_action(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        """0 when the station holds no list."""
        return call_result.GetLocalListVersion(list_version=self._station.local_list.version)

    @on_action(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        profile = _profile(connector_id, cs_charging_profiles)
        status = (
            self._station.set_charging_profile(connector_id, profile)
            if profile is not None
            else CommandStatus.REJECTED
        )
        return call_result.SetChargingProfile(
            status=ChargingProfileStatus.accepted
            if status is CommandStatus.ACCEPTED
            else ChargingProfileStatus.rejected
        )

    @on_action(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        """By id, or else by the criteria given; Unknown when nothing matched."""
        purpose = None
        if charging_profile_purpose is not None:
            purpose = _PURPOSES[ChargingProfilePurposeType(charging_profile_purpose)]
        status = self._station.clear_charging_profiles(id, connector_id, purpose, stack_level)
        return call_result.ClearChargingProfile(
            status=ClearChargingProfileStatus.accepted
            if status is CommandStatus.ACCEPTED
            else ClearChargingProfileStatus.unknown
        )

    @on_action(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        """The limit the connector (0: the station) holds to; in W unless asked for A."""
        schedule = self._station.composite_schedule(connector_id, duration)
        if schedule is None:
            return call_result.GetCompositeSchedule(status=GetCompositeScheduleStatus.rejected)
        unit = RateUnit(charging_rate_unit or ChargingRateUnitType.watts)
        return call_result.GetCompositeSchedule(
            status=GetCompositeScheduleStatus.accepted,
            connector_id=connector_id,
            schedule_start=format_timestamp(schedule.start),
            charging_schedule={
                "duration": schedule.duration_s,
                "start_schedule": format_timestamp(schedule.start),
                "charging_rate_unit": unit.value,
                "charging_schedule_period": [
                    {"start_period": offset, "limit": limit}
                    for offset, limit in schedule.in_unit(unit)
                ],
            },
        )
