"""An in-process bus: enough for one process; a Redis bus takes its place in a cluster."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from chargeops.core.events import DomainEvent

log = logging.getLogger(__name__)

Handler = Callable[[DomainEvent], Awaitable[None]]


class Bus(Protocol):
    def subscribe(self, event_type: type[DomainEvent], handler: Handler) -> None: ...

    def publish(self, events: Iterable[DomainEvent]) -> None: ...

    async def drain(self) -> None: ...


class MemoryBus:
    """Delivers each event to the handlers subscribed to its type (or a base type).

    Publishing never blocks the publisher (it runs on the hot path right after a commit):
    handlers run as tasks, and a failing handler is logged without touching the others.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler]] = defaultdict(list)
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, event_type: type[DomainEvent], handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def publish(self, events: Iterable[DomainEvent]) -> None:
        if not self._handlers:
            return
        for event in events:
            for cls in type(event).__mro__:
                for handler in self._handlers.get(cls, ()):
                    task = asyncio.create_task(self._deliver(handler, event))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for deliveries in flight (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @staticmethod
    async def _deliver(handler: Handler, event: DomainEvent) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception(
                "event handler failed",
                extra={"station_id": event.station_id, "event": type(event).__name__},
            )
