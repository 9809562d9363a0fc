"""A fleet of simulated stations: configuration, connections, reconnects and a clean stop.

``run_fleet`` keeps every station connected until ``stop`` is set. Each station holds its
own WebSocket (``{url}/{station_id}``, HTTP Basic auth when a password is set) and
reconnects with exponential backoff and jitter when the CSMS goes away, so a restarted
server sees the fleet come back without a thundering herd.

A fleet speaks one OCPP version, or, with ``ocpp_version="mixed"``, every supported
version by turns (station 1 speaks 1.6, station 2 speaks 2.0.1, station 3 speaks 1.6...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.headers import build_authorization_basic
from websockets.typing import Subprotocol

from chargeops.simulator import v16, v201
from chargeops.simulator.station import (
    CsmsLink,
    SessionEnd,
    Station,
    StationSpec,
    Timing,
)
from chargeops.simulator.versions import MIXED, SUPPORTED_OCPP_VERSIONS

logger = logging.getLogger("chargeops.simulator")

#: Fewer keepalive pings than the ``websockets`` default (20 s): they would outnumber the
#: OCPP traffic of an idle fleet. Loss of a local server is noticed by TCP anyway.
_PING_INTERVAL_S = 120.0
_OPEN_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 2.0


class _Link(CsmsLink, Protocol):
    """A wiring: a :class:`CsmsLink` that also reads its connection until it closes."""

    async def serve(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Wiring:
    subprotocol: str
    #: (station, connection, response timeout in s, validate messages) -> link
    make_link: Callable[[Station, ClientConnection, float, bool], _Link]


#: One entry per OCPP version the simulator speaks.
_WIRINGS: dict[str, _Wiring] = {
    "1.6": _Wiring(v16.SUBPROTOCOL, v16.V16Link),
    "2.0.1": _Wiring(v201.SUBPROTOCOL, v201.V201Link),
}

assert tuple(_WIRINGS) == SUPPORTED_OCPP_VERSIONS, "a version without its wiring"


def station_ids(prefix: str, n: int) -> list[str]:
    """``SIM-0001``, ``SIM-0002``, ...: sortable ids, wider only past 9999 stations."""
    width = max(4, len(str(n)))
    return [f"{prefix}-{i:0{width}d}" for i in range(1, n + 1)]


def default_id_tags(n: int) -> list[str]:
    """One RFID tag per station (``SIM-TAG-0001``, ...), so a demo CSMS can seed them."""
    width = max(4, len(str(n)))
    return [f"SIM-TAG-{i:0{width}d}" for i in range(1, n + 1)]


def _check_range(name: str, bounds: tuple[float, float], minimum: float) -> None:
    low, high = bounds
    if not minimum <= low <= high:
        raise ValueError(f"{name} must be a range low..high with {minimum} <= low <= high")


@dataclass(frozen=True)
class FleetConfig:
    """Everything that shapes a simulated fleet; times in seconds, ranges as (low, high).

    With the same ``seed`` every station gets the same connectors, power, serial numbers
    and session rhythm on every run (timing jitter of the network aside).
    An empty ``id_tags`` means :func:`default_id_tags` for the number of stations.
    ``ocpp_version`` is one of :data:`SUPPORTED_OCPP_VERSIONS`, or :data:`MIXED`.
    """

    url: str
    stations: int = 10
    id_prefix: str = "SIM"
    id_tags: list[str] = field(default_factory=list)
    password: str | None = None
    meter_interval_s: float = 5.0
    charge_duration_s: tuple[float, float] = (45.0, 240.0)
    idle_between_sessions_s: tuple[float, float] = (10.0, 60.0)
    power_w: tuple[int, int] = (7_400, 22_000)
    connectors: tuple[int, int] = (1, 2)
    seed: int | None = None
    ocpp_version: str = "1.6"
    #: Delay between starting one station and the next, so a big fleet ramps up.
    stagger_s: float = 0.05
    #: First and longest wait before reconnecting; doubles in between.
    reconnect_delay_s: tuple[float, float] = (1.0, 60.0)
    #: From StopTransaction (Finishing) to Available: the driver unplugging.
    unplug_delay_s: float = 2.0
    #: Between the steps a firmware update reports (Downloading, Downloaded...).
    transfer_step_s: float = 1.0
    response_timeout_s: float = 30.0
    #: After ``stop``, how long stations may take to stop transactions and close.
    shutdown_timeout_s: float = 10.0
    #: Check outgoing messages and the CSMS's answers against the OCPP JSON schemas, so an
    #: invalid answer shows up as a warning. Costs about half the simulator's CPU
    #: (300 stations: 27 % of a core with, 15 % without); turn off for load generation.
    validate_messages: bool = True

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"url must start with ws:// or wss://, got {self.url!r}")
        if self.stations < 0:
            raise ValueError("stations must be 0 or more")
        if self.ocpp_version != MIXED and self.ocpp_version not in _WIRINGS:
            supported = ", ".join(SUPPORTED_OCPP_VERSIONS)
            raise ValueError(
                f"OCPP {self.ocpp_version} is not simulated (supported: {supported}, or {MIXED})"
            )
        if self.meter_interval_s <= 0:
            raise ValueError("meter_interval_s must be positive")
        if self.transfer_step_s < 0:
            raise ValueError("transfer_step_s must be 0 or more")
        _check_range("charge_duration_s", self.charge_duration_s, 0.0)
        _check_range("idle_between_sessions_s", self.idle_between_sessions_s, 0.0)
        _check_range("power_w", self.power_w, 1.0)
        _check_range("connectors", self.connectors, 1.0)
        _check_range("reconnect_delay_s", self.reconnect_delay_s, 0.0)
        if not self.id_tags:
            object.__setattr__(self, "id_tags", default_id_tags(max(self.stations, 1)))
        if any(not 1 <= len(tag) <= 20 for tag in self.id_tags):
            raise ValueError("id tags must be 1 to 20 characters (OCPP IdToken)")

    @property
    def ocpp_versions(self) -> tuple[str, ...]:
        """The versions the fleet speaks, in the order stations take them."""
        if self.ocpp_version == MIXED:
            return SUPPORTED_OCPP_VERSIONS
        return (self.ocpp_version,)

    def ocpp_version_of(self, index: int) -> str:
        """The version the station at ``index`` (0-based) speaks."""
        versions = self.ocpp_versions
        return versions[index % len(versions)]


def make_stations(config: FleetConfig) -> list[Station]:
    """Build the fleet's stations, each from its own seeded random source."""
    timing = Timing(
        meter_interval_s=config.meter_interval_s,
        charge_duration_s=config.charge_duration_s,
        idle_between_sessions_s=config.idle_between_sessions_s,
        unplug_delay_s=config.unplug_delay_s,
        transfer_step_s=config.transfer_step_s,
    )
    tags = tuple(config.id_tags)
    stations = []
    for index, station_id in enumerate(station_ids(config.id_prefix, config.stations)):
        seeded = config.seed is not None
        rng = random.Random(f"{config.seed}:{station_id}") if seeded else random.Random()
        connector_count = rng.randint(*config.connectors)
        low_w, high_w = config.power_w
        power_w = min(high_w, max(low_w, round(rng.uniform(low_w, high_w), -2)))
        spec = StationSpec(
            station_id=station_id,
            serial_number=f"CO{rng.randrange(10**10):010d}",
            connector_count=connector_count,
            max_power_w=int(power_w),
            id_tag=tags[index % len(tags)],
            other_id_tags=tags,
            initial_register_wh=[rng.uniform(0, 2_000_000) for _ in range(connector_count)],
        )
        stations.append(Station(spec, timing, rng))
    return stations


async def run_fleet(config: FleetConfig, stop: asyncio.Event) -> None:
    """Run every station of the fleet until ``stop`` is set, then stop them all cleanly.

    Returns once each station has stopped its transactions (StopTransaction, reason Local)
    and closed its connection, or ``config.shutdown_timeout_s`` after ``stop`` for a
    station whose CSMS does not answer.
    """
    stations = make_stations(config)
    logger.info(
        "starting %d simulated stations (OCPP %s) against %s",
        len(stations),
        " and ".join(config.ocpp_versions) + (" by turns" if config.ocpp_version == MIXED else ""),
        config.url,
    )
    async with asyncio.TaskGroup() as tg:
        for index, station in enumerate(stations):
            tg.create_task(
                run_station(
                    station,
                    config,
                    stop,
                    start_delay_s=index * config.stagger_s,
                    ocpp_version=config.ocpp_version_of(index),
                ),
                name=f"simulator {station.station_id}",
            )
    logger.info("simulated fleet stopped")


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, unless ``stop`` is set first; True if it was."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()


def _station_url(base: str, station_id: str) -> str:
    return f"{base.rstrip('/')}/{quote(station_id, safe='')}"


async def run_station(
    station: Station,
    config: FleetConfig,
    stop: asyncio.Event,
    start_delay_s: float = 0.0,
    ocpp_version: str | None = None,
) -> None:
    """Keep one station connected until ``stop``: connect, boot, run; on loss, back off and retry.

    The station speaks ``ocpp_version``, by default the fleet's first version. The backoff
    starts at ``reconnect_delay_s[0]``, doubles up to ``reconnect_delay_s[1]`` with jitter,
    and starts over after a connection on which the station was booted. A Reset
    reconnects at once.
    """
    wiring = _WIRINGS[ocpp_version or config.ocpp_version_of(0)]
    if await _sleep_unless(stop, start_delay_s):
        return
    url = _station_url(config.url, station.station_id)
    headers: dict[str, str] = {}
    if config.password is not None:
        headers["Authorization"] = build_authorization_basic(station.station_id, config.password)
    first_delay, max_delay = config.reconnect_delay_s
    delay = first_delay
    failures = 0
    while not stop.is_set():
        boots = station.boot_count
        try:
            async with connect(
                url,
                subprotocols=[Subprotocol(wiring.subprotocol)],
                additional_headers=headers,
                compression=None,
                open_timeout=_OPEN_TIMEOUT_S,
                ping_interval=_PING_INTERVAL_S,
                ping_timeout=_PING_INTERVAL_S / 2,
                close_timeout=_CLOSE_TIMEOUT_S,
            ) as ws:
                if ws.subprotocol != wiring.subprotocol:
                    raise _SubprotocolRefused(wiring.subprotocol)
                end = await _run_connection(station, wiring, ws, config, stop)
            if end is SessionEnd.REBOOT:
                delay, failures = first_delay, 0
                continue
            return
        except Exception as exc:  # any failure of one station must not end the fleet
            if station.boot_count > boots:
                delay, failures = first_delay, 0
            wait_s = delay * random.uniform(0.5, 1.0)
            _log_failure(station, exc, wait_s, repeated=failures > 0)
            failures += 1
            if await _sleep_unless(stop, wait_s):
                return
            delay = min(max(delay, 0.1) * 2, max_delay)


class _SubprotocolRefused(Exception):
    def __init__(self, subprotocol: str) -> None:
        super().__init__(f"the server did not accept subprotocol {subprotocol}")


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


_EXPECTED = (OSError, TimeoutError, WebSocketException, _SubprotocolRefused)


def _log_failure(station: Station, exc: BaseException, wait_s: float, repeated: bool) -> None:
    """Network trouble is routine for a simulator: one warning per outage, retries at DEBUG
    (a stopped server must not flood the log); anything else is a bug, with its traceback.
    """
    leaves = _leaves(exc)
    if not all(isinstance(leaf, _EXPECTED) for leaf in leaves):
        logger.error(
            "%s: simulator error, reconnecting in %.1fs", station.station_id, wait_s, exc_info=exc
        )
        return
    leaf = leaves[0]
    if isinstance(leaf, InvalidStatus):
        reason = f"server refused the connection: HTTP {leaf.response.status_code}"
    else:
        reason = str(leaf) or type(leaf).__name__
    logger.log(
        logging.DEBUG if repeated else logging.WARNING,
        "%s: connection failed or lost (%s), retrying in %.1fs",
        station.station_id,
        reason,
        wait_s,
    )


async def _deadline(stop: asyncio.Event, seconds: float) -> None:
    await stop.wait()
    await asyncio.sleep(seconds)


async def _run_connection(
    station: Station,
    wiring: _Wiring,
    ws: ClientConnection,
    config: FleetConfig,
    stop: asyncio.Event,
) -> SessionEnd:
    """Pump frames and run the station's session until one of them ends.

    Whichever ends first decides: the session (stopped or rebooting), the connection
    (its error is raised, so the caller reconnects), or the shutdown deadline.
    """
    link = wiring.make_link(station, ws, config.response_timeout_s, config.validate_messages)
    reader = asyncio.create_task(link.serve())
    session = asyncio.create_task(station.run_session(link, stop))
    deadline = asyncio.create_task(_deadline(stop, config.shutdown_timeout_s))
    tasks = (reader, session, deadline)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        # Retrieve every outcome, so no task dies with an unobserved exception.
        session_error, reader_error = (
            None if task.cancelled() else task.exception() for task in (session, reader)
        )
    if not session.cancelled():
        if session_error is not None:
            raise session_error
        return session.result()
    if reader_error is not None:
        raise reader_error
    if not deadline.cancelled():
        logger.warning(
            "%s: no clean stop within %gs, closing", station.station_id, config.shutdown_timeout_s
        )
        return SessionEnd.STOPPED
    raise ConnectionError("connection ended")
