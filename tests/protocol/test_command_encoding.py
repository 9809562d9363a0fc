"""Commands in our words become each version's CALL (checked against its schema), and an
argument an operator gets wrong is named in the error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chargeops.core.clock import format_timestamp, parse_timestamp, utcnow
from chargeops.core.commands import CommandName, CommandRequest, CommandStatus
from chargeops.core.errors import InvalidInput
from chargeops.protocol.v16 import V16Adapter
from chargeops.protocol.v201 import V201Adapter

V16 = V16Adapter()
V201 = V201Adapter()


def encode(adapter: Any, name: str, **arguments: Any) -> tuple[str, dict[str, Any]]:
    action, payload = adapter.command(CommandRequest(CommandName(name), arguments))
    return str(action), payload


def refusal(adapter: Any, name: str, **arguments: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        encode(adapter, name, **arguments)
    return caught.value.detail


def test_a_power_limit_becomes_a_charging_profile_in_each_version() -> None:
    action, p16 = encode(V16, "set_charging_profile", limit=11000, evse_id=0, purpose="station_max")
    assert action == "SetChargingProfile" and p16["connectorId"] == 0
    profile = p16["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert profile["chargingSchedule"]["chargingRateUnit"] == "W"
    assert profile["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 11000}
    ]
    _, p201 = encode(V201, "set_charging_profile", limit="16.5", unit="A", evse_id=1)
    profile = p201["chargingProfile"]
    assert p201["evseId"] == 1
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    (schedule,) = profile["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.5}]


def test_a_session_limit_names_the_transaction() -> None:
    _, p16 = encode(
        V16, "set_charging_profile", limit=7400, evse_id=1, transaction_id="42", purpose="tx"
    )
    assert p16["csChargingProfiles"]["transactionId"] == 42
    assert p16["csChargingProfiles"]["chargingProfilePurpose"] == "TxProfile"
    _, p201 = encode(
        V201, "set_charging_profile", limit=7400, evse_id=1, transaction_id="TX-9", purpose="tx"
    )
    assert p201["chargingProfile"]["transactionId"] == "TX-9"
    assert "transaction_id" in refusal(V16, "set_charging_profile", limit=1, purpose="tx")


def test_a_full_charging_profile_is_passed_on_but_must_fit_the_schema() -> None:
    profile = {
        "chargingProfileId": 3,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32}],
        },
    }
    _, payload = encode(V16, "set_charging_profile", evse_id=1, charging_profile=profile)
    assert payload["csChargingProfiles"] == profile
    broken = {**profile, "chargingProfileKind": "Sometimes"}
    assert "SetChargingProfile" in refusal(
        V16, "set_charging_profile", evse_id=1, charging_profile=broken
    )


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"limit": -5}, "limit"),
        ({"limit": "lots"}, "limit"),
        ({"limit": 10, "unit": "kW"}, "unit"),
        ({"limit": 10, "purpose": "max"}, "purpose"),
        ({"limit": 10, "colour": "red"}, "colour"),
    ],
)
def test_bad_limits_are_named(arguments: dict[str, Any], named: str) -> None:
    assert named in refusal(V201, "set_charging_profile", **arguments)
    assert named in refusal(V16, "set_charging_profile", **arguments)


def test_a_reservation_expires_half_an_hour_ahead_unless_told() -> None:
    _, p16 = encode(V16, "reserve_now", id_tag="CARD-1", evse_id=2, reservation_id=12)
    assert p16["connectorId"] == 2 and p16["reservationId"] == 12 and p16["idTag"] == "CARD-1"
    ahead = parse_timestamp(p16["expiryDate"]) - utcnow()
    assert timedelta(minutes=29) < ahead <= timedelta(minutes=30)
    until = format_timestamp(utcnow() + timedelta(hours=2))
    _, p201 = encode(V201, "reserve_now", id_tag="APP-1", expires_at=until, parent_id_tag="FLEET")
    assert p201["expiryDateTime"] == until and p201["id"] > 0
    assert p201["idToken"] == {"idToken": "APP-1", "type": "Central"}
    assert p201["groupIdToken"]["idToken"] == "FLEET"
    assert "future" in refusal(V16, "reserve_now", id_tag="X", expires_at="2020-01-01T00:00:00Z")


def test_a_local_list_carries_each_tokens_status_in_each_versions_words() -> None:
    tokens = [
        {"id_tag": "CARD-1"},
        {"id_tag": "CARD-2", "status": "blocked", "expires_at": "2027-01-01T00:00:00Z"},
        {"id_tag": "CARD-3", "status": "remove"},
    ]
    _, p16 = encode(V16, "send_local_list", version=4, update="differential", tokens=tokens)
    assert p16["updateType"] == "Differential" and p16["listVersion"] == 4
    assert p16["localAuthorizationList"] == [
        {"idTag": "CARD-1", "idTagInfo": {"status": "Accepted"}},
        {
            "idTag": "CARD-2",
            "idTagInfo": {"status": "Blocked", "expiryDate": "2027-01-01T00:00:00.000Z"},
        },
        {"idTag": "CARD-3"},  # no info: taken off the list
    ]
    _, p201 = encode(V201, "send_local_list", version=4, tokens=tokens[:2])
    assert p201["updateType"] == "Full"
    assert p201["localAuthorizationList"][1] == {
        "idToken": {"idToken": "CARD-2", "type": "ISO14443"},
        "idTokenInfo": {"status": "Blocked", "cacheExpiryDateTime": "2027-01-01T00:00:00.000Z"},
    }
    assert "differential" in refusal(V16, "send_local_list", version=1, tokens=tokens)
    assert "status" in refusal(
        V201, "send_local_list", version=1, tokens=[{"id_tag": "A", "status": "maybe"}]
    )


def test_clearing_profiles_and_reading_the_schedule() -> None:
    assert encode(V16, "clear_charging_profile") == ("ClearChargingProfile", {})
    _, p16 = encode(V16, "clear_charging_profile", evse_id=1, purpose="tx_default")
    assert p16 == {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"}
    _, p201 = encode(V201, "clear_charging_profile", profile_id=5, evse_id=1)
    assert p201 == {"chargingProfileId": 5, "chargingProfileCriteria": {"evseId": 1}}
    _, p16 = encode(V16, "get_composite_schedule", evse_id=1, unit="a")
    assert p16 == {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}
    _, p201 = encode(V201, "get_composite_schedule", duration_s=600)
    assert p201 == {"evseId": 0, "duration": 600}


def test_diagnostics_and_logs_ask_for_a_time_window() -> None:
    _, p16 = encode(
        V16,
        "get_diagnostics",
        location="https://csms.example.com/uploads/t",
        start_at="2026-11-21T00:00:00Z",
        retries=3,
    )
    assert p16 == {
        "location": "https://csms.example.com/uploads/t",
        "startTime": "2026-11-21T00:00:00.000Z",
        "retries": 3,
    }
    _, p201 = encode(V201, "get_diagnostics", location="https://x/u", stop_at="2026-11-22T00:00Z")
    assert p201["logType"] == "DiagnosticsLog"
    assert p201["log"] == {
        "remoteLocation": "https://x/u",
        "latestTimestamp": "2026-11-22T00:00:00.000Z",
    }
    assert "log_type" in refusal(V16, "get_diagnostics", location="https://x", log_type="security")
    assert "stop_at" in refusal(V201, "get_diagnostics", location="https://x", stop_at="yesterday")


def test_answers_without_a_status_word_are_read_for_what_they_hold() -> None:
    def outcome(adapter: Any, name: str, action: str, payload: dict[str, Any], **args: Any) -> Any:
        request = CommandRequest(CommandName(name), args)
        return adapter.command_answer(request, action, payload)

    assert (
        outcome(V16, "get_local_list_version", "GetLocalListVersion", {"listVersion": -1}).status
        is CommandStatus.REJECTED
    )
    assert (
        outcome(V16, "get_local_list_version", "GetLocalListVersion", {"listVersion": 0}).status
        is CommandStatus.ACCEPTED
    )
    assert outcome(V16, "get_diagnostics", "GetDiagnostics", {}).status is CommandStatus.REJECTED
    config = outcome(
        V16,
        "get_configuration",
        "GetConfiguration",
        {
            "configurationKey": [
                {"key": "MeterValueSampleInterval", "readonly": True, "value": "60"}
            ]
        },
    )
    (learned,) = config.variables
    assert (learned.component, learned.variable, learned.value, learned.mutability) == (
        "OCPP16",
        "MeterValueSampleInterval",
        "60",
        "ReadOnly",
    )
    canceled = outcome(V201, "update_firmware", "UpdateFirmware", {"status": "AcceptedCanceled"})
    assert canceled.status is CommandStatus.ACCEPTED
    refused = outcome(
        V201,
        "reset",
        "Reset",
        {"status": "Rejected", "statusInfo": {"reasonCode": "TxInProgress"}},
    )
    assert refused.status is CommandStatus.REJECTED and "TxInProgress" in (refused.detail or "")
