"""A charger session, sans-I/O: text in, frames out, events for the caller to act on.

The gateway feeds every received text frame to :meth:`ChargerSession.receive` and sends
whatever :meth:`data_to_send` returns. Requests from the charger come out as
:class:`Request` events, already validated and translated into the version-neutral
vocabulary of :mod:`chargeops.core.charging`; the caller answers each with
:meth:`answer` or :meth:`answer_error`. Calls we send to the charger are correlated by
unique id, one outstanding at a time (an OCPP-J rule), with timeouts computed from the
``now`` values the caller passes in, so all of this is testable without sockets or
clocks.
"""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from chargeops.core.charging import ChargerAnswer, ChargerRequest
from chargeops.core.commands import CommandAnswer, CommandRequest
from chargeops.protocol import frames
from chargeops.protocol.errors import CallError, ErrorCode


class Adapter(Protocol):
    """Translation between one OCPP version's payloads and the neutral vocabulary."""

    version: str  # "1.6", "2.0.1", "2.1"
    subprotocol: str  # the WebSocket subprotocol that selects it: "ocpp1.6"...
    actions: frozenset[str]  # the requests a charger may send in this version

    def decode(self, action: str, payload: dict[str, Any]) -> ChargerRequest:
        """Validate and translate a CALL's payload; raise CallError if it is not right."""
        ...

    def encode(self, action: str, answer: ChargerAnswer) -> dict[str, Any]:
        """The CALLRESULT payload for ``answer`` to a CALL of ``action``."""
        ...

    def error_code(self, code: str) -> str:
        """This version's word for an :class:`ErrorCode` (2.0.1 renamed some)."""
        ...

    def command(self, request: CommandRequest) -> tuple[str, dict[str, Any]]:
        """The CALL (action, payload) for an operator's command; InvalidInput if its
        arguments do not make a valid one."""
        ...

    def command_answer(
        self, request: CommandRequest, action: str, payload: dict[str, Any]
    ) -> CommandAnswer:
        """What the charger's CALLRESULT to that CALL means for the command."""
        ...


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """The charger asks something; answer it with ``answer`` or ``answer_error``."""

    unique_id: str
    action: str
    message: ChargerRequest


@dataclass(frozen=True, slots=True)
class Refused:
    """A frame we could not accept. A CALLERROR was queued when the unique id could be
    read, except for a repeat of a CALL still being handled (answered once, later)."""

    unique_id: str | None
    action: str | None
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class CallAnswered:
    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallFailed:
    """Our CALL got a CALLERROR, or no answer in time (``code == "Timeout"``)."""

    unique_id: str
    action: str
    code: str
    description: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StrayAnswer:
    """An answer to no call of ours (late, after a timeout, or simply wrong)."""

    unique_id: str


SessionEvent = Request | Refused | CallAnswered | CallFailed | StrayAnswer

TIMEOUT = "Timeout"


@dataclass(slots=True)
class _OutboundCall:
    unique_id: str
    action: str
    payload: dict[str, Any]
    deadline: float = 0.0


class ChargerSession:
    def __init__(self, adapter: Adapter, *, call_timeout: float = 30.0) -> None:
        self.adapter = adapter
        self.call_timeout = call_timeout
        self._outgoing: list[str] = []
        self._in_flight: _OutboundCall | None = None
        self._queued: deque[_OutboundCall] = deque()
        self._open_requests: dict[str, str] = {}  # unique id -> action, awaiting our answer
        self._ids = (f"{uuid.uuid4().hex[:8]}-{n}" for n in itertools.count(1))

    @property
    def version(self) -> str:
        return self.adapter.version

    # --- input ----------------------------------------------------------------------

    def receive(self, text: str | bytes, now: float) -> list[SessionEvent]:
        frame = frames.parse(text)
        if isinstance(frame, frames.Call):
            return [self._receive_call(frame)]
        if isinstance(frame, frames.CallResult):
            return self._receive_answer(frame.unique_id, frame, now)
        if isinstance(frame, frames.CallErrorFrame):
            return self._receive_answer(frame.unique_id, frame, now)
        code = self.adapter.error_code(frame.code)
        if frame.unique_id is not None:
            self._outgoing.append(frames.call_error(frame.unique_id, code, frame.reason))
        return [Refused(frame.unique_id, None, code, frame.reason)]

    def _receive_call(self, frame: frames.Call) -> SessionEvent:
        if frame.unique_id in self._open_requests:
            # A well-behaved charger waits for our answer; a repeat of the same id while
            # we are still working on it adds nothing, and we answer it once.
            return Refused(
                frame.unique_id,
                frame.action,
                ErrorCode.PROTOCOL_ERROR,
                "a CALL with this unique id is already being handled",
            )
        try:
            message = self.adapter.decode(frame.action, frame.payload)
        except CallError as exc:
            code = self.adapter.error_code(exc.code)
            self._outgoing.append(
                frames.call_error(frame.unique_id, code, exc.description, exc.details)
            )
            return Refused(frame.unique_id, frame.action, code, exc.description)
        self._open_requests[frame.unique_id] = frame.action
        return Request(frame.unique_id, frame.action, message)

    def _receive_answer(
        self, unique_id: str, frame: frames.CallResult | frames.CallErrorFrame, now: float
    ) -> list[SessionEvent]:
        call = self._in_flight
        if call is None or call.unique_id != unique_id:
            return [StrayAnswer(unique_id)]
        self._in_flight = None
        event: SessionEvent
        if isinstance(frame, frames.CallResult):
            event = CallAnswered(unique_id, call.action, frame.payload)
        else:
            event = CallFailed(unique_id, call.action, frame.code, frame.description, frame.details)
        self._send_next(now)
        return [event]

    # --- answering the charger ------------------------------------------------------

    def answer(self, unique_id: str, answer: ChargerAnswer) -> None:
        action = self._open_requests.pop(unique_id)
        try:
            payload = self.adapter.encode(action, answer)
        except CallError as exc:
            code = self.adapter.error_code(exc.code)
            self._outgoing.append(frames.call_error(unique_id, code, exc.description))
            return
        self._outgoing.append(frames.call_result(unique_id, payload))

    def answer_error(self, unique_id: str, code: str, description: str) -> None:
        self._open_requests.pop(unique_id, None)
        self._outgoing.append(
            frames.call_error(unique_id, self.adapter.error_code(code), description)
        )

    # --- calling the charger --------------------------------------------------------

    def send_call(self, action: str, payload: dict[str, Any], now: float) -> str:
        """Queue a CALL; it goes out when no other CALL of ours awaits an answer."""
        call = _OutboundCall(next(self._ids), action, payload)
        self._queued.append(call)
        if self._in_flight is None:
            self._send_next(now)
        return call.unique_id

    def expire(self, now: float) -> list[SessionEvent]:
        """Fail the CALL in flight if its deadline passed; call this periodically."""
        call = self._in_flight
        if call is None or now < call.deadline:
            return []
        self._in_flight = None
        self._send_next(now)
        return [
            CallFailed(
                call.unique_id,
                call.action,
                TIMEOUT,
                f"no answer within {self.call_timeout:g} s",
                {},
            )
        ]

    @property
    def next_deadline(self) -> float | None:
        return None if self._in_flight is None else self._in_flight.deadline

    def _send_next(self, now: float) -> None:
        if self._in_flight is not None or not self._queued:
            return
        call = self._queued.popleft()
        call.deadline = now + self.call_timeout
        self._in_flight = call
        self._outgoing.append(frames.call(call.unique_id, call.action, call.payload))

    # --- output ---------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        out, self._outgoing = self._outgoing, []
        return out
