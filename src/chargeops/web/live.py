"""Live pages: bus events fanned out to the browsers watching them, as Server-Sent
Events.

A browser listens to one topic: a station (its page), the whole network (the status
board and the fault list: every station's events, each naming its station), or a person
(their console notifications). The bus has no way to unsubscribe, so the hub subscribes
once per event type (the first time anyone watches) and hands each event to the
listeners of its topics, each a bounded queue. A listener that falls behind is ended
rather than allowed to grow: its browser reconnects and starts again from a fresh
snapshot, which is what every stream begins with, so nothing is lost across a reconnect.

Streams end on their own after :data:`STREAM_SECONDS` (the browser's EventSource
reconnects at once), when the browser goes away, and at :meth:`LiveHub.close`. The
HTTP server waits for open responses when it stops; a stream never keeps it waiting
longer than that.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import orjson

from chargeops.bus import Bus
from chargeops.core.events import (
    AnomalyCleared,
    AnomalyDetected,
    ConnectivityChanged,
    ConnectorStatusChanged,
    DomainEvent,
    FaultCleared,
    FaultRaised,
    MeterSampled,
    NotificationPosted,
    StationBooted,
    StationConnected,
    StationDisconnected,
    TransactionEnded,
    TransactionStarted,
)
from chargeops.web.formatting import iso, utc

log = logging.getLogger(__name__)

STREAM_SECONDS = 10.0  # a stream's life; the browser reconnects after RETRY_MS
RETRY_MS = 500
QUEUE_SIZE = 64  # messages a listener may hold before it is ended (a slow browser)
WATCHED: tuple[type[DomainEvent], ...] = (
    ConnectorStatusChanged,
    StationConnected,
    StationDisconnected,
    StationBooted,
    MeterSampled,
    TransactionStarted,
    TransactionEnded,
    FaultRaised,
    FaultCleared,
    ConnectivityChanged,
    AnomalyDetected,
    AnomalyCleared,
    NotificationPosted,
)

Message = dict[str, Any]
Topic = tuple[str, ...]  # ("station", id), ("network",) or ("user", "42")
NETWORK: Topic = ("network",)


def station_topic(station_id: str) -> Topic:
    return ("station", station_id)


def user_topic(user_id: int) -> Topic:
    return ("user", str(user_id))


class Listener:
    """One browser watching one topic."""

    def __init__(self, topic: Topic, size: int) -> None:
        self.topic = topic
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue(size)
        self.ended = False

    def offer(self, message: Message) -> None:
        if self.ended:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("a live page fell behind; it will reconnect and resync")
            self.end()

    def end(self) -> None:
        """Wake the stream and let it finish (its browser reconnects if it still wants)."""
        if self.ended:
            return
        self.ended = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def next(self, until: float) -> Message | None:
        """The next message; None when the listener ended or the loop's clock reached
        ``until``."""
        try:
            async with asyncio.timeout_at(until):
                return await self._queue.get()
        except TimeoutError:
            return None


class LiveHub:
    def __init__(self, bus: Bus | None, *, queue_size: int = QUEUE_SIZE) -> None:
        self._bus = bus
        self._queue_size = queue_size
        self._subscribed = False
        self._closed = False
        self._listeners: dict[Topic, set[Listener]] = defaultdict(set)

    @property
    def available(self) -> bool:
        return self._bus is not None and not self._closed

    @property
    def listening(self) -> int:
        return sum(len(s) for s in self._listeners.values())

    def listen(self, station_id: str) -> Listener:
        """Watch one station (its page)."""
        return self.listen_to(station_topic(station_id))

    def listen_to(self, topic: Topic) -> Listener:
        """Watch a topic: :data:`NETWORK`, :func:`station_topic` or :func:`user_topic`."""
        listener = Listener(topic, self._queue_size)
        if not self.available:
            listener.end()
            return listener
        if not self._subscribed and self._bus is not None:
            for event_type in WATCHED:
                self._bus.subscribe(event_type, self._deliver)
            self._subscribed = True
        self._listeners[topic].add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        watchers = self._listeners.get(listener.topic)
        if watchers is not None:
            watchers.discard(listener)
            if not watchers:
                del self._listeners[listener.topic]

    def close(self) -> None:
        """End every stream now and refuse new ones (the server is stopping)."""
        self._closed = True
        for watchers in list(self._listeners.values()):
            for listener in list(watchers):
                listener.end()

    async def _deliver(self, event: DomainEvent) -> None:
        if isinstance(event, NotificationPosted):  # for one person, whatever its station
            topics: tuple[Topic, ...] = (user_topic(event.user_id),)
        else:
            topics = (station_topic(event.station_id), NETWORK)
        watchers = [w for topic in topics for w in self._listeners.get(topic, ())]
        if not watchers:
            return
        message = describe(event)
        if message is None:
            return
        for listener in watchers:
            listener.offer(message)


def describe(event: DomainEvent) -> Message | None:
    """An event in the words a live page uses (times already written out in UTC); each
    names its station, for the pages that watch the whole network."""
    at = {
        "station_id": event.station_id,
        "at": iso(event.occurred_at),
        "at_text": utc(event.occurred_at),
    }
    if isinstance(event, ConnectorStatusChanged):
        return {
            "event": "connector",
            "evse_id": event.evse_id,
            "connector_id": event.connector_id,
            "status": event.status,
            "error_code": event.error_code,
            "info": event.info,
            **at,
        }
    if isinstance(event, StationConnected):
        return {"event": "presence", "online": True, "ocpp_version": event.ocpp_version, **at}
    if isinstance(event, StationDisconnected):
        return {"event": "presence", "online": False, **at}
    if isinstance(event, StationBooted):
        return {
            "event": "booted",
            "vendor": event.vendor,
            "model": event.model,
            "firmware_version": event.firmware_version,
            **at,
        }
    if isinstance(event, MeterSampled):
        return {"event": "meter", "evse_id": event.evse_id, "session_id": event.session_id, **at}
    if isinstance(event, TransactionStarted | TransactionEnded):
        return {"event": "sessions", "session_id": event.session_id, **at}
    if isinstance(event, FaultRaised | FaultCleared):
        return {
            "event": "fault",
            "fault_id": event.fault_id,
            "open": isinstance(event, FaultRaised),
            "evse_id": event.evse_id,
            "connector_id": event.connector_id,
            "code": event.code,
            **at,
        }
    if isinstance(event, ConnectivityChanged):
        return {"event": "connectivity", "online": event.online, "reason": event.reason, **at}
    if isinstance(event, AnomalyDetected | AnomalyCleared):
        return {
            "event": "anomaly",
            "anomaly_id": event.anomaly_id,
            "open": isinstance(event, AnomalyDetected),
            "evse_id": event.evse_id,
            "detector": event.detector,
            **at,
        }
    if isinstance(event, NotificationPosted):
        return {
            "event": "notification",
            "notification_id": event.notification_id,
            "subject": event.subject,
            "severity": event.severity,
            "link": event.link,
            **at,
        }
    return None


def sse(message: Message) -> bytes:
    """One Server-Sent Event: its type, and its data as one JSON line."""
    body = {k: v for k, v in message.items() if k != "event"}
    return b"event: " + str(message["event"]).encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"


def preamble() -> bytes:
    return f"retry: {RETRY_MS}\n\n".encode()
