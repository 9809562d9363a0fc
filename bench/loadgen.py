"""OCPP 1.6J load generator: many lightweight charger connections from its own process.

Each station is one small coroutine on a raw `websockets` client connection that
sends pre-shaped OCPP-J frames and matches answers by unique id. It is not the
`ocpp` package's ChargePoint: that object validates every frame with jsonschema
and would make the load generator, not the server, the bottleneck.

Modes (each bounded by --stations and by time):

  storm   every station connects as fast as allowed and sends BootNotification:
          boots answered per second (a CSMS restart or network outage recovery).
  steady  stations ramp up at --rate, boot, report status, start a transaction and
          send MeterValues every --period seconds for --duration: latency, nothing lost.
  flood   like steady, but each station sends MeterValues back-to-back, one CALL
          outstanding at a time as OCPP requires: the answered-per-second ceiling.
  hold    stations connect, boot, report status and then stay idle for --duration:
          connections held and memory per connection (the driver samples RSS).

Prints one JSON object on stdout. A line "READY <connected>" goes to stderr once the
ramp is over, so a driver can sample the server while the stations are connected.
With --procs K the stations are split over K processes (one core each) and merged.

    python bench/loadgen.py steady --url ws://127.0.0.1:9000/ocpp --stations 1000 \
        --period 10 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import resource
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

MODES = ("storm", "steady", "flood", "hold")
_BUCKET_BASE = math.log(1.01)  # latency histogram resolution: 1 %
_SCRIPT = os.path.abspath(__file__)


# --------------------------------------------------------------------------- stats


@dataclass
class Histogram:
    """Log-bucketed latency histogram: exact enough (1 %) and mergeable across processes."""

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    max_s: float = 0.0

    def add(self, seconds: float) -> None:
        micros = max(seconds * 1e6, 1.0)
        self.buckets[int(math.log(micros) / _BUCKET_BASE)] += 1
        self.count += 1
        self.max_s = max(self.max_s, seconds)

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.max_s = max(self.max_s, other.max_s)

    def percentile(self, fraction: float) -> float:
        """Value in seconds below which `fraction` of the samples fall."""
        if not self.count:
            return math.nan
        rank = fraction * self.count
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen >= rank:
                return min(math.exp((bucket + 0.5) * _BUCKET_BASE) / 1e6, self.max_s)
        return self.max_s

    def summary(self) -> dict[str, float | int]:
        def ms(value: float) -> float:
            return round(value * 1000, 2)

        return {
            "count": self.count,
            "p50_ms": ms(self.percentile(0.50)),
            "p90_ms": ms(self.percentile(0.90)),
            "p99_ms": ms(self.percentile(0.99)),
            "max_ms": ms(self.max_s),
        }

    def to_json(self) -> dict[str, Any]:
        return {"buckets": dict(self.buckets), "count": self.count, "max_s": self.max_s}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        buckets = Counter({int(k): v for k, v in data["buckets"].items()})
        return cls(buckets=buckets, count=data["count"], max_s=data["max_s"])


@dataclass
class Stats:
    """Everything one process counts; merged field by field across --procs."""

    connected: int = 0
    held_at_end: int = 0
    dropped: int = 0
    connect_errors: Counter[str] = field(default_factory=Counter)
    drop_reasons: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    callerrors: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    unanswered: Counter[str] = field(default_factory=Counter)
    server_calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    samples_sent: int = 0
    settled: int = 0  # stations done setting up (or failed): not merged, used in-process
    setup_done_at: float = 0.0  # steady: when the last station finished setting up
    window_answered: Counter[str] = field(default_factory=Counter)
    slow_by_second: Counter[int] = field(default_factory=Counter)
    latency: dict[str, Histogram] = field(default_factory=dict)
    window_latency: dict[str, Histogram] = field(default_factory=dict)
    handshake: Histogram = field(default_factory=Histogram)
    loop_lag: Histogram = field(default_factory=Histogram)
    started_at: float = math.inf
    first_connect_at: float = math.inf
    last_connect_at: float = 0.0
    last_boot_answer_at: float = 0.0
    cpu_s: float = 0.0
    rss_kb: int = 0
    errors_sample: list[str] = field(default_factory=list)

    _COUNTERS = (
        "connect_errors",
        "drop_reasons",
        "sent",
        "answered",
        "callerrors",
        "timeouts",
        "unanswered",
        "server_calls",
        "statuses",
        "window_answered",
        "slow_by_second",
    )
    _SUMS = ("connected", "held_at_end", "dropped", "samples_sent", "cpu_s", "rss_kb")

    def note_error(self, text: str) -> None:
        if len(self.errors_sample) < 5:
            self.errors_sample.append(text[:300])

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in self._SUMS}
        data.update({name: dict(getattr(self, name)) for name in self._COUNTERS})
        data["latency"] = {k: h.to_json() for k, h in self.latency.items()}
        data["window_latency"] = {k: h.to_json() for k, h in self.window_latency.items()}
        data["handshake"] = self.handshake.to_json()
        data["loop_lag"] = self.loop_lag.to_json()
        data["first_connect_at"] = self.first_connect_at if self.connected else None
        data["started_at"] = self.started_at
        data["last_connect_at"] = self.last_connect_at
        data["setup_done_at"] = self.setup_done_at
        data["last_boot_answer_at"] = self.last_boot_answer_at
        data["errors_sample"] = self.errors_sample
        return data

    def merge_json(self, data: dict[str, Any]) -> None:
        for name in self._SUMS:
            setattr(self, name, getattr(self, name) + data[name])
        for name in self._COUNTERS:
            if name == "slow_by_second":  # JSON made its int keys strings
                self.slow_by_second.update({int(k): v for k, v in data[name].items()})
            else:
                getattr(self, name).update(data[name])
        for attr in ("latency", "window_latency"):
            mine: dict[str, Histogram] = getattr(self, attr)
            for key, hist in data[attr].items():
                mine.setdefault(key, Histogram()).merge(Histogram.from_json(hist))
        self.handshake.merge(Histogram.from_json(data["handshake"]))
        self.loop_lag.merge(Histogram.from_json(data["loop_lag"]))
        if data["first_connect_at"] is not None:
            self.first_connect_at = min(self.first_connect_at, data["first_connect_at"])
        self.started_at = min(self.started_at, data["started_at"])
        self.last_connect_at = max(self.last_connect_at, data["last_connect_at"])
        self.setup_done_at = max(self.setup_done_at, data["setup_done_at"])
        self.last_boot_answer_at = max(self.last_boot_answer_at, data["last_boot_answer_at"])
        self.errors_sample.extend(data["errors_sample"][: 5 - len(self.errors_sample)])


# --------------------------------------------------------------------------- frames


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_ms(epoch_ms: int) -> str:
    return (
        datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    )


def meter_values_payload(
    connector_id: int, transaction_id: int | None, energy_wh: int, epoch_ms: int
) -> Any:
    """A realistic 1.6 MeterValues payload: one periodic sample of four measurands.

    The sample time is given in milliseconds and must differ between a station's
    samples: a CSMS rightly stores a repeated (station, connector, time, measurand)
    once, so a flood with second-resolution timestamps would look like retries.
    """
    power_w = 7200 + random.randint(-200, 200)
    voltage_v = 230 + random.randint(-3, 3)
    payload: dict[str, Any] = {
        "connectorId": connector_id,
        "meterValue": [
            {
                "timestamp": _iso_ms(epoch_ms),
                "sampledValue": [
                    {
                        "value": str(energy_wh),
                        "context": "Sample.Periodic",
                        "measurand": "Energy.Active.Import.Register",
                        "location": "Outlet",
                        "unit": "Wh",
                    },
                    {
                        "value": str(power_w),
                        "context": "Sample.Periodic",
                        "measurand": "Power.Active.Import",
                        "location": "Outlet",
                        "unit": "W",
                    },
                    {
                        "value": f"{power_w / voltage_v:.1f}",
                        "context": "Sample.Periodic",
                        "measurand": "Current.Import",
                        "location": "Outlet",
                        "phase": "L1",
                        "unit": "A",
                    },
                    {
                        "value": str(voltage_v),
                        "context": "Sample.Periodic",
                        "measurand": "Voltage",
                        "location": "Outlet",
                        "phase": "L1-N",
                        "unit": "V",
                    },
                ],
            }
        ],
    }
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


SAMPLES_PER_METER_VALUES = 4


def transaction_event_payload(
    transaction_id: str, seq_no: int, energy_wh: int, epoch_ms: int
) -> Any:
    """The 2.0.1 form of the same sample: a TransactionEvent Updated, numbers with units."""
    power_w = 7200 + random.randint(-200, 200)
    voltage_v = 230 + random.randint(-3, 3)

    def value(number: float, measurand: str, unit: str, phase: str | None = None) -> Any:
        sv: dict[str, Any] = {
            "value": number,
            "context": "Sample.Periodic",
            "measurand": measurand,
            "location": "Outlet",
            "unitOfMeasure": {"unit": unit},
        }
        if phase:
            sv["phase"] = phase
        return sv

    return {
        "eventType": "Updated",
        "timestamp": _iso_ms(epoch_ms),
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id, "chargingState": "Charging"},
        "meterValue": [
            {
                "timestamp": _iso_ms(epoch_ms),
                "sampledValue": [
                    value(energy_wh, "Energy.Active.Import.Register", "Wh"),
                    value(power_w, "Power.Active.Import", "W"),
                    value(round(power_w / voltage_v, 1), "Current.Import", "A", "L1"),
                    value(voltage_v, "Voltage", "V", "L1-N"),
                ],
            }
        ],
    }


SLOW_S = 0.1  # answers slower than this are counted per wall-clock second (stalls show up)

# Answers to commands the CSMS may send a station during a run: enough to keep a
# server that configures stations on boot happy, NotSupported for the rest.
_SERVER_CALL_ANSWERS: dict[str, dict[str, Any]] = {
    "ChangeConfiguration": {"status": "Accepted"},
    # what chargeops reads after every boot: a realistic handful of keys (1.6), or the
    # device model report accepted (2.0.1; the report itself is not sent)
    "GetConfiguration": {
        "configurationKey": [
            {"key": key, "readonly": False, "value": value}
            for key, value in (
                ("HeartbeatInterval", "300"),
                ("MeterValueSampleInterval", "10"),
                ("ConnectionTimeOut", "60"),
                ("NumberOfConnectors", "2"),
                ("AuthorizeRemoteTxRequests", "false"),
                ("LocalAuthorizeOffline", "true"),
                ("MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import"),
                ("StopTransactionOnEVSideDisconnect", "true"),
            )
        ]
    },
    "GetBaseReport": {"status": "Accepted"},
    "TriggerMessage": {"status": "Rejected"},
    "DataTransfer": {"status": "UnknownVendorId"},
}


# --------------------------------------------------------------------------- station


class Timeline:
    """Shared clock for one process: when the ramp starts, when the window opens and closes.

    It reads time.monotonic(), not loop.time(): uvloop's clock ticks in milliseconds,
    too coarse for sub-millisecond answers, and CLOCK_MONOTONIC is the same in every
    process, so the shards of --procs agree on the window.
    """

    def __init__(self, t0_epoch: float, stations: int, rate: float, duration: float) -> None:
        self.t0 = time.monotonic() + (t0_epoch - time.time())
        ramp = stations / rate if math.isfinite(rate) and rate > 0 else 0.0
        self.window_start = self.t0 + ramp + 2.0  # let the last stations boot first
        self.window_end = self.window_start + duration
        self.ended = asyncio.Event()  # storm and hold: stations close when this is set

    now = staticmethod(time.monotonic)


def _histogram(histograms: dict[str, Histogram], action: str) -> Histogram:
    hist = histograms.get(action)
    if hist is None:
        hist = histograms[action] = Histogram()
    return hist


class _Closed(Exception):
    """The connection closed while a CALL waited for its answer."""


class Station:
    """One charger: a reader task that matches answers, and the caller's sequence of CALLs."""

    def __init__(self, station_id: str, ws: ClientConnection, stats: Stats, timeout: float):
        self.station_id = station_id
        self.ws = ws
        self.stats = stats
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._tag = secrets.token_hex(3)
        self._waiting: tuple[str, asyncio.Future[tuple[list[Any], float]]] | None = None
        self.closing = False
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                received = Timeline.now()
                frame = orjson.loads(message)
                kind = frame[0]
                if kind == 2:
                    await self._answer_server_call(frame)
                elif self._waiting is not None and frame[1] == self._waiting[0]:
                    future = self._waiting[1]
                    self._waiting = None
                    if not future.done():
                        future.set_result((frame, received))
        except ConnectionClosed:
            pass
        except Exception as exc:  # a malformed frame from the server is worth reporting
            self.stats.note_error(f"{self.station_id} reader: {exc!r}")
        if not self.closing:
            self.stats.dropped += 1
            code = self.ws.close_code
            reason = f"close {code} {self.ws.close_reason}" if code else "connection lost"
            self.stats.drop_reasons[reason[:80]] += 1
        if self._waiting is not None and not self._waiting[1].done():
            self._waiting[1].set_exception(_Closed())

    async def _answer_server_call(self, frame: list[Any]) -> None:
        action = frame[2]
        self.stats.server_calls[action] += 1
        payload = _SERVER_CALL_ANSWERS.get(action)
        if payload is None:
            reply = [4, frame[1], "NotSupported", f"bench station ignores {action}", {}]
        else:
            reply = [3, frame[1], payload]
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(orjson.dumps(reply).decode())

    async def call(
        self,
        action: str,
        payload: Any,
        window: tuple[float, float] | None = None,
        label: str | None = None,
    ) -> dict[str, Any] | None:
        """Send one CALL and wait for its answer; None when it failed (already counted).

        ``label`` names the call in the figures (a 2.0.1 TransactionEvent Updated counts as
        "MeterValues", the message it stands for)."""
        unique_id = f"{self._tag}-{next(self._ids)}"
        future: asyncio.Future[tuple[list[Any], float]] = asyncio.get_running_loop().create_future()
        self._waiting = (unique_id, future)
        text = orjson.dumps([2, unique_id, action, payload]).decode()
        action = label or action
        stats = self.stats
        sent_at = Timeline.now()
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            self._waiting = None
            stats.unanswered[action] += 1
            return None
        stats.sent[action] += 1
        if self.reader.done():  # closed between our send and the reader noticing
            self._waiting = None
            stats.unanswered[action] += 1
            return None
        try:
            async with asyncio.timeout(self.timeout):
                frame, received = await future
        except TimeoutError:
            self._waiting = None
            stats.timeouts[action] += 1
            return None
        except _Closed:
            stats.unanswered[action] += 1
            return None
        latency = received - sent_at
        _histogram(stats.latency, action).add(latency)
        if latency > SLOW_S:
            stats.slow_by_second[int(time.time() - (received - sent_at))] += 1
        in_window = window is not None and window[0] <= sent_at < window[1]
        if in_window:
            _histogram(stats.window_latency, action).add(latency)
        if frame[0] == 4:
            stats.callerrors[f"{action}:{frame[2]}"] += 1
            stats.note_error(f"{self.station_id} {action} -> CALLERROR {frame[2:4]}")
            return None
        stats.answered[action] += 1
        if in_window:
            stats.window_answered[action] += 1
        return frame[2] if isinstance(frame[2], dict) else {}

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await self.reader


@dataclass
class Config:
    """Command-line options one worker process runs with."""

    mode: str
    url: str
    indices: list[int]
    rate: float
    period: float
    duration: float
    timeout: float
    concurrency: int
    transactions: bool
    prefix: str
    t0: float
    id_tag: str
    ocpp: str = "1.6"


async def _open(config: Config, station_id: str, stats: Stats) -> ClientConnection | None:
    started = Timeline.now()
    try:
        ws = await connect(
            f"{config.url.rstrip('/')}/{station_id}",
            subprotocols=[Subprotocol(f"ocpp{config.ocpp}")],
            compression=None,
            ping_interval=None,  # a charger's keepalive is the server's business here
            open_timeout=config.timeout,
            close_timeout=5,
            proxy=None,
            user_agent_header=None,
        )
    except Exception as exc:
        stats.connect_errors[type(exc).__name__] += 1
        stats.note_error(f"{station_id} connect: {exc!r}")
        return None
    done = Timeline.now()
    if ws.subprotocol != f"ocpp{config.ocpp}":
        stats.connect_errors["NoSubprotocol"] += 1
        await ws.close()
        return None
    stats.handshake.add(done - started)
    stats.connected += 1
    stats.first_connect_at = min(stats.first_connect_at, done)
    stats.last_connect_at = max(stats.last_connect_at, done)
    return ws


async def _boot(station: Station, index: int, stats: Stats, ocpp: str) -> bool:
    if ocpp == "1.6":
        payload: dict[str, Any] = {
            "chargePointVendor": "ChargeOpsBench",
            "chargePointModel": "LoadGen-1",
            "chargePointSerialNumber": f"SN{index:08d}",
            "firmwareVersion": "1.0.0",
        }
    else:
        payload = {
            "chargingStation": {
                "vendorName": "ChargeOpsBench",
                "model": "LoadGen-1",
                "serialNumber": f"SN{index:08d}",
                "firmwareVersion": "1.0.0",
            },
            "reason": "PowerUp",
        }
    answer = await station.call("BootNotification", payload)
    if answer is None:
        return False
    stats.statuses[f"Boot:{answer.get('status')}"] += 1
    stats.last_boot_answer_at = max(stats.last_boot_answer_at, Timeline.now())
    return answer.get("status") == "Accepted"


async def _status(station: Station, status: str, ocpp: str) -> None:
    if ocpp == "1.6":
        payload = {
            "connectorId": 1,
            "errorCode": "NoError",
            "status": status,
            "timestamp": _now_iso(),
        }
    else:
        payload = {
            "timestamp": _now_iso(),
            "connectorStatus": "Occupied" if status == "Charging" else status,
            "evseId": 1,
            "connectorId": 1,
        }
    await station.call("StatusNotification", payload)


async def _run_station(
    config: Config, index: int, timeline: Timeline, stats: Stats, gate: asyncio.Semaphore
) -> None:
    """The life of one charger in the chosen mode, closing its connection at the end."""
    station_id = f"{config.prefix}{index:06d}"
    async with gate:
        ws = await _open(config, station_id, stats)
    if ws is None:
        stats.settled += 1
        return
    station = Station(station_id, ws, stats, config.timeout)
    try:
        booted = await _boot(station, index, stats, config.ocpp)
        if config.mode == "storm":
            await timeline.ended.wait()
            return
        if not booted:
            stats.settled += 1
            return
        await _status(station, "Available", config.ocpp)
        if config.mode == "hold":
            stats.settled += 1
            await timeline.ended.wait()
            return
        transaction_id: int | str | None = None
        if config.transactions:
            if config.ocpp == "1.6":
                started = await station.call(
                    "StartTransaction",
                    {
                        "connectorId": 1,
                        "idTag": config.id_tag,
                        "meterStart": 0,
                        "timestamp": _now_iso(),
                    },
                )
                info = (started or {}).get("idTagInfo", {})
                transaction_id = (started or {}).get("transactionId")
            else:
                transaction_id = f"{station_id}-{secrets.token_hex(4)}"
                started = await station.call(
                    "TransactionEvent",
                    {
                        "eventType": "Started",
                        "timestamp": _now_iso(),
                        "triggerReason": "Authorized",
                        "seqNo": 0,
                        "transactionInfo": {"transactionId": transaction_id},
                        "evse": {"id": 1, "connectorId": 1},
                        "idToken": {"idToken": config.id_tag, "type": "ISO14443"},
                    },
                    label="StartTransaction",
                )
                info = (started or {}).get("idTokenInfo", {})
            if started is None:
                stats.settled += 1
                return
            stats.statuses[f"StartTransaction:{info.get('status')}"] += 1
            await _status(station, "Charging", config.ocpp)
        if config.mode == "steady":
            stats.settled += 1
        await _send_meter_values(config, station, transaction_id, timeline, stats)
        # Stay connected until the window has closed for every station: closing one by
        # one as each sends its last message would load the server with disconnections
        # while the others are still measured.
        await timeline.ended.wait()
    finally:
        stats.held_at_end += int(not station.reader.done())
        await station.close()


async def _send_meter_values(
    config: Config,
    station: Station,
    transaction_id: int | str | None,
    timeline: Timeline,
    stats: Stats,
) -> None:
    """Periodic (steady) or back-to-back (flood) MeterValues until the window closes."""
    energy_wh = random.randint(0, 50_000)
    wh_per_period = max(1, round(7200 * config.period / 3600))
    # steady: a random phase spreads the stations evenly over the period, as in the field
    next_at = Timeline.now() + random.uniform(0, config.period)
    sample_ms = 0
    seq_no = 0
    while not station.reader.done():
        if config.mode == "steady":
            if next_at >= timeline.window_end:
                return
            await _sleep_until(next_at)
            next_at += config.period
        elif Timeline.now() >= timeline.window_end:
            return
        energy_wh += wh_per_period
        sample_ms = max(int(time.time() * 1000), sample_ms + 1)
        stats.samples_sent += SAMPLES_PER_METER_VALUES
        # read now, not at the start: a steady window opens once every station is set up
        window = (timeline.window_start, timeline.window_end)
        if config.ocpp == "1.6" or transaction_id is None:
            tx = transaction_id if isinstance(transaction_id, int) else None
            payload = meter_values_payload(1, tx, energy_wh, sample_ms)
            await station.call("MeterValues", payload, window)
        else:
            seq_no += 1
            payload = transaction_event_payload(str(transaction_id), seq_no, energy_wh, sample_ms)
            await station.call("TransactionEvent", payload, window, label="MeterValues")


async def _sleep_until(deadline: float) -> None:
    delay = deadline - Timeline.now()
    if delay > 0:
        await asyncio.sleep(delay)


async def _watch_loop_lag(stats: Stats, stop: asyncio.Event) -> None:
    """How late this process's event loop runs: if it is late, the latencies are ours."""
    tick = 0.05
    while not stop.is_set():
        before = Timeline.now()
        await asyncio.sleep(tick)
        stats.loop_lag.add(max(Timeline.now() - before - tick, 0.0))


async def run_worker(config: Config) -> Stats:
    """Ramp the stations up, let them live through the window, then close everything."""
    stats = Stats()
    n = len(config.indices)
    timeline = Timeline(config.t0, n, config.rate, config.duration)
    stats.started_at = timeline.t0
    if config.mode == "storm":
        timeline.window_end = timeline.t0 + config.duration  # storm: stay until all booted
    gate = asyncio.Semaphore(config.concurrency)
    stop = asyncio.Event()
    lag_task = asyncio.create_task(_watch_loop_lag(stats, stop))
    await _sleep_until(timeline.t0)
    tasks = []
    for j, index in enumerate(config.indices):
        if math.isfinite(config.rate):
            await _sleep_until(timeline.t0 + j / config.rate)
        tasks.append(asyncio.create_task(_run_station(config, index, timeline, stats, gate)))
        if j % 200 == 199:
            await asyncio.sleep(0)  # let handshakes progress during a fast ramp
    if config.mode == "storm":
        await _wait_storm(stats, n, timeline)
    elif config.mode == "hold":
        # idle means set up: wait for every station's boot and status (or its failure)
        await _sleep_until(timeline.window_start)
        await _poll_until(lambda: stats.settled >= n, Timeline.now() + 2 * config.timeout)
        print(f"READY {stats.connected}", file=sys.stderr, flush=True)
        await asyncio.sleep(config.duration)
    else:
        await _sleep_until(timeline.window_start)
        if config.mode == "steady":
            # The bar is about stations that are connected and charging: a ramp faster
            # than the server sets stations up would otherwise charge its backlog to
            # the window. How long set-up took is reported on its own.
            await _poll_until(lambda: stats.settled >= n, Timeline.now() + 4 * config.timeout)
            stats.setup_done_at = Timeline.now()
            timeline.window_start = max(timeline.window_start, stats.setup_done_at + 2.0)
            timeline.window_end = timeline.window_start + config.duration
            await _sleep_until(timeline.window_start)
        print(f"READY {stats.connected}", file=sys.stderr, flush=True)
        await _sleep_until(timeline.window_end)
    timeline.ended.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    stop.set()
    await lag_task
    usage = resource.getrusage(resource.RUSAGE_SELF)
    stats.cpu_s = usage.ru_utime + usage.ru_stime
    stats.rss_kb = usage.ru_maxrss
    return stats


async def _wait_storm(stats: Stats, n: int, timeline: Timeline) -> None:
    """A storm is over when every station has either booted or failed."""

    def finished() -> bool:
        done = (
            stats.answered["BootNotification"]
            + sum(stats.callerrors.values())
            + sum(stats.connect_errors.values())
            + stats.timeouts["BootNotification"]
            + stats.unanswered["BootNotification"]
        )
        return done >= n

    await _poll_until(finished, timeline.window_end)


async def _poll_until(condition: Callable[[], bool], deadline: float) -> None:
    """Wait for a counter-based condition: polling a few counters beats an Event per station."""
    while not condition() and Timeline.now() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- reporting


def report(stats: Stats, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    """Turn merged counters into the figures the benchmark quotes."""
    out: dict[str, Any] = {
        "mode": args.mode,
        "url": args.url,
        "stations": args.stations,
        "procs": args.procs,
        "connected": stats.connected,
        "held_at_end": stats.held_at_end,
        "dropped": stats.dropped,
        "drop_reasons": dict(stats.drop_reasons),
        "connect_errors": dict(stats.connect_errors),
        "sent": dict(stats.sent),
        "answered": dict(stats.answered),
        "callerrors": dict(stats.callerrors),
        "timeouts": dict(stats.timeouts),
        "unanswered": dict(stats.unanswered),
        "server_calls": dict(stats.server_calls),
        "statuses": dict(stats.statuses),
        "samples_sent": stats.samples_sent,
        # when answers over SLOW_S were sent, by epoch second: periodic stalls show here
        "slow_seconds": _slow_seconds(stats.slow_by_second),
        "latency": {k: h.summary() for k, h in sorted(stats.latency.items())},
        "handshake": stats.handshake.summary(),
        "loadgen_loop_lag": stats.loop_lag.summary(),
        "loadgen_cpu_s": round(stats.cpu_s, 2),
        "loadgen_cpu_pct": round(100 * stats.cpu_s / elapsed, 1) if elapsed else None,
        "loadgen_max_rss_mb": round(stats.rss_kb / 1024, 1),
        "elapsed_s": round(elapsed, 2),
        "errors_sample": stats.errors_sample,
    }
    lost = sum(stats.timeouts.values()) + sum(stats.unanswered.values())
    out["lost"] = lost
    if args.mode == "storm" and stats.connected:
        span = stats.last_boot_answer_at - stats.started_at
        out["storm_s"] = round(span, 2)
        out["boots_per_s"] = round(stats.answered.get("BootNotification", 0) / span, 1)
        connect_span = stats.last_connect_at - stats.started_at
        out["connects_per_s"] = round(stats.connected / connect_span, 1)
    if args.mode == "steady" and stats.setup_done_at:
        out["setup_s"] = round(stats.setup_done_at - stats.started_at, 2)
    if args.mode in ("steady", "flood"):
        window = stats.window_latency.get("MeterValues", Histogram())
        out["window_s"] = args.duration
        out["meter_values_window"] = window.summary()
        answered = stats.window_answered.get("MeterValues", 0)
        out["meter_values_per_s"] = round(answered / args.duration, 1)
    return out


def _slow_seconds(slow: Counter[int]) -> dict[str, int]:
    """The (at most 600) seconds with the most slow answers, HH:MM:SS UTC -> count, in
    time order: a stall shows as a burst, a backlog as a run of seconds."""
    worst = sorted(slow.items(), key=lambda kv: -kv[1])[:600]
    return {
        datetime.fromtimestamp(second, UTC).strftime("%H:%M:%S"): count
        for second, count in sorted(worst)
    }


# --------------------------------------------------------------------------- processes


async def run_procs(args: argparse.Namespace, t0: float) -> Stats:
    """Run K copies of this script, one shard of the stations each, and merge their stats."""
    stats = Stats()
    procs = []
    for shard in range(args.procs):
        argv = [sys.executable, _SCRIPT, *_worker_argv(args, shard, t0)]
        procs.append(
            await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        )
    ready: list[int] = []

    async def relay(proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode().rstrip()
            if line.startswith("READY "):
                ready.append(int(line.split()[1]))
                if len(ready) == args.procs:
                    print(f"READY {sum(ready)}", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)

    async def collect(proc: asyncio.subprocess.Process) -> bytes:
        assert proc.stdout is not None
        out, _ = await asyncio.gather(proc.stdout.read(), relay(proc))
        await proc.wait()
        return out

    outputs = await asyncio.gather(*(collect(p) for p in procs))
    for proc, output in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"loadgen worker failed with exit code {proc.returncode}")
        stats.merge_json(json.loads(output))
    return stats


def _worker_argv(args: argparse.Namespace, shard: int, t0: float) -> list[str]:
    return [
        args.mode,
        "--url",
        args.url,
        "--stations",
        str(args.stations),
        "--first",
        str(args.first),
        "--rate",
        str(args.rate / args.procs),
        "--period",
        str(args.period),
        "--duration",
        str(args.duration),
        "--timeout",
        str(args.timeout),
        "--concurrency",
        str(max(1, args.concurrency // args.procs)),
        "--prefix",
        args.prefix,
        "--id-tag",
        args.id_tag,
        "--ocpp",
        args.ocpp,
        *([] if args.transactions else ["--no-transactions"]),
        "--shard",
        f"{shard}/{args.procs}",
        "--t0",
        repr(t0),
    ]


# --------------------------------------------------------------------------- main


def _raise_nofile_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--url", default="ws://127.0.0.1:9000/ocpp", help="station id appended")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--first", type=int, default=1, help="number of the first station id")
    parser.add_argument("--prefix", default="BENCH-", help="station id = prefix + 6 digits")
    parser.add_argument(
        "--rate", type=float, default=500.0, help="new connections/s (storm: unlimited)"
    )
    parser.add_argument("--period", type=float, default=10.0, help="steady: MeterValues period s")
    parser.add_argument(
        "--duration",
        type=float,
        default=30.0,
        help="seconds measured after the ramp (storm: give up after this)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="per CALL and handshake, s")
    parser.add_argument("--concurrency", type=int, default=500, help="handshakes in flight")
    parser.add_argument("--procs", type=int, default=1, help="split stations over K processes")
    parser.add_argument("--id-tag", default="BENCHTAG", help="idTag for StartTransaction")
    parser.add_argument(
        "--ocpp",
        choices=("1.6", "2.0.1"),
        default="1.6",
        help="2.0.1: TransactionEvent Started/Updated instead of StartTransaction/MeterValues",
    )
    parser.add_argument(
        "--no-transactions",
        dest="transactions",
        action="store_false",
        help="steady/flood: skip StartTransaction; MeterValues carry no transactionId",
    )
    parser.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-stations", type=int, default=40_000, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    host = urlsplit(args.url).hostname
    if host != "127.0.0.1":
        parser.error("the load generator only connects to 127.0.0.1")
    if not 0 < args.stations <= args.max_stations:
        parser.error(f"--stations must be 1..{args.max_stations}")
    if args.duration > 3600:
        parser.error("--duration is at most 3600 s")
    if args.mode == "storm":
        args.rate = math.inf
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _raise_nofile_limit()
    t0 = args.t0 if args.t0 is not None else time.time() + (1.0 if args.procs > 1 else 0.1)
    started = time.monotonic()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    if args.procs > 1:
        stats = runner(run_procs(args, t0))
        elapsed = time.monotonic() - started
        print(json.dumps(report(stats, args, elapsed), indent=2))
        return
    shard, of = (int(x) for x in args.shard.split("/"))
    indices = list(range(args.first, args.first + args.stations))[shard::of]
    config = Config(
        mode=args.mode,
        url=args.url,
        indices=indices,
        rate=args.rate,
        period=args.period,
        duration=args.duration,
        timeout=args.timeout,
        concurrency=args.concurrency,
        transactions=args.transactions,
        prefix=args.prefix,
        t0=t0,
        id_tag=args.id_tag,
        ocpp=args.ocpp,
    )
    stats = runner(run_worker(config))
    elapsed = time.monotonic() - started
    if args.t0 is not None and of > 1:
        print(json.dumps(stats.to_json()))  # a worker of --procs: raw stats for merging
    else:
        print(json.dumps(report(stats, args, elapsed), indent=2))


if __name__ == "__main__":
    main()
