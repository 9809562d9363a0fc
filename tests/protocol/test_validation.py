"""Schema validation: each way a payload can be wrong maps to its OCPP-J CALLERROR code."""

from __future__ import annotations

from typing import Any

import pytest

from chargeops.protocol.errors import CallError, ErrorCode
from chargeops.protocol.validation import validate


def _meter_values(sampled_value: dict[str, Any]) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [{"timestamp": "2024-05-01T10:00:00Z", "sampledValue": [sampled_value]}],
    }


def _refusal(version: str, schema: str, payload: dict[str, Any]) -> CallError:
    with pytest.raises(CallError) as caught:
        validate(version, schema, payload)
    return caught.value


def test_a_payload_that_fits_its_schema_passes() -> None:
    validate(
        "v16",
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "ABC",
            "meterStart": 0,
            "timestamp": "2024-05-01T10:00:00Z",
            "reservationId": 7,
        },
    )


def test_a_schema_that_does_not_exist_is_not_implemented() -> None:
    error = _refusal("v16", "NoSuchAction", {})

    assert error.code == ErrorCode.NOT_IMPLEMENTED


def test_a_value_of_the_wrong_type_is_a_type_constraint_violation_naming_the_field() -> None:
    error = _refusal(
        "v16",
        "StatusNotification",
        {"connectorId": "1", "status": "Available", "errorCode": "NoError"},
    )

    assert error.code == ErrorCode.TYPE_CONSTRAINT_VIOLATION
    assert error.details["field"] == "connectorId"


def test_a_string_longer_than_its_type_allows_is_a_type_constraint_violation() -> None:
    error = _refusal("v16", "Authorize", {"idTag": "X" * 21})

    assert error.code == ErrorCode.TYPE_CONSTRAINT_VIOLATION
    assert error.details["field"] == "idTag"


def test_a_value_outside_its_enumeration_is_a_property_constraint_violation() -> None:
    error = _refusal(
        "v16", "StatusNotification", {"connectorId": 1, "status": "Bogus", "errorCode": "NoError"}
    )

    assert error.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert error.details["field"] == "status"


def test_a_missing_required_field_is_a_formation_violation() -> None:
    error = _refusal("v16", "StatusNotification", {"connectorId": 1, "status": "Available"})

    assert error.code == ErrorCode.FORMATION_VIOLATION
    assert "errorCode" in error.description


def test_an_unknown_extra_property_is_a_formation_violation() -> None:
    error = _refusal("v16", "Heartbeat", {"uptime": 5})

    assert error.code == ErrorCode.FORMATION_VIOLATION
    assert "uptime" in error.description


def test_an_empty_list_where_one_item_is_required_is_an_occurence_violation() -> None:
    error = _refusal("v16", "MeterValues", {"connectorId": 1, "meterValue": []})

    assert error.code == ErrorCode.OCCURENCE_CONSTRAINT_VIOLATION
    assert error.details["field"] == "meterValue"


def test_a_nested_error_names_the_path_to_the_field() -> None:
    error = _refusal("v16", "MeterValues", _meter_values({"value": "1", "unit": "Joule"}))

    assert error.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert error.details["field"] == "meterValue[0].sampledValue[0].unit"


@pytest.mark.parametrize(
    "timestamp", ["2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00", "2024-05-01T10:00:00.5Z"]
)
def test_timestamp_forms_seen_in_the_field_pass_schema_validation(timestamp: str) -> None:
    """Timestamps are parsed leniently by the adapter, not refused by the schema."""
    validate(
        "v16",
        "StatusNotification",
        {"connectorId": 1, "status": "Available", "errorCode": "NoError", "timestamp": timestamp},
    )


@pytest.mark.parametrize("fmt", ["Raw", "SignedData"])
def test_a_sampled_value_may_carry_its_format(fmt: str) -> None:
    """SampledValue.format is a property of the 1.6 schema (Raw | SignedData)."""
    validate("v16", "MeterValues", _meter_values({"value": "AB01", "format": fmt}))


def test_a_sampled_value_in_stop_transaction_may_carry_its_format() -> None:
    validate(
        "v16",
        "StopTransaction",
        {
            "transactionId": 1,
            "meterStop": 100,
            "timestamp": "2024-05-01T10:00:00Z",
            "transactionData": [
                {
                    "timestamp": "2024-05-01T10:00:00Z",
                    "sampledValue": [{"value": "OCMF|{}|{}", "format": "SignedData"}],
                }
            ],
        },
    )


def test_a_sampled_value_with_an_unknown_format_is_refused() -> None:
    error = _refusal("v16", "MeterValues", _meter_values({"value": "1", "format": "Base64"}))

    assert error.code == ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def test_a_201_message_with_a_format_property_validates() -> None:
    """2.0.1 MessageContentType has a required ``format`` property."""
    validate(
        "v201",
        "NotifyDisplayMessagesRequest",
        {
            "requestId": 1,
            "messageInfo": [
                {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "hi"}}
            ],
        },
    )


def test_a_201_payload_is_validated_against_its_own_schema() -> None:
    validate(
        "v201",
        "BootNotificationRequest",
        {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}},
    )
    error = _refusal(
        "v201", "BootNotificationRequest", {"reason": "PowerUp", "chargingStation": {"model": "M"}}
    )
    assert error.code == ErrorCode.FORMATION_VIOLATION
