"""The OCPP 1.6J adapter: charger payloads in, neutral values out, and our answers back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from chargeops.core import charging as c
from chargeops.protocol.errors import CallError, ErrorCode
from chargeops.protocol.v16 import V16Adapter
from chargeops.protocol.validation import validate

adapter = V16Adapter()

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _refusal(action: str, payload: dict[str, Any]) -> CallError:
    with pytest.raises(CallError) as caught:
        adapter.decode(action, payload)
    return caught.value


def _meter_values(*sampled_values: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2024-05-01T10:00:00Z", "sampledValue": list(sampled_values)}],
        **extra,
    }


def _one_sample(sampled_value: dict[str, Any]) -> c.MeterSample:
    report = adapter.decode("MeterValues", _meter_values(sampled_value))
    assert isinstance(report, c.MeterReport)
    assert len(report.samples) == 1
    return report.samples[0]


# --- decoding the ten charger-initiated actions -----------------------------------------


def test_boot_notification_keeps_everything_the_charger_says_about_itself() -> None:
    message = adapter.decode(
        "BootNotification",
        {
            "chargePointVendor": "Alfen",
            "chargePointModel": "Eve Single",
            "chargePointSerialNumber": "CP-001",
            "chargeBoxSerialNumber": "BOX-001",
            "firmwareVersion": "4.12.0",
            "iccid": "8931000000000000001",
            "imsi": "204080000000001",
            "meterType": "Eastron SDM630",
            "meterSerialNumber": "MTR-77",
        },
    )

    assert message == c.StationIdentity(
        vendor="Alfen",
        model="Eve Single",
        serial_number="CP-001",
        charge_box_serial_number="BOX-001",
        firmware_version="4.12.0",
        iccid="8931000000000000001",
        imsi="204080000000001",
        meter_type="Eastron SDM630",
        meter_serial_number="MTR-77",
    )


def test_boot_notification_with_only_vendor_and_model_leaves_the_rest_unknown() -> None:
    message = adapter.decode(
        "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
    )

    assert message == c.StationIdentity(vendor="V", model="M")


def test_heartbeat_decodes_to_a_heartbeat() -> None:
    assert adapter.decode("Heartbeat", {}) == c.Heartbeat()


def test_status_notification_keeps_every_field() -> None:
    message = adapter.decode(
        "StatusNotification",
        {
            "connectorId": 2,
            "status": "Faulted",
            "errorCode": "GroundFailure",
            "timestamp": "2024-05-01T10:00:00Z",
            "info": "RCD tripped",
            "vendorId": "com.example",
            "vendorErrorCode": "E42",
        },
    )

    assert message == c.ConnectorStatusReport(
        evse_id=2,  # 1.6 connector 2 is EVSE 2, connector 1
        connector_id=1,
        status="Faulted",
        error_code="GroundFailure",
        timestamp=T0,
        info="RCD tripped",
        vendor_id="com.example",
        vendor_error_code="E42",
    )


def test_status_notification_for_connector_0_is_about_the_whole_station() -> None:
    message = adapter.decode(
        "StatusNotification", {"connectorId": 0, "status": "Unavailable", "errorCode": "NoError"}
    )

    assert message == c.ConnectorStatusReport(
        evse_id=0, connector_id=0, status="Unavailable", error_code="NoError", timestamp=None
    )


def test_authorize_carries_the_id_tag() -> None:
    assert adapter.decode("Authorize", {"idTag": "04A1B2C3D4E5F6"}) == c.AuthorizeRequest(
        "04A1B2C3D4E5F6"
    )


def test_start_transaction_keeps_every_field() -> None:
    message = adapter.decode(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "TAG1",
            "meterStart": 123456,
            "timestamp": "2024-05-01T10:00:00Z",
            "reservationId": 9,
        },
    )

    assert message == c.TransactionStart(
        evse_id=1,
        connector_id=1,
        id_tag="TAG1",
        meter_start_wh=123456,
        timestamp=T0,
        reservation_id=9,
    )


def test_stop_transaction_keeps_every_field_and_its_transaction_data() -> None:
    message = adapter.decode(
        "StopTransaction",
        {
            "transactionId": 77,
            "meterStop": 130000,
            "timestamp": "2024-05-01T11:00:00Z",
            "idTag": "TAG1",
            "reason": "EVDisconnected",
            "transactionData": [
                {
                    "timestamp": "2024-05-01T10:00:00Z",
                    "sampledValue": [{"value": "123456", "context": "Transaction.Begin"}],
                },
                {
                    "timestamp": "2024-05-01T11:00:00Z",
                    "sampledValue": [
                        {"value": "130.000", "unit": "kWh", "context": "Transaction.End"}
                    ],
                },
            ],
        },
    )

    assert isinstance(message, c.TransactionStop)
    assert message.transaction_ref == "77"
    assert message.meter_stop_wh == 130000
    assert message.timestamp == T0 + timedelta(hours=1)
    assert message.id_tag == "TAG1"
    assert message.reason == "EVDisconnected"
    assert [(s.timestamp, s.context, s.value, s.unit) for s in message.samples] == [
        (T0, "Transaction.Begin", Decimal("123456"), "Wh"),
        (T0 + timedelta(hours=1), "Transaction.End", Decimal("130000"), "Wh"),
    ]


def test_stop_transaction_without_reason_means_a_local_stop() -> None:
    """OCPP 1.6 §4.10 / §6.49: the reason MAY be omitted only when it is Local, and a
    missing reason SHOULD be assumed Local."""
    message = adapter.decode(
        "StopTransaction",
        {"transactionId": 77, "meterStop": 130000, "timestamp": "2024-05-01T11:00:00Z"},
    )

    assert isinstance(message, c.TransactionStop)
    assert message.reason == "Local"
    assert message.id_tag is None
    assert message.samples == ()


def test_meter_values_carry_connector_transaction_and_samples() -> None:
    message = adapter.decode("MeterValues", _meter_values({"value": "1000"}, transactionId=42))

    assert isinstance(message, c.MeterReport)
    assert message.evse_id == 1
    assert message.transaction_ref == "42"
    assert len(message.samples) == 1


def test_meter_values_outside_a_transaction_have_no_transaction() -> None:
    message = adapter.decode("MeterValues", _meter_values({"value": "1000"}))

    assert isinstance(message, c.MeterReport)
    assert message.transaction_ref is None


def test_data_transfer_keeps_vendor_message_and_data() -> None:
    message = adapter.decode(
        "DataTransfer", {"vendorId": "com.example", "messageId": "Price", "data": '{"a": 1}'}
    )

    assert message == c.DataTransferRequest("com.example", "Price", '{"a": 1}')


def test_data_transfer_with_only_a_vendor_id() -> None:
    assert adapter.decode("DataTransfer", {"vendorId": "com.example"}) == c.DataTransferRequest(
        "com.example"
    )


def test_diagnostics_status_notification_carries_the_status() -> None:
    message = adapter.decode("DiagnosticsStatusNotification", {"status": "UploadFailed"})

    assert message == c.DiagnosticsStatusReport("UploadFailed")


def test_firmware_status_notification_carries_the_status() -> None:
    message = adapter.decode("FirmwareStatusNotification", {"status": "InstallationFailed"})

    assert message == c.FirmwareStatusReport("InstallationFailed")


# --- refusals ---------------------------------------------------------------------------


def test_an_unknown_action_is_not_implemented() -> None:
    assert _refusal("Teleport", {}).code == ErrorCode.NOT_IMPLEMENTED


@pytest.mark.parametrize("action", ["Reset", "RemoteStartTransaction", "GetConfiguration"])
def test_an_action_only_a_central_system_sends_is_not_supported(action: str) -> None:
    assert _refusal(action, {}).code == ErrorCode.NOT_SUPPORTED


_STATUS = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
_START = {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": "2024-05-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("StatusNotification", {**_STATUS, "connectorId": "1"}, "TypeConstraintViolation"),
        ("StatusNotification", {**_STATUS, "connectorId": True}, "TypeConstraintViolation"),
        ("StartTransaction", {**_START, "meterStart": 1.5}, "TypeConstraintViolation"),
        ("Authorize", {"idTag": "X" * 21}, "TypeConstraintViolation"),
        ("StartTransaction", {**_START, "idTag": "X" * 21}, "TypeConstraintViolation"),
        ("StatusNotification", {**_STATUS, "status": "Bogus"}, "PropertyConstraintViolation"),
        ("StatusNotification", {**_STATUS, "errorCode": "Oops"}, "PropertyConstraintViolation"),
        ("StatusNotification", {"connectorId": 1, "status": "Available"}, "FormationViolation"),
        ("BootNotification", {"chargePointVendor": "V"}, "FormationViolation"),
        ("StatusNotification", {**_STATUS, "color": "red"}, "FormationViolation"),
        ("Heartbeat", {"uptime": 1}, "FormationViolation"),
        ("StatusNotification", {**_STATUS, "timestamp": "yesterday"}, "TypeConstraintViolation"),
        (
            "StartTransaction",
            {**_START, "timestamp": "2024-13-45T99:00:00Z"},
            "TypeConstraintViolation",
        ),
        ("StatusNotification", {**_STATUS, "connectorId": -1}, "PropertyConstraintViolation"),
        (
            "MeterValues",
            _meter_values({"value": "1"}) | {"connectorId": -3},
            "PropertyConstraintViolation",
        ),
        ("StartTransaction", {**_START, "connectorId": 0}, "PropertyConstraintViolation"),
        ("StartTransaction", {**_START, "connectorId": -1}, "PropertyConstraintViolation"),
    ],
)
def test_a_payload_that_is_wrong_gets_the_matching_error_code(
    action: str, payload: dict[str, Any], code: str
) -> None:
    assert _refusal(action, payload).code == code


def test_a_meter_value_with_a_timestamp_that_is_not_a_date_names_the_field() -> None:
    payload = _meter_values({"value": "1"})
    payload["meterValue"][0]["timestamp"] = "not-a-date"

    error = _refusal("MeterValues", payload)

    assert error.code == ErrorCode.TYPE_CONSTRAINT_VIOLATION
    assert error.details["field"] == "meterValue.timestamp"


# --- timestamps -------------------------------------------------------------------------


def test_a_timestamp_without_offset_is_read_as_utc() -> None:
    message = adapter.decode("StartTransaction", {**_START, "timestamp": "2024-05-01T10:00:00"})

    assert isinstance(message, c.TransactionStart)
    assert message.timestamp == T0
    assert message.timestamp.utcoffset() == timedelta(0)


def test_a_timestamp_with_an_offset_is_converted_to_utc() -> None:
    message = adapter.decode(
        "StartTransaction", {**_START, "timestamp": "2024-05-01T12:00:00+02:00"}
    )

    assert isinstance(message, c.TransactionStart)
    assert message.timestamp == T0
    assert message.timestamp.tzinfo == UTC


def test_meter_sample_timestamps_are_converted_to_utc() -> None:
    payload = _meter_values({"value": "1"})
    payload["meterValue"][0]["timestamp"] = "2024-05-01T12:00:00.250+02:00"

    sample = adapter.decode("MeterValues", payload).samples[0]  # type: ignore[union-attr]

    assert sample.timestamp == T0 + timedelta(milliseconds=250)
    assert sample.timestamp.tzinfo == UTC


# --- meter values -----------------------------------------------------------------------


def test_every_attribute_of_a_sampled_value_is_kept() -> None:
    sample = _one_sample(
        {
            "value": "231.4",
            "context": "Sample.Clock",
            "format": "Raw",
            "measurand": "Voltage",
            "phase": "L2-N",
            "location": "Inlet",
            "unit": "V",
        }
    )

    assert sample == c.MeterSample(
        timestamp=T0,
        measurand="Voltage",
        value=Decimal("231.4"),
        unit="V",
        raw_value="231.4",
        raw_unit="V",
        phase="L2-N",
        location="Inlet",
        context="Sample.Clock",
        format="Raw",
    )


def test_a_bare_sampled_value_gets_the_defaults_of_the_specification() -> None:
    sample = _one_sample({"value": "1234"})

    assert sample.measurand == "Energy.Active.Import.Register"
    assert sample.context == "Sample.Periodic"
    assert sample.location == "Outlet"
    assert sample.unit == "Wh"
    assert sample.raw_unit == "Wh"
    assert sample.format == "Raw"
    assert sample.phase is None  # no phase: the total
    assert sample.value == Decimal("1234")


@pytest.mark.parametrize(
    ("measurand", "unit"),
    [
        ("Energy.Active.Import.Register", "Wh"),
        ("Energy.Active.Export.Interval", "Wh"),
        ("Energy.Reactive.Import.Register", "varh"),
        ("Power.Active.Import", "W"),
        ("Power.Offered", "W"),
        ("Power.Reactive.Import", "var"),
        ("Current.Import", "A"),
        ("Current.Offered", "A"),
        ("Voltage", "V"),
        ("SoC", "Percent"),
        ("Temperature", "Celsius"),
    ],
)
def test_a_sample_without_unit_is_in_the_usual_unit_of_its_measurand(
    measurand: str, unit: str
) -> None:
    sample = _one_sample({"value": "10", "measurand": measurand})

    assert sample.unit == unit
    assert sample.value == Decimal("10")


@pytest.mark.parametrize(
    ("raw", "unit", "value", "base"),
    [
        ("12.345", "kWh", "12345", "Wh"),
        ("1.5", "kWh", "1500", "Wh"),
        ("0.0005", "kWh", "0.5", "Wh"),
        ("7.4", "kW", "7400", "W"),
        ("11", "kVA", "11000", "VA"),
        ("2.5", "kvar", "2500", "var"),
        ("3", "kvarh", "3000", "varh"),
        ("16.0", "A", "16.0", "A"),
    ],
)
def test_kilo_units_are_converted_to_base_units_and_the_raw_reading_kept(
    raw: str, unit: str, value: str, base: str
) -> None:
    sample = _one_sample({"value": raw, "unit": unit, "measurand": "Energy.Active.Import.Register"})

    assert sample.value == Decimal(value)
    assert sample.unit == base
    assert sample.raw_value == raw
    assert sample.raw_unit == unit


def test_a_whole_number_of_wh_converted_from_kwh_prints_without_exponent() -> None:
    sample = _one_sample({"value": "1.5", "unit": "kWh"})

    assert str(sample.value) == "1500"
    assert str(_one_sample({"value": "12.345", "unit": "kWh"}).value) == "12345"


def test_every_measurand_phase_and_context_of_a_message_is_kept_in_order() -> None:
    sampled = [
        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "10.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
        {"value": "10.2", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
        {"value": "10.3", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
        {"value": "55", "measurand": "SoC", "location": "EV", "unit": "Percent"},
        {"value": "12.5", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"value": "31", "measurand": "Temperature", "location": "Body", "unit": "Celsius"},
        {"value": "0.98", "measurand": "Power.Factor", "context": "Trigger"},
    ]
    report = adapter.decode("MeterValues", _meter_values(*sampled))

    assert isinstance(report, c.MeterReport)
    assert [
        (s.measurand, s.phase, s.location, s.context, s.value, s.unit) for s in report.samples
    ] == [
        ("Power.Active.Import", None, "Outlet", "Sample.Periodic", Decimal("7200"), "W"),
        ("Current.Import", "L1", "Outlet", "Sample.Periodic", Decimal("10.1"), "A"),
        ("Current.Import", "L2", "Outlet", "Sample.Periodic", Decimal("10.2"), "A"),
        ("Current.Import", "L3", "Outlet", "Sample.Periodic", Decimal("10.3"), "A"),
        ("SoC", None, "EV", "Sample.Periodic", Decimal("55"), "Percent"),
        (
            "Energy.Active.Import.Register",
            None,
            "Outlet",
            "Sample.Periodic",
            Decimal("12500"),
            "Wh",
        ),
        ("Temperature", None, "Body", "Sample.Periodic", Decimal("31"), "Celsius"),
        ("Power.Factor", None, "Outlet", "Trigger", Decimal("0.98"), ""),
    ]


def test_samples_of_several_meter_values_keep_their_own_timestamps() -> None:
    payload = {
        "connectorId": 1,
        "meterValue": [
            {"timestamp": "2024-05-01T10:00:00Z", "sampledValue": [{"value": "100"}]},
            {"timestamp": "2024-05-01T10:15:00Z", "sampledValue": [{"value": "900"}]},
        ],
    }
    report = adapter.decode("MeterValues", payload)

    assert isinstance(report, c.MeterReport)
    assert [(s.timestamp, s.value) for s in report.samples] == [
        (T0, Decimal("100")),
        (T0 + timedelta(minutes=15), Decimal("900")),
    ]


@pytest.mark.parametrize("raw", ["abc", "", "NaN", "Infinity", "12,5"])
def test_a_value_that_is_not_a_number_is_kept_raw_instead_of_refusing_the_message(
    raw: str,
) -> None:
    sample = _one_sample({"value": raw, "unit": "kWh"})

    assert sample.value is None
    assert sample.raw_value == raw
    assert sample.raw_unit == "kWh"


def test_a_huge_reading_does_not_break_decoding() -> None:
    """A garbled but numeric reading must not make the message undecodable."""
    sample = _one_sample({"value": "1e30", "unit": "kWh"})

    assert sample.raw_value == "1e30"
    assert sample.value is None or sample.value == Decimal("1e33")


def test_signed_meter_data_is_kept_byte_for_byte_without_a_numeric_value() -> None:
    signed = 'OCMF|{"FV":"1.0","RD":[{"RV":"0.7","RU":"kWh"}]}|{"SD":"3045..."}'

    sample = _one_sample({"value": signed, "format": "SignedData", "context": "Transaction.End"})

    assert sample.format == "SignedData"
    assert sample.raw_value == signed
    assert sample.value is None
    assert sample.context == "Transaction.End"


# --- encoding our answers ---------------------------------------------------------------


def test_boot_answer_gives_status_time_in_milliseconds_and_interval() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    payload = adapter.encode(
        "BootNotification", c.BootAnswer(c.RegistrationStatus.ACCEPTED, now, 300)
    )

    assert payload == {
        "status": "Accepted",
        "currentTime": "2024-05-01T10:00:00.123Z",
        "interval": 300,
    }
    validate("v16", "BootNotificationResponse", payload)


@pytest.mark.parametrize("status", list(c.RegistrationStatus))
def test_every_registration_status_encodes_to_a_valid_boot_answer(
    status: c.RegistrationStatus,
) -> None:
    payload = adapter.encode("BootNotification", c.BootAnswer(status, T0, 60))

    assert payload["status"] == status.value
    validate("v16", "BootNotificationResponse", payload)


def test_heartbeat_answer_gives_the_current_time_in_utc_with_milliseconds() -> None:
    payload = adapter.encode("Heartbeat", c.HeartbeatAnswer(T0))

    assert payload == {"currentTime": "2024-05-01T10:00:00.000Z"}
    validate("v16", "HeartbeatResponse", payload)


def test_authorization_gives_status_expiry_and_parent() -> None:
    answer = c.Authorization(
        c.AuthorizationStatus.ACCEPTED, expires_at=T0 + timedelta(days=1), parent_id_tag="GROUP-1"
    )

    payload = adapter.encode("Authorize", answer)

    assert payload == {
        "idTagInfo": {
            "status": "Accepted",
            "expiryDate": "2024-05-02T10:00:00.000Z",
            "parentIdTag": "GROUP-1",
        }
    }
    validate("v16", "AuthorizeResponse", payload)


@pytest.mark.parametrize("status", list(c.AuthorizationStatus))
def test_every_authorization_status_encodes_to_a_valid_answer(
    status: c.AuthorizationStatus,
) -> None:
    payload = adapter.encode("Authorize", c.Authorization(status))

    # a refusal 1.6 has no word for (a token kept to other sites) reads Invalid
    word = "Invalid" if status is c.AuthorizationStatus.NOT_AT_THIS_LOCATION else status.value
    assert payload == {"idTagInfo": {"status": word}}
    validate("v16", "AuthorizeResponse", payload)


def test_a_parent_id_tag_too_long_for_16_is_left_out_rather_than_sent_invalid() -> None:
    payload = adapter.encode(
        "Authorize", c.Authorization(c.AuthorizationStatus.ACCEPTED, parent_id_tag="P" * 21)
    )

    assert payload == {"idTagInfo": {"status": "Accepted"}}
    validate("v16", "AuthorizeResponse", payload)


def test_transaction_started_gives_an_integer_transaction_id() -> None:
    payload = adapter.encode(
        "StartTransaction",
        c.TransactionStarted("1234", c.Authorization(c.AuthorizationStatus.ACCEPTED)),
    )

    assert payload == {"transactionId": 1234, "idTagInfo": {"status": "Accepted"}}
    assert type(payload["transactionId"]) is int
    validate("v16", "StartTransactionResponse", payload)


def test_transaction_stopped_with_id_tag_info() -> None:
    payload = adapter.encode(
        "StopTransaction", c.TransactionStopped(c.Authorization(c.AuthorizationStatus.BLOCKED))
    )

    assert payload == {"idTagInfo": {"status": "Blocked"}}
    validate("v16", "StopTransactionResponse", payload)


def test_transaction_stopped_without_id_tag_info_is_an_empty_answer() -> None:
    payload = adapter.encode("StopTransaction", c.TransactionStopped())

    assert payload == {}
    validate("v16", "StopTransactionResponse", payload)


@pytest.mark.parametrize(
    ("action", "schema"),
    [
        ("StatusNotification", "StatusNotificationResponse"),
        ("MeterValues", "MeterValuesResponse"),
        ("DiagnosticsStatusNotification", "DiagnosticsStatusNotificationResponse"),
        ("FirmwareStatusNotification", "FirmwareStatusNotificationResponse"),
    ],
)
def test_an_acknowledgement_is_an_empty_valid_answer(action: str, schema: str) -> None:
    payload = adapter.encode(action, c.Acknowledged())

    assert payload == {}
    validate("v16", schema, payload)


def test_data_transfer_answer_with_data() -> None:
    payload = adapter.encode(
        "DataTransfer", c.DataTransferAnswer(c.DataTransferStatus.ACCEPTED, "42")
    )

    assert payload == {"status": "Accepted", "data": "42"}
    validate("v16", "DataTransferResponse", payload)


def test_data_transfer_answer_without_data() -> None:
    payload = adapter.encode(
        "DataTransfer", c.DataTransferAnswer(c.DataTransferStatus.UNKNOWN_VENDOR_ID)
    )

    assert payload == {"status": "UnknownVendorId"}
    validate("v16", "DataTransferResponse", payload)


def test_an_answer_with_no_16_form_is_an_internal_error() -> None:
    with pytest.raises(CallError) as caught:
        adapter.encode("Heartbeat", c.Heartbeat())  # type: ignore[arg-type]

    assert caught.value.code == ErrorCode.INTERNAL_ERROR
