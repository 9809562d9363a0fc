"""What the simulated station sends because of a reservation or its local list, checked
on the wire against the small central system of ``test_simulator_v201.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargeops.simulator import FleetConfig
from tests.simulator.test_simulator_fleet import FAST, Fleet, eventually
from tests.simulator.test_simulator_v201 import MixedCsms

QUIET = dict(stations=1, connectors=(1, 1), idle_between_sessions_s=(60.0, 60.0))


@pytest.fixture
async def central() -> AsyncIterator[MixedCsms]:
    csms = MixedCsms()
    await csms.start()
    yield csms
    await csms.stop()


@pytest.fixture
async def fleets() -> AsyncIterator[list[Fleet]]:
    started: list[Fleet] = []
    yield started
    for running in started:
        await running.stop()


def _in_minutes(minutes: int) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_session_started_on_a_reservation_names_it(
    central: MixedCsms, fleets: list[Fleet], version: str
) -> None:
    running = Fleet(FleetConfig(**{**FAST, **QUIET, "url": central.url, "ocpp_version": version}))
    fleets.append(running)
    sid = running.ids[0]
    log = central.logs[sid]
    await eventually(lambda: (1, "Available") in log.statuses)
    point = central.points[sid]

    if version == "1.6":
        answer = await point.call(
            call16.ReserveNow(
                connector_id=0, expiry_date=_in_minutes(5), id_tag="REMOTE-1", reservation_id=17
            )
        )
        assert answer.status == "Accepted"
        await eventually(lambda: log.statuses[-1] == (1, "Reserved"))
        answer = await point.call(call16.RemoteStartTransaction(id_tag="OTHER"))
        assert answer.status == "Rejected"
        answer = await point.call(call16.RemoteStartTransaction(id_tag="REMOTE-1"))
        assert answer.status == "Accepted"
        await eventually(lambda: bool(log.starts))
        assert log.starts[0]["reservation_id"] == 17
    else:
        token = {"id_token": "REMOTE-1", "type": "Central"}
        answer = await point.call(
            call201.ReserveNow(id=17, expiry_date_time=_in_minutes(5), id_token=token)
        )
        assert answer.status == "Accepted"
        await eventually(lambda: log.statuses[-1] == (1, "Reserved"))
        answer = await point.call(
            call201.RequestStartTransaction(id_token=token, remote_start_id=3)
        )
        assert answer.status == "Accepted"
        await eventually(lambda: bool(log.transaction_events))
        assert log.transaction_events[0]["reservation_id"] == 17


async def test_a_token_on_the_local_list_starts_without_asking(
    central: MixedCsms, fleets: list[Fleet]
) -> None:
    settings = {**FAST, **QUIET, "idle_between_sessions_s": (1.0, 1.0), "url": central.url}
    running = Fleet(FleetConfig(**settings))
    fleets.append(running)
    sid = running.ids[0]
    log = central.logs[sid]
    await eventually(lambda: (1, "Available") in log.statuses)
    tag = running.config.id_tags[0]
    central.rejected_tags.add(tag)  # asked, the central system would refuse it

    answer = await central.points[sid].call(
        call16.SendLocalList(
            list_version=1,
            update_type="Full",
            local_authorization_list=[{"id_tag": tag, "id_tag_info": {"status": "Accepted"}}],
        )
    )
    assert answer.status == "Accepted"
    await eventually(lambda: bool(log.starts))
    assert log.starts[0]["id_tag"] == tag
    assert log.authorizes == []
