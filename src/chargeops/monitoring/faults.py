"""Faults: problems stations report, opened and cleared in the transaction of the report
that shows them, so a fault is known the moment the station is answered.

Where they come from:

- a StatusNotification with an error code other than ``NoError`` (1.6), or a connector
  ``Faulted`` (1.6 and 2.0.1, whose StatusNotification has no error code). One such
  *status fault* is open per connector: a report with another code supersedes it, and a
  report without an error clears it (the connector recovered).
- a 2.0.1 NotifyEvent that says a component has a problem: a ``Problem``, ``Tripped``,
  ``Operated`` or ``Fault`` variable set true, an ``AvailabilityState`` of ``Faulted``,
  or any monitor crossing its threshold (trigger ``Alerting``). The same variable set
  false, or the event marked ``cleared``, ends it; so does the connector recovering
  (reporting Available, Occupied...).

A report replayed from a charger's offline queue that is older than the connector's
current state only joins the timeline: it cannot reopen or clear what newer reports
decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from chargeops.core import events
from chargeops.core.charging import ConnectorStatusReport, DeviceEvent
from chargeops.monitoring.models import Fault
from chargeops.stations.models import Connector
from chargeops.storage.writer import Work

STATUS = "status"
EVENT = "event"
PROBLEM_VARIABLES = frozenset({"Problem", "Tripped", "Operated", "Fault"})
# states in which a connector can serve a driver: seeing one ends the problems reported
# for it by events
WORKING = frozenset(
    {
        "Available",
        "Occupied",
        "Reserved",
        "Preparing",
        "Charging",
        "SuspendedEV",
        "SuspendedEVSE",
        "Finishing",
    }
)
CLEARED_BY_STATION = "station"
CLEARED_BY_RECOVERY = "recovery"
SUPERSEDED = "superseded"


async def on_status(
    work: Work, station_id: str, report: ConnectorStatusReport, *, received_at: datetime
) -> None:
    """Open, count, supersede or clear the connector's faults for one status report.
    Call before the report moves the connector's state (it compares with that state)."""
    at = report.timestamp or received_at
    if await _is_replay(work, station_id, report, at):
        return
    code = report.error_code or "NoError"
    faulty = code != "NoError" or report.status == "Faulted"
    condition = code if code != "NoError" else report.status
    open_faults = await _open(
        work, station_id, report.evse_id, report.connector_id, sources=(STATUS, EVENT)
    )
    still_open = None
    for fault in open_faults:
        if fault.source == STATUS:
            if faulty and fault.condition == condition:
                still_open = fault
            else:
                _clear(work, fault, at, CLEARED_BY_RECOVERY if not faulty else SUPERSEDED)
        elif report.status in WORKING and not faulty and fault.raised_at <= at:
            _clear(work, fault, at, CLEARED_BY_RECOVERY)
    if not faulty:
        return
    if still_open is not None:
        _seen_again(still_open, at)
        return
    await _raise(
        work,
        Fault(
            station_id=station_id,
            evse_id=report.evse_id,
            connector_id=report.connector_id,
            source=STATUS,
            condition=condition,
            code=condition,
            vendor_code=report.vendor_error_code,
            vendor_id=report.vendor_id,
            info=report.info,
            status=report.status,
            raised_at=at,
            last_reported_at=at,
            reports=1,
        ),
    )


async def on_device_event(work: Work, station_id: str, event: DeviceEvent, *, at: datetime) -> None:
    """Open or clear a fault for one NotifyEvent entry; entries that say nothing about a
    problem (a periodic reading, a setting changed) pass by."""
    problem = is_problem(event)
    if problem is None:
        return
    evse_id, connector_id = event.evse_id or 0, event.connector_id or 0
    condition = _condition(event)
    open_faults = [
        f
        for f in await _open(work, station_id, evse_id, connector_id, sources=(EVENT,))
        if f.condition == condition
    ]
    if not problem:
        for fault in open_faults:
            _clear(work, fault, max(at, fault.raised_at), CLEARED_BY_STATION)
        return
    if open_faults:
        _seen_again(open_faults[0], at)
        return
    value = f"{event.variable} = {event.value}"
    await _raise(
        work,
        Fault(
            station_id=station_id,
            evse_id=evse_id,
            connector_id=connector_id,
            source=EVENT,
            condition=condition,
            code=f"{event.component}.{event.variable}"[:100],
            vendor_code=event.tech_code,
            vendor_id=None,
            info=(event.tech_info or value)[:500],
            status=None,
            raised_at=at,
            last_reported_at=at,
            reports=1,
        ),
    )


def is_problem(event: DeviceEvent) -> bool | None:
    """True: the entry reports a problem; False: a problem is over; None: neither."""
    if event.cleared:
        return False
    if event.variable in PROBLEM_VARIABLES:
        return event.value.strip().lower() in {"true", "1"}
    if event.variable == "AvailabilityState":  # how many chargers report a Faulted connector
        return event.value == "Faulted"
    if event.trigger == "Alerting":
        return True
    return None


async def clear_by_operator(work: Work, fault_id: int, *, by: str, at: datetime) -> Fault | None:
    """Close a fault by hand (the station will not say it is over, e.g. it was replaced).
    None: no such fault; a fault already cleared is returned unchanged."""
    fault = await work.session.get(Fault, fault_id)
    if fault is not None and fault.cleared_at is None:
        _clear(work, fault, max(at, fault.raised_at), by)
    return fault


def _condition(event: DeviceEvent) -> str:
    component = event.component + (
        f"[{event.component_instance}]" if event.component_instance else ""
    )
    variable = event.variable + (f"[{event.variable_instance}]" if event.variable_instance else "")
    return f"{component}/{variable}"[:200]


async def _is_replay(
    work: Work, station_id: str, report: ConnectorStatusReport, at: datetime
) -> bool:
    current = await work.session.scalar(
        select(Connector.updated_at).where(
            Connector.station_id == station_id,
            Connector.evse_id == report.evse_id,
            Connector.connector_id == report.connector_id,
        )
    )
    return current is not None and at < current


async def _open(
    work: Work, station_id: str, evse_id: int, connector_id: int, *, sources: Sequence[str]
) -> list[Fault]:
    rows = await work.session.scalars(
        select(Fault).where(
            Fault.station_id == station_id,
            Fault.evse_id == evse_id,
            Fault.connector_id == connector_id,
            Fault.source.in_(sources),
            Fault.cleared_at.is_(None),
        )
    )
    return list(rows)


def _seen_again(fault: Fault, at: datetime) -> None:
    fault.reports += 1
    fault.last_reported_at = max(fault.last_reported_at, at)


async def _raise(work: Work, fault: Fault) -> None:
    work.session.add(fault)
    await work.session.flush()  # its id, for the event
    work.emit(
        events.FaultRaised(
            fault.station_id,
            fault.raised_at,
            fault.id,
            fault.evse_id,
            fault.connector_id,
            fault.code,
            fault.info,
            fault.vendor_code,
        )
    )


def _clear(work: Work, fault: Fault, at: datetime, by: str) -> None:
    fault.cleared_at = at
    fault.cleared_by = by
    work.emit(
        events.FaultCleared(
            fault.station_id, at, fault.id, fault.evse_id, fault.connector_id, fault.code, by
        )
    )
