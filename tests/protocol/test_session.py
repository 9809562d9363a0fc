"""The sans-I/O charger session: text in, frames out, events for the gateway to act on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from chargeops.core import charging as c
from chargeops.protocol.errors import ErrorCode
from chargeops.protocol.session import (
    TIMEOUT,
    CallAnswered,
    CallFailed,
    ChargerSession,
    Refused,
    Request,
    StrayAnswer,
)
from chargeops.protocol.v16 import V16Adapter
from chargeops.protocol.validation import validate

NOW = 1000.0
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def session() -> ChargerSession:
    return ChargerSession(V16Adapter(), call_timeout=30.0)


def _sent(session: ChargerSession) -> list[list[Any]]:
    return [orjson.loads(text) for text in session.data_to_send()]


def _call(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return orjson.dumps([2, unique_id, action, payload]).decode()


AUTHORIZE = _call("c-1", "Authorize", {"idTag": "TAG1"})


# --- requests from the charger ----------------------------------------------------------


def test_a_valid_call_becomes_a_request_and_nothing_is_sent_until_it_is_answered(
    session: ChargerSession,
) -> None:
    events = session.receive(AUTHORIZE, NOW)

    assert events == [Request("c-1", "Authorize", c.AuthorizeRequest("TAG1"))]
    assert session.data_to_send() == []


def test_answering_a_request_sends_exactly_one_call_result_with_its_id(
    session: ChargerSession,
) -> None:
    session.receive(AUTHORIZE, NOW)

    session.answer("c-1", c.Authorization(c.AuthorizationStatus.ACCEPTED))

    sent = _sent(session)
    assert sent == [[3, "c-1", {"idTagInfo": {"status": "Accepted"}}]]
    validate("v16", "AuthorizeResponse", sent[0][2])
    assert session.data_to_send() == []


def test_a_boot_notification_round_trip_gives_a_valid_boot_answer(
    session: ChargerSession,
) -> None:
    (event,) = session.receive(
        _call("b-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
        NOW,
    )
    assert isinstance(event, Request)
    assert event.message == c.StationIdentity(vendor="V", model="M")

    session.answer("b-1", c.BootAnswer(c.RegistrationStatus.ACCEPTED, T0, 300))

    assert _sent(session) == [
        [
            3,
            "b-1",
            {"status": "Accepted", "currentTime": "2024-05-01T10:00:00.000Z", "interval": 300},
        ]
    ]


def test_requests_can_be_answered_in_any_order(session: ChargerSession) -> None:
    session.receive(_call("h-1", "Heartbeat", {}), NOW)
    session.receive(_call("h-2", "Heartbeat", {}), NOW)

    session.answer("h-2", c.HeartbeatAnswer(T0))
    session.answer("h-1", c.HeartbeatAnswer(T0))

    assert [frame[1] for frame in _sent(session)] == ["h-2", "h-1"]


def test_answer_error_sends_a_call_error_with_the_request_id(session: ChargerSession) -> None:
    session.receive(AUTHORIZE, NOW)

    session.answer_error("c-1", ErrorCode.INTERNAL_ERROR, "database unavailable")

    assert _sent(session) == [[4, "c-1", "InternalError", "database unavailable", {}]]


def test_a_bad_call_gets_a_call_error_and_a_refused_event(session: ChargerSession) -> None:
    events = session.receive(_call("s-1", "StatusNotification", {"connectorId": 1}), NOW)

    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Refused)
    assert (event.unique_id, event.action, event.code) == (
        "s-1",
        "StatusNotification",
        ErrorCode.FORMATION_VIOLATION,
    )
    sent = _sent(session)
    assert len(sent) == 1
    assert sent[0][:3] == [4, "s-1", "FormationViolation"]
    assert isinstance(sent[0][3], str)
    assert isinstance(sent[0][4], dict)


@pytest.mark.parametrize(
    ("action", "code"),
    [("Teleport", "NotImplemented"), ("Reset", "NotSupported")],
)
def test_an_action_we_do_not_take_is_refused_with_its_code(
    session: ChargerSession, action: str, code: str
) -> None:
    (event,) = session.receive(_call("x-1", action, {}), NOW)

    assert isinstance(event, Refused)
    assert event.code == code
    assert [frame[:3] for frame in _sent(session)] == [[4, "x-1", code]]


def test_truncated_json_with_a_readable_id_is_answered_with_a_formation_violation(
    session: ChargerSession,
) -> None:
    (event,) = session.receive('[2, "abc", "Heartbeat", {', NOW)

    assert isinstance(event, Refused)
    assert event.unique_id == "abc"
    assert [frame[:3] for frame in _sent(session)] == [[4, "abc", "FormationViolation"]]


@pytest.mark.parametrize("text", ["garbage", '{"a": 1}', '[3, "abc"]', "[2, 5"])
def test_a_frame_without_a_usable_id_is_refused_silently(
    session: ChargerSession, text: str
) -> None:
    (event,) = session.receive(text, NOW)

    assert isinstance(event, Refused)
    assert event.unique_id is None
    assert session.data_to_send() == []


def test_a_repeated_id_while_the_first_is_open_is_answered_only_once(
    session: ChargerSession,
) -> None:
    session.receive(AUTHORIZE, NOW)

    (repeat,) = session.receive(AUTHORIZE, NOW + 1)

    assert isinstance(repeat, Refused)
    assert repeat.unique_id == "c-1"
    assert session.data_to_send() == []

    session.answer("c-1", c.Authorization(c.AuthorizationStatus.ACCEPTED))
    sent = _sent(session)
    assert [frame[:2] for frame in sent] == [[3, "c-1"]]


def test_the_same_id_after_its_answer_is_a_new_request(session: ChargerSession) -> None:
    """Chargers resend after a reconnect, sometimes with the same id: it is answered."""
    session.receive(AUTHORIZE, NOW)
    session.answer("c-1", c.Authorization(c.AuthorizationStatus.ACCEPTED))
    session.data_to_send()

    events = session.receive(AUTHORIZE, NOW + 5)

    assert events == [Request("c-1", "Authorize", c.AuthorizeRequest("TAG1"))]


def test_bytes_are_received_like_text(session: ChargerSession) -> None:
    events = session.receive(AUTHORIZE.encode(), NOW)

    assert events == [Request("c-1", "Authorize", c.AuthorizeRequest("TAG1"))]


# --- calls to the charger ---------------------------------------------------------------


def test_send_call_sends_one_call_with_the_id_it_returns(session: ChargerSession) -> None:
    unique_id = session.send_call("Reset", {"type": "Soft"}, NOW)

    assert _sent(session) == [[2, unique_id, "Reset", {"type": "Soft"}]]
    assert 0 < len(unique_id) <= 36
    assert session.next_deadline == NOW + 30.0


def test_each_call_gets_its_own_unique_id(session: ChargerSession) -> None:
    ids = set()
    for _ in range(20):
        unique_id = session.send_call("ClearCache", {}, NOW)
        session.receive(orjson.dumps([3, unique_id, {"status": "Accepted"}]), NOW)
        ids.add(unique_id)

    assert len(ids) == 20


def test_a_second_call_waits_until_the_first_is_answered(session: ChargerSession) -> None:
    first = session.send_call("Reset", {"type": "Soft"}, NOW)
    session.data_to_send()

    second = session.send_call("ClearCache", {}, NOW + 1)

    assert session.data_to_send() == []

    events = session.receive(orjson.dumps([3, first, {"status": "Accepted"}]), NOW + 2)

    assert events == [CallAnswered(first, "Reset", {"status": "Accepted"})]
    assert _sent(session) == [[2, second, "ClearCache", {}]]
    assert session.next_deadline == NOW + 2 + 30.0


def test_queued_calls_go_out_one_at_a_time_in_order(session: ChargerSession) -> None:
    ids = [session.send_call("TriggerMessage", {"requestedMessage": m}, NOW) for m in "ABC"]
    sent_order = []
    for _ in ids:
        (frame,) = _sent(session)
        sent_order.append(frame[1])
        session.receive(orjson.dumps([3, frame[1], {"status": "Accepted"}]), NOW)

    assert sent_order == ids
    assert session.data_to_send() == []
    assert session.next_deadline is None


def test_a_call_error_fails_the_call_with_its_code_and_description(
    session: ChargerSession,
) -> None:
    unique_id = session.send_call("Reset", {"type": "Hard"}, NOW)
    session.data_to_send()

    events = session.receive(
        orjson.dumps([4, unique_id, "NotSupported", "no hard reset", {"why": "policy"}]), NOW + 1
    )

    assert events == [
        CallFailed(unique_id, "Reset", "NotSupported", "no hard reset", {"why": "policy"})
    ]


def test_a_call_error_releases_the_next_call(session: ChargerSession) -> None:
    first = session.send_call("Reset", {"type": "Hard"}, NOW)
    second = session.send_call("ClearCache", {}, NOW)
    session.data_to_send()

    session.receive(orjson.dumps([4, first, "GenericError", "", {}]), NOW + 1)

    assert [frame[:3] for frame in _sent(session)] == [[2, second, "ClearCache"]]


def test_expire_before_the_deadline_does_nothing(session: ChargerSession) -> None:
    session.send_call("Reset", {"type": "Soft"}, NOW)
    session.data_to_send()

    assert session.expire(NOW + 29.9) == []
    assert session.data_to_send() == []
    assert session.next_deadline == NOW + 30.0


def test_a_call_without_answer_in_time_fails_with_timeout_and_releases_the_next(
    session: ChargerSession,
) -> None:
    first = session.send_call("Reset", {"type": "Soft"}, NOW)
    second = session.send_call("ClearCache", {}, NOW)
    session.data_to_send()

    events = session.expire(NOW + 30.0)

    assert len(events) == 1
    failed = events[0]
    assert isinstance(failed, CallFailed)
    assert (failed.unique_id, failed.action, failed.code) == (first, "Reset", TIMEOUT)
    assert failed.code == "Timeout"
    assert [frame[:3] for frame in _sent(session)] == [[2, second, "ClearCache"]]
    assert session.next_deadline == NOW + 60.0


def test_expire_without_a_call_in_flight_does_nothing(session: ChargerSession) -> None:
    assert session.expire(NOW) == []
    assert session.next_deadline is None


def test_an_answer_with_an_unknown_id_is_stray_and_leaves_the_call_open(
    session: ChargerSession,
) -> None:
    unique_id = session.send_call("Reset", {"type": "Soft"}, NOW)
    session.data_to_send()

    assert session.receive('[3, "nobody", {}]', NOW + 1) == [StrayAnswer("nobody")]
    assert session.receive('[4, "nobody", "GenericError", "", {}]', NOW + 1) == [
        StrayAnswer("nobody")
    ]
    assert session.data_to_send() == []

    events = session.receive(orjson.dumps([3, unique_id, {"status": "Accepted"}]), NOW + 2)
    assert events == [CallAnswered(unique_id, "Reset", {"status": "Accepted"})]


def test_an_answer_when_no_call_is_in_flight_is_stray(session: ChargerSession) -> None:
    assert session.receive('[3, "x", {}]', NOW) == [StrayAnswer("x")]
    assert session.data_to_send() == []


def test_a_late_answer_after_a_timeout_is_stray(session: ChargerSession) -> None:
    first = session.send_call("Reset", {"type": "Soft"}, NOW)
    second = session.send_call("ClearCache", {}, NOW)
    session.expire(NOW + 31)
    session.data_to_send()

    late = session.receive(orjson.dumps([3, first, {"status": "Accepted"}]), NOW + 32)

    assert late == [StrayAnswer(first)]
    # the call now in flight is not disturbed by the late answer
    events = session.receive(orjson.dumps([3, second, {"status": "Accepted"}]), NOW + 33)
    assert events == [CallAnswered(second, "ClearCache", {"status": "Accepted"})]


def test_an_answer_to_our_call_does_not_disturb_an_open_charger_request(
    session: ChargerSession,
) -> None:
    session.receive(AUTHORIZE, NOW)
    unique_id = session.send_call("Reset", {"type": "Soft"}, NOW)
    assert [frame[0] for frame in _sent(session)] == [2]

    session.receive(orjson.dumps([3, unique_id, {"status": "Accepted"}]), NOW + 1)
    session.answer("c-1", c.Authorization(c.AuthorizationStatus.INVALID))

    assert _sent(session) == [[3, "c-1", {"idTagInfo": {"status": "Invalid"}}]]


def test_the_session_reports_its_ocpp_version(session: ChargerSession) -> None:
    assert session.version == "1.6"
