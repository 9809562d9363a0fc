"""OCPP-J framing: what a charger's text becomes, and what we put on the wire."""

from __future__ import annotations

import orjson
import pytest

from chargeops.protocol import frames
from chargeops.protocol.errors import ErrorCode
from chargeops.protocol.frames import BadFrame, Call, CallErrorFrame, CallResult

# --- well-formed frames -----------------------------------------------------------------


def test_a_call_is_read_with_its_id_action_and_payload() -> None:
    frame = frames.parse('[2, "19223201", "Authorize", {"idTag": "ABC123"}]')

    assert frame == Call("19223201", "Authorize", {"idTag": "ABC123"})


def test_a_call_result_is_read_with_its_id_and_payload() -> None:
    frame = frames.parse('[3, "19223201", {"status": "Accepted"}]')

    assert frame == CallResult("19223201", {"status": "Accepted"})


def test_a_call_error_is_read_with_code_description_and_details() -> None:
    frame = frames.parse(
        '[4, "19223201", "NotSupported", "Reset is not supported", {"hint": "upgrade"}]'
    )

    assert frame == CallErrorFrame(
        "19223201", "NotSupported", "Reset is not supported", {"hint": "upgrade"}
    )


def test_a_call_error_whose_details_are_not_an_object_gets_empty_details() -> None:
    frame = frames.parse('[4, "19223201", "GenericError", "boom", "not an object"]')

    assert frame == CallErrorFrame("19223201", "GenericError", "boom", {})


def test_a_frame_given_as_bytes_is_read_like_text() -> None:
    frame = frames.parse(b'[2, "b1", "Heartbeat", {}]')

    assert frame == Call("b1", "Heartbeat", {})


def test_a_unique_id_of_exactly_36_characters_is_accepted() -> None:
    unique_id = "a" * 36

    assert frames.parse(f'[2, "{unique_id}", "Heartbeat", {{}}]') == Call(
        unique_id, "Heartbeat", {}
    )


# --- broken frames ----------------------------------------------------------------------


def test_truncated_json_with_a_readable_call_id_can_still_be_answered() -> None:
    frame = frames.parse('[2, "abc", "Heartbeat", {')

    assert isinstance(frame, BadFrame)
    assert frame.unique_id == "abc"
    assert frame.code == ErrorCode.RPC_FRAMEWORK_ERROR  # 1.6 says FormationViolation


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "",
        "[2, ",
        '[3, "abc", {',  # an answer is never answered, even when its id is readable
        '[2, "' + "x" * 37 + '", "Heartbeat", {',
        b"\xff\xfe[2",
    ],
)
def test_text_that_is_not_json_and_has_no_usable_call_id_cannot_be_answered(
    text: str | bytes,
) -> None:
    frame = frames.parse(text)

    assert isinstance(frame, BadFrame)
    assert frame.unique_id is None


@pytest.mark.parametrize(
    "text", ['{"action": "Heartbeat"}', '"Heartbeat"', "42", "null", "[]", "true"]
)
def test_json_that_is_not_an_array_is_a_bad_frame_without_an_id(text: str) -> None:
    frame = frames.parse(text)

    assert isinstance(frame, BadFrame)
    assert frame.unique_id is None


def test_an_unknown_message_type_is_refused_addressed_to_its_id() -> None:
    frame = frames.parse('[5, "abc", "Heartbeat", {}]')

    assert isinstance(frame, BadFrame)
    assert frame.unique_id == "abc"
    assert frame.code == ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED  # 1.6 says ProtocolError


def test_a_message_type_given_as_a_string_is_not_taken_for_a_call() -> None:
    frame = frames.parse('["2", "abc", "Heartbeat", {}]')

    assert isinstance(frame, BadFrame)


def test_a_call_without_payload_is_an_rpc_error_addressed_to_its_id() -> None:
    frame = frames.parse('[2, "abc", "Heartbeat"]')

    assert isinstance(frame, BadFrame)
    assert frame.unique_id == "abc"
    assert frame.code == ErrorCode.RPC_FRAMEWORK_ERROR  # 1.6 says FormationViolation


@pytest.mark.parametrize("payload", ["[]", '"{}"', "null", "1"])
def test_a_call_whose_payload_is_not_an_object_is_refused(payload: str) -> None:
    frame = frames.parse(f'[2, "abc", "Heartbeat", {payload}]')

    assert isinstance(frame, BadFrame)
    assert frame.unique_id == "abc"
    assert frame.code == ErrorCode.FORMATION_VIOLATION


def test_a_call_whose_action_is_not_a_string_is_refused() -> None:
    frame = frames.parse('[2, "abc", 7, {}]')

    assert isinstance(frame, BadFrame)
    assert frame.unique_id == "abc"


def test_a_call_with_extra_elements_is_refused() -> None:
    frame = frames.parse('[2, "abc", "Heartbeat", {}, {}]')

    assert isinstance(frame, BadFrame)
    assert frame.unique_id == "abc"


@pytest.mark.parametrize(
    "text",
    [
        '[2, "' + "x" * 37 + '", "Heartbeat", {}]',
        '[2, "", "Heartbeat", {}]',
        '[2, 12345, "Heartbeat", {}]',
        "[2]",
    ],
)
def test_a_call_without_a_valid_unique_id_cannot_be_answered(text: str) -> None:
    frame = frames.parse(text)

    assert isinstance(frame, BadFrame)
    assert frame.unique_id is None


@pytest.mark.parametrize(
    "text",
    [
        '[3, "abc"]',
        '[3, "abc", []]',
        '[3, "abc", {}, {}]',
        '[4, "abc", "GenericError"]',
    ],
)
def test_a_malformed_answer_is_never_answered(text: str) -> None:
    """A CALLRESULT or CALLERROR is never answered with a CALLERROR (OCPP-J 4.2)."""
    frame = frames.parse(text)

    assert isinstance(frame, BadFrame)
    assert frame.unique_id is None


# --- serialisation ----------------------------------------------------------------------


def test_a_call_is_serialised_as_a_compact_four_element_array() -> None:
    text = frames.call("42", "Reset", {"type": "Soft"})

    assert orjson.loads(text) == [2, "42", "Reset", {"type": "Soft"}]


def test_a_call_result_is_serialised_as_a_three_element_array() -> None:
    text = frames.call_result("42", {"currentTime": "2024-01-01T00:00:00.000Z"})

    assert orjson.loads(text) == [3, "42", {"currentTime": "2024-01-01T00:00:00.000Z"}]


def test_a_call_error_always_carries_a_details_object() -> None:
    text = frames.call_error("42", ErrorCode.NOT_IMPLEMENTED, "unknown action")

    assert orjson.loads(text) == [4, "42", "NotImplemented", "unknown action", {}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            frames.call("id-1", "DataTransfer", {"vendorId": "Ünïcode", "data": "ä€😀"}),
            Call("id-1", "DataTransfer", {"vendorId": "Ünïcode", "data": "ä€😀"}),
        ),
        (
            frames.call_result("id-2", {"status": "Accepted", "interval": 300}),
            CallResult("id-2", {"status": "Accepted", "interval": 300}),
        ),
        (
            frames.call_error("id-3", "FormationViolation", "bad", {"field": "idTag"}),
            CallErrorFrame("id-3", "FormationViolation", "bad", {"field": "idTag"}),
        ),
        (
            frames.call_error("id-4", "GenericError", "", None),
            CallErrorFrame("id-4", "GenericError", "", {}),
        ),
    ],
)
def test_what_we_serialise_parses_back_to_the_same_frame(text: str, expected: object) -> None:
    assert frames.parse(text) == expected
