"""The read API: keys, stations, sessions, filters, pagination, health, metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ocpp.v16 import call

from tests.harness import RunningServer, charge_point, now_iso


async def test_every_api_route_needs_a_valid_key(server: RunningServer) -> None:
    paths = ["/api/v1/stations", "/api/v1/stations/CP-1", "/api/v1/sessions", "/api/v1/sessions/1"]
    wrong = [
        None,
        "Bearer nope",
        "Bearer",
        "Basic Zm9vOmJhcg==",
        "co_x",
        f"Bearer {server.api_key}x",
    ]
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        for path in paths:
            for auth in wrong:
                headers = {"Authorization": auth} if auth is not None else {}
                response = await client.get(path, headers=headers)
                assert response.status_code == 401, (path, auth)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["status"] == 401
                assert response.headers["www-authenticate"] == "Bearer"
            right = await client.get(path, headers={"Authorization": f"Bearer {server.api_key}"})
            assert right.status_code in (200, 404)


async def test_health_and_docs_need_no_key(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        health = await client.get("/health")
        docs = await client.get("/docs")
        openapi = await client.get("/openapi.json")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["gateway"] == {"status": "running", "connected_stations": 0}
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "/api/v1/sessions/{session_id}" in openapi.json()["paths"]


async def test_metrics_count_messages_and_connections(server: RunningServer) -> None:
    await server.add_station("CP-M")
    async with charge_point(server, "CP-M") as cp:
        await cp.call(call.Heartbeat())
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            text = (await client.get("/metrics")).text
    assert "chargeops_connected_stations 1.0" in text
    assert 'chargeops_ocpp_messages_total{action="Heartbeat",result="ok"}' in text
    assert "chargeops_ocpp_answer_seconds_bucket" in text
    assert "chargeops_db_commit_seconds_count" in text
    assert "chargeops_db_writer_backlog 0.0" in text


async def test_unknown_station_and_session_are_404_problems(server: RunningServer) -> None:
    async with server.api() as client:
        station = await client.get("/api/v1/stations/NOPE")
        session = await client.get("/api/v1/sessions/999")
        bad_id = await client.get("/api/v1/sessions/abc")
    assert station.status_code == 404 and "NOPE" in station.json()["detail"]
    assert session.status_code == 404
    assert bad_id.status_code == 422


async def test_station_list_pages_with_a_cursor(server: RunningServer) -> None:
    for n in range(7):
        await server.add_station(f"CP-{n:02d}")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = await server.get("/api/v1/stations", **params)
        seen += [s["id"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"CP-{n:02d}" for n in range(7)]
    assert pages == 3
    station = (await server.get("/api/v1/stations", limit=1))["items"][0]
    assert set(station) >= {
        "id",
        "vendor",
        "model",
        "serial_number",
        "firmware_version",
        "online",
        "last_seen_at",
        "connectors",
    }


async def test_sessions_filter_by_station_status_and_time(server: RunningServer) -> None:
    await server.add_token("TAG")
    await server.add_station("CP-A")
    await server.add_station("CP-B")
    day = datetime(2026, 11, 1, tzinfo=UTC)
    async with charge_point(server, "CP-A") as a, charge_point(server, "CP-B") as b:
        for i, cp in enumerate((a, b, a)):
            started = day + timedelta(days=i)
            tx = (
                await cp.call(
                    call.StartTransaction(
                        connector_id=1, id_tag="TAG", meter_start=0, timestamp=now_iso(started)
                    )
                )
            ).transaction_id
            if i < 2:
                await cp.call(
                    call.StopTransaction(
                        meter_stop=1000 * (i + 1),
                        timestamp=now_iso(started + timedelta(hours=1)),
                        transaction_id=tx,
                    )
                )
    every = (await server.get("/api/v1/sessions"))["items"]
    assert len(every) == 3
    assert [s["started_at"][:10] for s in every] == ["2026-11-03", "2026-11-02", "2026-11-01"]
    only_a = (await server.get("/api/v1/sessions", station_id="CP-A"))["items"]
    assert {s["station_id"] for s in only_a} == {"CP-A"} and len(only_a) == 2
    active = (await server.get("/api/v1/sessions", status="active"))["items"]
    assert [s["started_at"][:10] for s in active] == ["2026-11-03"]
    assert active[0]["stopped_at"] is None and active[0]["energy_wh"] is None
    completed = (await server.get("/api/v1/sessions", status="completed"))["items"]
    assert len(completed) == 2
    window = (
        await server.get(
            "/api/v1/sessions", since="2026-11-02T00:00:00Z", until="2026-11-03T00:00:00Z"
        )
    )["items"]
    assert [s["started_at"][:10] for s in window] == ["2026-11-02"]
    page1 = await server.get("/api/v1/sessions", limit=2)
    page2 = await server.get("/api/v1/sessions", limit=2, cursor=page1["next_cursor"])
    assert [s["id"] for s in page1["items"] + page2["items"]] == [s["id"] for s in every]
    assert page2["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"status": "paused"},
        {"since": "last tuesday"},
        {"cursor": "!!!"},
        {"limit": 0},
        {"limit": 100000},
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
    ],
)
async def test_bad_query_parameters_get_a_clear_422(
    server: RunningServer, params: dict[str, object]
) -> None:
    async with server.api() as client:
        response = await client.get("/api/v1/sessions", params=params)
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Invalid input" and problem["detail"]


async def test_a_key_in_use_records_when_it_was_last_used(server: RunningServer) -> None:
    from sqlalchemy import select

    from chargeops.users.models import ApiKey

    before = datetime.now(UTC)
    await server.get("/api/v1/stations")
    async with server.db() as db:
        used = await db.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "tests"))
    assert used is not None and used >= before - timedelta(seconds=1)
