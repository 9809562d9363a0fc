"""The OCPP 2.0.1 adapter: charger payloads in, neutral values out, our answers back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from chargeops.core import charging as c
from chargeops.protocol.errors import CallError, ErrorCode
from chargeops.protocol.session import ChargerSession, Refused, Request
from chargeops.protocol.v201 import V21Adapter, V201Adapter
from chargeops.protocol.validation import validate

adapter = V201Adapter()

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
STAMP = "2025-03-01T08:00:00Z"


def _refusal(action: str, payload: dict[str, Any]) -> CallError:
    with pytest.raises(CallError) as caught:
        adapter.decode(action, payload)
    return caught.value


def _event(event_type: str = "Updated", seq_no: int = 1, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": STAMP,
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "TX-abc-1"},
    }
    payload.update(extra)
    return payload


def _sample(value: float, **extra: Any) -> dict[str, Any]:
    return {"timestamp": STAMP, "sampledValue": [{"value": value, **extra}]}


# --- decoding ---------------------------------------------------------------------------


def test_boot_notification_reads_station_modem_and_reason() -> None:
    message = adapter.decode(
        "BootNotification",
        {
            "chargingStation": {
                "vendorName": "Zaptec",
                "model": "Pro",
                "serialNumber": "ZP-9",
                "firmwareVersion": "2.3.1",
                "modem": {"iccid": "89310", "imsi": "20408"},
            },
            "reason": "PowerUp",
        },
    )
    assert message == c.StationIdentity(
        vendor="Zaptec",
        model="Pro",
        serial_number="ZP-9",
        firmware_version="2.3.1",
        iccid="89310",
        imsi="20408",
        reason="PowerUp",
    )


def test_status_notification_names_evse_and_connector() -> None:
    message = adapter.decode(
        "StatusNotification",
        {"timestamp": STAMP, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1},
    )
    assert message == c.ConnectorStatusReport(
        evse_id=2, connector_id=1, status="Occupied", error_code=None, timestamp=T0
    )


@pytest.mark.parametrize(
    "token_type",
    ["ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "Local", "MacAddress"],
)
def test_authorize_keeps_the_token_type(token_type: str) -> None:
    message = adapter.decode("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": token_type}})
    assert message == c.AuthorizeRequest("04A1B2C3", token_type)


def test_an_unknown_token_type_is_a_property_violation() -> None:
    error = _refusal("Authorize", {"idToken": {"idToken": "X", "type": "Barcode"}})
    assert error.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def test_transaction_event_keeps_sequence_state_token_and_samples() -> None:
    message = adapter.decode(
        "TransactionEvent",
        _event(
            "Started",
            0,
            triggerReason="Authorized",
            offline=True,
            evse={"id": 1, "connectorId": 1},
            idToken={"idToken": "TAG-9", "type": "ISO14443"},
            reservationId=4,
            numberOfPhasesUsed=3,
            transactionInfo={
                "transactionId": "TX-abc-1",
                "chargingState": "Charging",
                "remoteStartId": 77,
                "timeSpentCharging": 12,
            },
            meterValue=[
                _sample(
                    1.5,
                    context="Transaction.Begin",
                    unitOfMeasure={"unit": "kWh"},
                )
            ],
        ),
    )
    assert isinstance(message, c.TransactionEventReport)
    assert message.event_type is c.TransactionEventType.STARTED
    assert (message.transaction_ref, message.seq_no, message.offline) == ("TX-abc-1", 0, True)
    assert (message.evse_id, message.connector_id) == (1, 1)
    assert (message.id_tag, message.token_type) == ("TAG-9", "ISO14443")
    assert (message.charging_state, message.remote_start_id) == ("Charging", 77)
    assert (message.reservation_id, message.number_of_phases) == (4, 3)
    assert message.time_spent_charging_s == 12
    (sample,) = message.samples
    assert sample.measurand == "Energy.Active.Import.Register"
    assert (sample.value, sample.unit, sample.raw_unit) == (Decimal("1500.0"), "Wh", "kWh")
    assert sample.context == "Transaction.Begin"


def test_transaction_event_ended_keeps_the_stopped_reason() -> None:
    message = adapter.decode(
        "TransactionEvent",
        _event(
            "Ended",
            5,
            triggerReason="EVCommunicationLost",
            transactionInfo={"transactionId": "TX-abc-1", "stoppedReason": "EVDisconnected"},
        ),
    )
    assert isinstance(message, c.TransactionEventReport)
    assert message.event_type is c.TransactionEventType.ENDED
    assert message.stopped_reason == "EVDisconnected"
    assert message.offline is False  # the default when the charger leaves it out


def test_a_multiplier_scales_the_value_into_base_units() -> None:
    message = adapter.decode(
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                _sample(
                    12.5,
                    measurand="Power.Active.Import",
                    unitOfMeasure={"unit": "W", "multiplier": 3},
                )
            ],
        },
    )
    assert isinstance(message, c.MeterReport)
    (sample,) = message.samples
    assert sample.value == Decimal("12500")
    assert sample.unit == "W"
    assert sample.raw_value == "12.5"


def test_signed_meter_data_is_kept_as_sent_beside_the_number() -> None:
    message = adapter.decode(
        "MeterValues",
        {
            "evseId": 1,
            "meterValue": [
                _sample(
                    2345,
                    signedMeterValue={
                        "signedMeterData": "T0NNRnx7fQ==",
                        "signingMethod": "ECDSA-secp256r1-SHA256",
                        "encodingMethod": "OCMF",
                        "publicKey": "",
                    },
                )
            ],
        },
    )
    assert isinstance(message, c.MeterReport)
    (sample,) = message.samples
    assert (sample.value, sample.format, sample.raw_value) == (
        Decimal("2345"),
        "SignedData",
        "T0NNRnx7fQ==",
    )


def test_notify_report_flattens_every_attribute_of_every_variable() -> None:
    message = adapter.decode(
        "NotifyReport",
        {
            "requestId": 3,
            "generatedAt": STAMP,
            "seqNo": 0,
            "tbc": True,
            "reportData": [
                {
                    "component": {"name": "EVSE", "evse": {"id": 1}},
                    "variable": {"name": "Power"},
                    "variableAttribute": [
                        {"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                        {"type": "MaxSet", "value": "22000"},
                    ],
                    "variableCharacteristics": {
                        "unit": "W",
                        "dataType": "decimal",
                        "supportsMonitoring": True,
                    },
                }
            ],
        },
    )
    assert isinstance(message, c.DeviceModelReport)
    assert (message.request_id, message.seq_no, message.more_to_come) == (3, 0, True)
    actual, max_set = message.variables
    assert (actual.component, actual.evse_id, actual.variable) == ("EVSE", 1, "Power")
    assert (actual.attribute_type, actual.value, actual.mutability) == ("Actual", "0", "ReadOnly")
    assert (max_set.attribute_type, max_set.value, max_set.mutability) == (
        "MaxSet",
        "22000",
        "ReadWrite",  # the spec's default
    )
    assert actual.characteristics == {
        "unit": "W",
        "dataType": "decimal",
        "supportsMonitoring": True,
    }


def test_notify_event_becomes_one_notice_per_event() -> None:
    message = adapter.decode(
        "NotifyEvent",
        {
            "generatedAt": STAMP,
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": STAMP,
                    "trigger": "Alerting",
                    "actualValue": "Faulted",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "AvailabilityState"},
                },
                {
                    "eventId": 2,
                    "timestamp": STAMP,
                    "trigger": "Delta",
                    "actualValue": "true",
                    "cleared": True,
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "ChargingStation"},
                    "variable": {"name": "Problem"},
                },
            ],
        },
    )
    assert isinstance(message, c.StationNotices)
    assert message.kind == "NotifyEvent"
    first, second = message.notices
    assert first.summary == "Alerting: Connector EVSE 1/1.AvailabilityState = Faulted"
    assert first.occurred_at == T0 and first.payload["eventId"] == 1
    assert second.summary.endswith("(cleared)")


def test_security_event_is_a_notice_with_its_type() -> None:
    message = adapter.decode(
        "SecurityEventNotification",
        {"type": "InvalidFirmwareSignature", "timestamp": STAMP, "techInfo": "bad sig"},
    )
    assert message == c.StationNotices(
        "SecurityEvent",
        (
            c.Notice(
                T0,
                "InvalidFirmwareSignature: bad sig",
                {"type": "InvalidFirmwareSignature", "timestamp": STAMP, "techInfo": "bad sig"},
            ),
        ),
    )


@pytest.mark.parametrize(
    ("action", "payload", "kind"),
    [
        (
            "NotifyChargingLimit",
            {"chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True}, "evseId": 1},
            "NotifyChargingLimit",
        ),
        ("ClearedChargingLimit", {"chargingLimitSource": "SO"}, "ClearedChargingLimit"),
        (
            "ReservationStatusUpdate",
            {"reservationId": 8, "reservationUpdateStatus": "Expired"},
            "ReservationStatusUpdate",
        ),
    ],
)
def test_limits_and_reservation_updates_are_kept_as_notices(
    action: str, payload: dict[str, Any], kind: str
) -> None:
    message = adapter.decode(action, payload)
    assert isinstance(message, c.StationNotices)
    assert message.kind == kind and message.notices[0].payload == payload


def test_firmware_and_log_status_carry_their_request_id() -> None:
    assert adapter.decode(
        "FirmwareStatusNotification", {"status": "Installed", "requestId": 4}
    ) == c.FirmwareStatusReport("Installed", 4)
    assert adapter.decode(
        "LogStatusNotification", {"status": "Uploaded", "requestId": 5}
    ) == c.DiagnosticsStatusReport("Uploaded", 5)


def test_certificate_requests_are_recognised_but_not_supported() -> None:
    error = _refusal("SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST-----"})
    assert error.code == ErrorCode.NOT_SUPPORTED


def test_an_unknown_action_is_not_implemented() -> None:
    assert _refusal("StartTransaction", {}).code == ErrorCode.NOT_IMPLEMENTED


# --- encoding ---------------------------------------------------------------------------


def _valid(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    validate("v201", f"{action}Response", payload)
    return payload


def test_answers_fit_the_201_response_schemas() -> None:
    auth = c.Authorization(c.AuthorizationStatus.ACCEPTED, expires_at=T0, parent_id_tag="FLEET-1")
    boot = _valid(
        "BootNotification",
        adapter.encode("BootNotification", c.BootAnswer(c.RegistrationStatus.ACCEPTED, T0, 300)),
    )
    assert boot == {
        "currentTime": "2025-03-01T08:00:00.000Z",
        "interval": 300,
        "status": "Accepted",
    }
    assert _valid("Authorize", adapter.encode("Authorize", auth)) == {
        "idTokenInfo": {
            "status": "Accepted",
            "cacheExpiryDateTime": "2025-03-01T08:00:00.000Z",
            "groupIdToken": {"idToken": "FLEET-1", "type": "Central"},
        }
    }
    assert (
        _valid("TransactionEvent", adapter.encode("TransactionEvent", c.TransactionEventAnswer()))
        == {}
    )
    assert _valid(
        "TransactionEvent", adapter.encode("TransactionEvent", c.TransactionEventAnswer(auth))
    )["idTokenInfo"]["status"] == ("Accepted")
    assert (
        _valid("StatusNotification", adapter.encode("StatusNotification", c.Acknowledged())) == {}
    )
    transfer = adapter.encode(
        "DataTransfer",
        c.DataTransferAnswer(c.DataTransferStatus.UNKNOWN_VENDOR_ID, {"any": ["json"]}),
    )
    assert _valid("DataTransfer", transfer) == {
        "status": "UnknownVendorId",
        "data": {"any": ["json"]},  # 2.0.1 data is any JSON, not a string
    }


# --- through a session: 2.0.1 words for errors ------------------------------------------


def _wire(session: ChargerSession) -> list[list[Any]]:
    return [orjson.loads(frame) for frame in session.data_to_send()]


def test_a_201_session_answers_errors_in_201_words() -> None:
    session = ChargerSession(V201Adapter())
    session.receive('[2, "a", "Heartbeat", {"extra": 1}]', 0.0)
    session.receive('[2, "b", "Heartbeat"]', 0.0)
    session.receive('[7, "c", "Heartbeat", {}]', 0.0)
    session.receive(
        orjson.dumps([2, "d", "NotifyEvent", {"generatedAt": STAMP, "seqNo": 0, "eventData": []}]),
        0.0,
    )
    codes = [frame[2] for frame in _wire(session)]
    assert codes == [
        "FormatViolation",
        "RpcFrameworkError",
        "MessageTypeNotSupported",
        "OccurrenceConstraintViolation",
    ]


def test_a_16_session_keeps_its_own_words_for_the_same_errors() -> None:
    from chargeops.protocol.v16 import V16Adapter

    session = ChargerSession(V16Adapter())
    session.receive('[2, "a", "Heartbeat", {"extra": 1}]', 0.0)
    session.receive('[2, "b", "Heartbeat"]', 0.0)
    session.receive('[7, "c", "Heartbeat", {}]', 0.0)
    codes = [frame[2] for frame in _wire(session)]
    assert codes == ["FormationViolation", "FormationViolation", "ProtocolError"]


def test_21_uses_the_same_messages_with_its_own_schemas() -> None:
    session = ChargerSession(V21Adapter())
    (event,) = session.receive(
        orjson.dumps(
            [
                2,
                "x",
                "BootNotification",
                {
                    "chargingStation": {"vendorName": "V", "model": "M"},
                    "reason": "PowerUp",
                },
            ]
        ),
        0.0,
    )
    assert isinstance(event, Request) and event.message == c.StationIdentity(
        vendor="V", model="M", reason="PowerUp"
    )
    assert V21Adapter().version == "2.1"
    (refused,) = session.receive('[2, "y", "StartTransaction", {}]', 0.0)
    assert isinstance(refused, Refused) and refused.code == "NotImplemented"
