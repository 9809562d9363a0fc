"""Incidents: rules fire on what chargers report, repeats are grouped, conditions that
clear resolve them, people acknowledge, assign, comment and resolve, and an incident
nobody acknowledges reaches the next level of its policy (driven by an injected clock)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from chargeops.alerts.models import Notification
from chargeops.users import accounts
from chargeops.users import service as users
from tests.harness import RunningServer, charge_point, now_iso


async def _user(server: RunningServer, email: str, roles: str) -> tuple[int, str]:
    """A user and an API key acting as them."""
    async with server.db() as db:
        user = await accounts.create_user(db, email, roles=roles)
        await db.flush()
        key = (await users.create_api_key(db, "k", user_id=user.id)).key
        await db.commit()
        return user.id, key


async def _incidents(server: RunningServer, **params: Any) -> list[dict[str, Any]]:
    page = await server.get("/api/v1/incidents", **params)
    return list(page["items"])


async def _until(check: Any, *, tries: int = 300) -> Any:
    """Incidents are opened from bus events, just after the charger's message commits."""
    for _ in range(tries):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    return await check()


async def _notified(server: RunningServer, incident_id: int) -> list[tuple[int | None, str]]:
    """Who was told what, in order (once per person: each has several channels)."""
    async with server.db() as db:
        rows = await db.scalars(
            select(Notification)
            .where(Notification.incident_id == incident_id)
            .order_by(Notification.id)
        )
        return list(dict.fromkeys((n.user_id, n.event) for n in rows.all()))


def _status(status: str, code: str = "NoError") -> Any:
    return call16.StatusNotification(connector_id=1, error_code=code, status=status)


async def test_a_fault_opens_one_incident_that_recovery_resolves(server: RunningServer) -> None:
    operator, _ = await _user(server, "ops@example.com", "operator")
    await _user(server, "driver@example.com", "driver")
    await server.add_station("CP-I1")
    async with charge_point(server, "CP-I1") as cp:
        await cp.call(_status("Faulted", "GroundFailure"))
        [incident] = await _until(lambda: _of_kind(server, "CP-I1", "connector_faulted"))
        assert incident["kind"] == "connector_faulted" and incident["status"] == "open"
        assert incident["title"] == "CP-I1 EVSE 1 faulted: GroundFailure"
        assert incident["severity"] == "major"
        # the same fault said again after a moment of recovery is a new fault, but a
        # second fault on the connector while the first is open is grouped
        await cp.call(_status("Faulted", "OverVoltage"))
        grouped = await _until(lambda: _fired_twice(server, "CP-I1"))
        assert len(grouped) == 1 and grouped[0]["occurrences"] == 2, await _incidents(
            server, station_id="CP-I1"
        )
        # level 1 of the default policy: operators and admins, not drivers
        notified = await _notified(server, incident["id"])
        assert {user for user, _ in notified} == {operator}
        assert {event for _, event in notified} == {"incident.opened"}

        await cp.call(_status("Available"))
        resolved = [
            i
            for i in await _until(lambda: _incidents(server, station_id="CP-I1", status="resolved"))
            if i["kind"] == "connector_faulted"
        ]
    assert resolved[0]["resolved_by"] == "condition cleared"
    assert "incident.resolved" in {e for _, e in await _notified(server, incident["id"])}


async def _of_kind(server: RunningServer, station_id: str, kind: str) -> list[dict[str, Any]]:
    return [i for i in await _incidents(server, station_id=station_id) if i["kind"] == kind]


async def _fired_twice(server: RunningServer, station_id: str) -> list[dict[str, Any]]:
    found = await _of_kind(server, station_id, "connector_faulted")
    return found if found and found[0]["occurrences"] >= 2 else []


async def test_offline_longer_than_the_rule_allows_and_back(server: RunningServer) -> None:
    engine = server.app.alerts
    assert engine is not None
    await server.add_station("CP-OFF")
    async with charge_point(server, "CP-OFF"):
        pass
    since = await _until(lambda: _offline_since(server, "CP-OFF"))
    # 9 minutes: the default rule waits 10
    assert await engine.check_offline(since + timedelta(minutes=9)) == 0
    assert await engine.check_offline(since + timedelta(minutes=11)) == 1
    assert await engine.check_offline(since + timedelta(minutes=12)) == 0  # already open
    [incident] = await _incidents(server, station_id="CP-OFF")
    assert incident["title"] == "CP-OFF is offline"
    assert datetime.fromisoformat(incident["started_at"]) == since
    async with charge_point(server, "CP-OFF"):
        resolved = await _until(lambda: _incidents(server, station_id="CP-OFF", status="resolved"))
    assert [i["id"] for i in resolved] == [incident["id"]]


async def _offline_since(server: RunningServer, station_id: str) -> datetime | None:
    from chargeops.monitoring.models import StationConnectivity

    async with server.db() as db:
        state = await db.get(StationConnectivity, station_id)
        return state.since if state is not None and not state.online else None


async def test_escalation_reaches_level_2_when_level_1_does_not_acknowledge(
    server: RunningServer,
) -> None:
    engine = server.app.alerts
    assert engine is not None
    first, _ = await _user(server, "first@example.com", "technician")
    second, _ = await _user(server, "second@example.com", "technician")
    async with server.api() as api:
        policy = await api.post(
            "/api/v1/alerts/policies",
            json={
                "name": "Night shift",
                "levels": [
                    {"after_minutes": 0, "user_ids": [first]},
                    {"after_minutes": 15, "user_ids": [second]},
                ],
            },
        )
        assert policy.status_code == 201, policy.text
        assert [level["level"] for level in policy.json()["levels"]] == [1, 2]
        bad = await api.post(
            "/api/v1/alerts/policies",
            json={
                "name": "Backwards",
                "levels": [
                    {"after_minutes": 0, "user_ids": [first]},
                    {"after_minutes": 0, "user_ids": [second]},
                ],
            },
        )
        assert bad.status_code == 422 and "level 2 must come later than level 1" in bad.text
        rule = await api.post(
            "/api/v1/alerts/rules",
            json={
                "name": "Security, night shift",
                "kind": "security_event",
                "severity": "critical",
                "policy_id": policy.json()["id"],
            },
        )
        assert rule.status_code == 201, rule.text
    await server.add_station("CP-SEC")
    async with charge_point(server, "CP-SEC", version="2.0.1") as cp:
        for _ in range(2):  # the same kind twice: one incident
            await cp.call(
                call201.SecurityEventNotification(
                    type="TamperDetectionActivated", timestamp=now_iso(), tech_info="door open"
                )
            )
    mine = await _until(lambda: _rule_incidents(server, rule.json()["id"], 2))
    [incident] = mine
    assert incident["occurrences"] == 2 and incident["level"] == 1  # levels count from 1
    assert await _notified(server, incident["id"]) == [(first, "incident.opened")]
    opened = datetime.fromisoformat(incident["opened_at"])

    assert await engine.escalate(opened + timedelta(minutes=14)) == 0
    assert await engine.escalate(opened + timedelta(minutes=16)) == 1
    detail = await server.get(f"/api/v1/incidents/{incident['id']}")
    assert detail["level"] == 2 and detail["next_escalation_at"] is None  # the last level
    assert await _notified(server, incident["id"]) == [
        (first, "incident.opened"),
        (second, "incident.escalated"),
    ]
    assert [n["kind"] for n in detail["notes"]][:4] == ["opened", "notified", "fired", "escalated"]
    assert detail["notes"][3]["text"] == "not acknowledged: escalated to level 2"


async def _rule_incidents(server: RunningServer, rule_id: int, occurrences: int) -> Any:
    found = [i for i in await _incidents(server) if i["rule_id"] == rule_id]
    return found if found and found[0]["occurrences"] >= occurrences else None


async def test_people_acknowledge_assign_comment_and_resolve(server: RunningServer) -> None:
    engine = server.app.alerts
    assert engine is not None
    tech, tech_key = await _user(server, "tech@example.com", "technician")
    _, driver_key = await _user(server, "d@example.com", "driver")
    await server.add_station("CP-W")
    async with charge_point(server, "CP-W") as cp:
        await cp.call(_status("Faulted", "ReaderFailure"))
    found = await _until(lambda: _incidents(server, station_id="CP-W"))
    assert len(found) == 1, found
    [incident] = found
    iid = incident["id"]
    headers = {"Authorization": f"Bearer {tech_key}"}
    async with server.api() as api:
        ack = await api.post(f"/api/v1/incidents/{iid}/acknowledge", headers=headers)
        assert ack.status_code == 200, ack.text
        assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"]
        assigned = await api.post(f"/api/v1/incidents/{iid}/assign", json={"user_id": tech})
        assert assigned.json()["assignee_id"] == tech
        note = await api.post(
            f"/api/v1/incidents/{iid}/comments",
            json={"text": "card reader swapped"},
            headers=headers,
        )
        assert note.status_code == 201
        refused = await api.post(
            f"/api/v1/incidents/{iid}/resolve",
            json={},
            headers={"Authorization": f"Bearer {driver_key}"},
        )
        assert refused.status_code == 403
        done = await api.post(
            f"/api/v1/incidents/{iid}/resolve", json={"note": "reader replaced"}, headers=headers
        )
        assert done.json()["status"] == "resolved"
        again = await api.post(f"/api/v1/incidents/{iid}/resolve", json={}, headers=headers)
        assert again.status_code == 409
    # acknowledged: escalation never comes
    await engine.escalate(datetime.now(UTC) + timedelta(hours=2))
    detail = await server.get(f"/api/v1/incidents/{iid}")
    assert detail["level"] == 1 and "escalated" not in [n["kind"] for n in detail["notes"]]
    kinds = [n["kind"] for n in detail["notes"]]
    assert kinds[-4:] == ["acknowledged", "assigned", "comment", "resolved"]
    assert detail["notes"][-2]["text"] == "card reader swapped"
    assert (tech, "incident.assigned") in await _notified(server, iid)


async def test_interrupted_sessions_and_rules_validated(server: RunningServer) -> None:
    await server.add_token("TAG-1")
    await server.add_station("CP-INT")
    async with charge_point(server, "CP-INT") as cp:
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-1", meter_start=0, timestamp=now_iso()
            )
        )
        await cp.call(
            call16.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=1200,
                timestamp=now_iso(),
                reason="PowerLoss",
            )
        )
    found = await _until(lambda: _of_kind(server, "CP-INT", "session_interrupted"))
    [incident] = found
    assert "PowerLoss" in incident["title"]
    async with server.api() as api:
        wrong = await api.post(
            "/api/v1/alerts/rules",
            json={"name": "x", "kind": "station_offline", "params": {"minutez": 5}},
        )
        assert wrong.status_code == 422 and "minutez" in wrong.text
        unknown = await api.post("/api/v1/alerts/rules", json={"name": "y", "kind": "nope"})
        assert unknown.status_code == 422
        rules = (await api.get("/api/v1/alerts/rules")).json()
    assert {r["kind"] for r in rules} >= {
        "station_offline",
        "connector_faulted",
        "anomaly",
        "uptime_below",
        "session_interrupted",
        "firmware_failed",
        "security_event",
    }
