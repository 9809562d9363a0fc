"""Who may open an OCPP connection: known stations, their passwords, unknown-station policy.

OCPP security profile 1: HTTP Basic auth, user = station id. A station registered with a
password must present it; one registered without may connect bare. Verifying a scrypt
hash is deliberately slow, so a verified password is remembered (as a digest) for the
life of the process: a reconnect storm then costs microseconds a station.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from sqlalchemy.ext.asyncio import AsyncSession

from chargeops.core.errors import InvalidInput
from chargeops.stations import service as stations
from chargeops.stations.passwords import verify_password

log = logging.getLogger(__name__)


class UnknownStations(enum.StrEnum):
    """What a station that is not registered gets when it connects."""

    ACCEPT = "accept"  # registered on the spot and accepted at boot
    PENDING = "pending"  # registered as pending: connected, booted Pending, may not charge
    REJECT = "reject"  # the WebSocket handshake is refused


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    status: HTTPStatus = HTTPStatus.OK
    reason: str = ""
    auto_register: str | None = None  # registration to create an unknown station with

    @classmethod
    def refuse(cls, status: HTTPStatus, reason: str) -> Decision:
        return cls(False, status, reason)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


class Admission:
    def __init__(self, sessions: Callable[[], AsyncSession], unknown: UnknownStations) -> None:
        self._sessions = sessions
        self._unknown = unknown
        self._verified: dict[str, tuple[str, bytes]] = {}  # id -> (stored hash, digest)

    async def admit(self, station_id: str, authorization: str | None) -> Decision:
        try:
            stations.validate_station_id(station_id)
        except InvalidInput as exc:
            return Decision.refuse(HTTPStatus.BAD_REQUEST, exc.detail)
        async with self._sessions() as session:
            check = await stations.connect_check(session, station_id)
        if not check.exists:
            if self._unknown is UnknownStations.REJECT:
                return Decision.refuse(
                    HTTPStatus.NOT_FOUND, f"station {station_id} is not registered"
                )
            registration = "accepted" if self._unknown is UnknownStations.ACCEPT else "pending"
            return Decision(True, auto_register=registration)
        if check.password_hash is None:
            return Decision(True)
        credentials = parse_basic(authorization)
        if credentials is None:
            return Decision.refuse(
                HTTPStatus.UNAUTHORIZED, "this station must authenticate (HTTP Basic)"
            )
        user, password = credentials
        if user != station_id:
            return Decision.refuse(
                HTTPStatus.UNAUTHORIZED, "the Basic auth user must be the station id"
            )
        if not await self._password_ok(station_id, password, check.password_hash):
            return Decision.refuse(HTTPStatus.UNAUTHORIZED, "wrong password")
        return Decision(True)

    async def _password_ok(self, station_id: str, password: str, stored: str) -> bool:
        digest = hashlib.sha256(f"{station_id}\0{password}".encode()).digest()
        cached = self._verified.get(station_id)
        if cached is not None and cached[0] == stored:
            return cached[1] == digest
        ok = await asyncio.to_thread(verify_password, password, stored)
        if ok:
            self._verified[station_id] = (stored, digest)
        return ok
