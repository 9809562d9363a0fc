"""CDRs end to end: real OCPP 1.6 and 2.0.1 chargers charge, the session ends, and its
CDR appears once, priced by hand-computed figures; credits, CSV and who sees what.

Every session here charges the same way, at a site in Berlin, against the tariff
ENERGY 0.30/kWh + PARKING_TIME 6.00/h (billed per started 5 minutes) + FLAT 1.00, each
with 19 % VAT:

- meter 1,000 Wh at the start (T0), 6,000 Wh at T0+15 min, 11,000 Wh at T0+30 min;
- charging from T0 to T0+30 min, then the car is full (SuspendedEV / EVConnected) and
  stays plugged in until the stop at T0+50:30;
- energy 10 kWh x 0.30 = 3.00 (incl. VAT 3.57); parking 20:30 = 1,230 s, billed as
  1,500 s x 6.00/h = 2.50 (2.975); start fee 1.00 (1.19); charging time is free;
- total excl. VAT 6.50; incl. VAT 3.57 + 2.975 + 1.19 = 7.735, rounded once: 7.74.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import delete, func, select

from chargeops.billing.models import Cdr
from chargeops.core.events import TransactionEnded
from chargeops.users import accounts
from chargeops.users.models import IdToken
from tests.api.test_access import add_user, as_user, server
from tests.billing.test_tariffs_api import assign, document, make_tariff, place, site
from tests.harness import RunningServer, charge_point, now_iso

__all__ = ["server"]  # the fixture, shared with test_access

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
END = T0 + timedelta(minutes=50, seconds=30)
OCMF = 'OCMF|{"FV":"1.0","GI":"ABL SBC-301","RD":[{"RV":"11.000","RU":"kWh"}]}|{"SD":"3045"}'


def at(minutes: float) -> str:
    return now_iso(T0 + timedelta(minutes=minutes))


async def tariff_at_site(server: RunningServer, *stations: str) -> dict[str, Any]:
    """The tariff above, in force and assigned since the day before T0, at a Berlin site
    holding ``stations``."""
    for station in stations:
        await server.add_station(station)
    since = T0 - timedelta(days=1)
    async with server.api() as admin:
        here = await site(admin, "Berlin Mitte")
        for station in stations:
            await place(admin, station, here)
        tariff = await make_tariff(admin, "Standard", document(), valid_from=since)
        await assign(admin, tariff, scope="site", site_id=here, valid_from=since)
    return tariff


async def own_token(server: RunningServer, tag: str, user_id: int | None, org: str | None) -> None:
    """A token belonging to a user and/or an organization."""
    async with server.db() as db:
        org_id = (await accounts.ensure_organization(db, org)).id if org else None
        await db.commit()
    await server.add_token(tag)
    async with server.db() as db:
        token = (await db.execute(select(IdToken).where(IdToken.id_tag == tag))).scalar_one()
        token.user_id, token.organization_id = user_id, org_id
        await db.commit()


def register(wh: int, minutes: float, power_w: int, context: str) -> dict[str, Any]:
    return {
        "timestamp": at(minutes),
        "sampledValue": [
            {
                "value": str(wh),
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
                "context": context,
            },
            {
                "value": str(power_w),
                "measurand": "Power.Active.Import",
                "unit": "W",
                "context": context,
            },
        ],
    }


async def charge_16(cp: Any, tag: str, connector: int = 1) -> int:
    """The session of the module doc, told by an OCPP 1.6 charger; its transaction id."""

    async def status(state: str, minutes: float) -> None:
        await cp.call(
            call16.StatusNotification(
                connector_id=connector, error_code="NoError", status=state, timestamp=at(minutes)
            )
        )

    await status("Preparing", -1)
    started = await cp.call(
        call16.StartTransaction(
            connector_id=connector, id_tag=tag, meter_start=1_000, timestamp=at(0)
        )
    )
    tx = int(started.transaction_id)
    await status("Charging", 0)
    for wh, minutes in ((6_000, 15), (11_000, 30)):
        await cp.call(
            call16.MeterValues(
                connector_id=connector,
                transaction_id=tx,
                meter_value=[register(wh, minutes, 20_000, "Sample.Periodic")],
            )
        )
    await status("SuspendedEV", 30)
    await stop_16(cp, tx)
    await status("Finishing", 50.5)
    return tx


async def stop_16(cp: Any, tx: int) -> None:
    # an Eichrecht charger sends the register at the end twice: as a plain value and as
    # the meter's signed reading (OCMF), same instant, measurand and context; both count
    await cp.call(
        call16.StopTransaction(
            meter_stop=11_000,
            timestamp=at(50.5),
            transaction_id=tx,
            reason="EVDisconnected",
            transaction_data=[
                {
                    "timestamp": at(50.5),
                    "sampledValue": [
                        {"value": "11000", "unit": "Wh", "context": "Transaction.End"},
                        {"value": OCMF, "format": "SignedData", "context": "Transaction.End"},
                    ],
                }
            ],
        )
    )


def event_201(
    event_type: str, seq_no: int, minutes: float, wh: int, power_w: int, **extra: Any
) -> call201.TransactionEvent:
    info = {"transaction_id": "TX-201", **extra.pop("info", {})}
    return call201.TransactionEvent(
        event_type=event_type,
        timestamp=at(minutes),
        trigger_reason=extra.pop("trigger", "MeterValuePeriodic"),
        seq_no=seq_no,
        transaction_info=info,
        meter_value=[
            {
                "timestamp": at(minutes),
                "sampled_value": [
                    {
                        "value": wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unit_of_measure": {"unit": "Wh"},
                    },
                    {
                        "value": power_w,
                        "measurand": "Power.Active.Import",
                        "unit_of_measure": {"unit": "W"},
                    },
                ],
            }
        ],
        **extra,
    )


async def cdrs_of(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/cdrs", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def settled(server: RunningServer) -> None:
    """Let the bus deliver what the last commits published (the CDR is made by then)."""
    await server.app.bus.drain()


def assert_priced_as_the_module_doc_says(cdr: dict[str, Any]) -> None:
    assert cdr["kind"] == "original" and not cdr["unpriced"]
    assert (cdr["currency"], cdr["time_zone"]) == ("EUR", "Europe/Berlin")
    assert (cdr["tariff_name"], cdr["tariff_version"]) == ("Standard", 1)
    assert cdr["energy_wh"] == 10_000
    assert (cdr["charging_s"], cdr["parking_s"]) == ("1800", "1230")
    assert (cdr["total_excl_vat"], cdr["total_vat"], cdr["total_incl_vat"]) == (
        "6.50",
        "1.24",
        "7.74",
    )
    assert datetime.fromisoformat(cdr["started_at"]) == T0
    assert datetime.fromisoformat(cdr["ended_at"]) == END


def lines_of(detail: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (line["dimension"], line["quantity"], line["billed"], line["cost_excl_vat"])
        for line in detail["lines"]
    ]


async def test_a_16_session_gets_one_cdr_priced_by_its_tariff(server: RunningServer) -> None:
    tariff = await tariff_at_site(server, "CP-16")
    driver = await add_user(server, "driver@example.com", "driver", org="Fleet A")
    await own_token(server, "CARD-1", driver, None)
    async with charge_point(server, "CP-16") as cp:
        tx = await charge_16(cp, "CARD-1")
        await settled(server)
        # the charger did not see our answer and sends the stop again: no second CDR
        await stop_16(cp, tx)
        await settled(server)
    async with server.api() as admin:
        listed = await cdrs_of(admin)
        assert len(listed) == 1
        cdr = listed[0]
        assert_priced_as_the_module_doc_says(cdr)
        assert (cdr["station_id"], cdr["evse_id"], cdr["transaction_id"]) == ("CP-16", 1, str(tx))
        assert (cdr["id_tag"], cdr["user_id"]) == ("CARD-1", driver)
        assert cdr["organization_id"] is not None  # the owner's fleet, when rated
        assert cdr["tariff_id"] == tariff["id"] and cdr["has_signed_meter_data"]
        detail = (await admin.get(f"/api/v1/cdrs/{cdr['id']}")).json()
        assert lines_of(detail) == [
            ("ENERGY", "10000", "10000", "3.00"),
            ("PARKING_TIME", "1230", "1500", "2.50"),
            ("FLAT", "1", "1", "1.00"),
        ]
        assert [(p["kind"], p["energy_wh"], p["duration_s"]) for p in detail["periods"]] == [
            ("CHARGING", 10_000, "1800"),
            ("IDLE", 0, "1230"),
        ]
        signed = detail["signed_meter_data"]
        assert [(s["format"], s["signed_data"]) for s in signed] == [("SignedData", OCMF)]

        # the same fact delivered twice on the bus makes no second CDR either
        server.app.bus.publish(
            [TransactionEnded("CP-16", END, cdr["session_id"], 1, 10_000, "EVDisconnected")]
        )
        await settled(server)
        assert len(await cdrs_of(admin)) == 1

        # a tariff that priced a CDR is kept for it
        assert (await admin.delete(f"/api/v1/tariffs/{tariff['id']}")).status_code == 409


async def test_a_201_session_is_priced_by_the_version_in_force_when_it_started(
    server: RunningServer,
) -> None:
    tariff = await tariff_at_site(server, "CP-201")
    await server.add_token("CARD-2")
    async with charge_point(server, "CP-201", version="2.0.1") as cp:
        await cp.call(
            event_201(
                "Started",
                0,
                0,
                1_000,
                20_000,
                trigger="Authorized",
                info={"charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "CARD-2", "type": "ISO14443"},
            )
        )
        await cp.call(event_201("Updated", 1, 15, 6_000, 20_000))
        await cp.call(
            event_201("Updated", 2, 30, 11_000, 0, info={"charging_state": "SuspendedEV"})
        )
        # prices double from T0+10 min, during the session: it keeps the price it started at
        async with server.api() as admin:
            doubled = await admin.post(
                f"/api/v1/tariffs/{tariff['id']}/versions",
                json={
                    "document": document(energy="0.60", parking="12.00", flat="2.00"),
                    "valid_from": at(10),
                },
            )
            assert doubled.status_code == 201
        ended = event_201(
            "Ended",
            3,
            50.5,
            11_000,
            0,
            trigger="EVCommunicationLost",
            info={"charging_state": "EVConnected", "stopped_reason": "EVDisconnected"},
        )
        await cp.call(ended)
        await settled(server)
        await cp.call(ended)  # a retry: stored once, and no second CDR
        await settled(server)
    async with server.api() as admin:
        listed = await cdrs_of(admin)
        assert len(listed) == 1
        assert_priced_as_the_module_doc_says(listed[0])
        assert (listed[0]["transaction_id"], listed[0]["id_tag"]) == ("TX-201", "CARD-2")
        assert listed[0]["user_id"] is None and listed[0]["organization_id"] is None
        assert not listed[0]["has_signed_meter_data"]
        detail = (await admin.get(f"/api/v1/cdrs/{listed[0]['id']}")).json()
        assert detail["signed_meter_data"] is None
        assert lines_of(detail)[1] == ("PARKING_TIME", "1230", "1500", "2.50")


async def test_a_credit_cancels_a_cdr_once_and_the_csv_shows_both(server: RunningServer) -> None:
    await tariff_at_site(server, "CP-16")
    await server.add_token("CARD-1")
    await add_user(server, "tech@example.com", "technician")
    async with charge_point(server, "CP-16") as cp:
        await charge_16(cp, "CARD-1")
    await settled(server)
    async with server.api() as admin:
        (original,) = await cdrs_of(admin)
        no_reason = await admin.post(f"/api/v1/cdrs/{original['id']}/credit", json={"reason": ""})
        assert no_reason.status_code == 422
        async with await as_user(server, "tech@example.com") as tech:
            refused = await tech.post(
                f"/api/v1/cdrs/{original['id']}/credit", json={"reason": "goodwill"}
            )
            assert refused.status_code == 403
        made = await admin.post(
            f"/api/v1/cdrs/{original['id']}/credit", json={"reason": "charger fault"}
        )
        assert made.status_code == 201, made.text
        credit = made.json()
        assert (credit["kind"], credit["credits_cdr_id"], credit["reason"]) == (
            "credit",
            original["id"],
            "charger fault",
        )
        assert (credit["total_excl_vat"], credit["total_vat"], credit["total_incl_vat"]) == (
            "-6.50",
            "-1.24",
            "-7.74",
        )
        assert credit["energy_wh"] == 10_000  # the same session, refunded
        assert [line["cost_excl_vat"] for line in credit["lines"]] == ["-3.00", "-2.50", "-1.00"]
        again = await admin.post(f"/api/v1/cdrs/{original['id']}/credit", json={"reason": "x"})
        of_credit = await admin.post(f"/api/v1/cdrs/{credit['id']}/credit", json={"reason": "x"})
        assert (again.status_code, of_credit.status_code) == (409, 409)
        unchanged = (await admin.get(f"/api/v1/cdrs/{original['id']}")).json()
        assert unchanged["total_incl_vat"] == "7.74" and unchanged["kind"] == "original"
        assert [c["id"] for c in await cdrs_of(admin, kind="credit")] == [credit["id"]]
        assert [c["id"] for c in await cdrs_of(admin)] == [credit["id"], original["id"]]

        exported = await admin.get("/api/v1/cdrs.csv", params={"station_id": "CP-16"})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        day_after = (T0 + timedelta(days=1)).isoformat()
        none = await admin.get("/api/v1/cdrs.csv", params={"since": day_after})
        bad = await admin.get("/api/v1/cdrs.csv", params={"kind": "refund"})
    assert [(r["id"], r["kind"]) for r in rows] == [
        (str(credit["id"]), "credit"),
        (str(original["id"]), "original"),
    ]
    row = rows[1]
    assert {k: row[k] for k in ("station_id", "kwh", "charging_minutes", "parking_minutes")} == {
        "station_id": "CP-16",
        "kwh": "10",
        "charging_minutes": "30.00",
        "parking_minutes": "20.50",
    }
    assert (row["currency"], row["excl_vat"], row["vat"], row["incl_vat"]) == (
        "EUR",
        "6.50",
        "1.24",
        "7.74",
    )
    assert (row["tariff"], row["tariff_version"], row["session_id"]) == (
        "Standard",
        "1",
        str(original["session_id"]),
    )
    assert (row["start"], row["end"]) == (
        at(0).replace("Z", ".000Z"),
        at(50.5).replace("Z", ".000Z"),
    )
    assert rows[0]["incl_vat"] == "-7.74" and rows[0]["credits_cdr_id"] == str(original["id"])
    assert none.text.strip().splitlines() == [
        ",".join(
            [
                "id",
                "kind",
                "session_id",
                "station_id",
                "evse_id",
                "start",
                "end",
                "kwh",
                "charging_minutes",
                "parking_minutes",
                "currency",
                "excl_vat",
                "vat",
                "incl_vat",
                "tariff",
                "tariff_version",
                "credits_cdr_id",
            ]
        )
    ]
    assert bad.status_code == 422


async def test_drivers_and_fleets_see_only_their_cdrs_and_unpriced_sessions_are_kept(
    server: RunningServer,
) -> None:
    await server.add_station("CP-S")  # no tariff anywhere: every session is unpriced
    driver_a = await add_user(server, "driver-a@example.com", "driver", org="Fleet A")
    await add_user(server, "fleet-a@example.com", "fleet_manager", org="Fleet A")
    await add_user(server, "fleet-b@example.com", "fleet_manager", org="Fleet B")
    await add_user(server, "tech@example.com", "technician")
    await own_token(server, "CARD-A1", driver_a, None)  # a fleet driver's own card
    await own_token(server, "CARD-A2", None, "Fleet A")  # a card of the fleet
    await own_token(server, "CARD-B1", None, "Fleet B")
    async with charge_point(server, "CP-S") as cp:
        for connector, tag in enumerate(("CARD-A1", "CARD-A2", "CARD-B1"), start=1):
            started = await cp.call(
                call16.StartTransaction(
                    connector_id=connector, id_tag=tag, meter_start=0, timestamp=at(0)
                )
            )
            await cp.call(
                call16.StopTransaction(
                    meter_stop=2_500, timestamp=at(20), transaction_id=started.transaction_id
                )
            )
    await settled(server)
    async with server.api() as admin:
        everyone = await cdrs_of(admin)
    by_tag = {c["id_tag"]: c for c in everyone}
    unpriced = by_tag["CARD-B1"]
    assert unpriced["unpriced"] and unpriced["currency"] is None and unpriced["tariff_id"] is None
    assert (unpriced["total_excl_vat"], unpriced["total_incl_vat"]) == ("0", "0")
    assert (unpriced["energy_wh"], unpriced["charging_s"]) == (2_500, "1200")

    seen: dict[str, set[str]] = {}
    for email in ("driver-a@example.com", "fleet-a@example.com", "fleet-b@example.com"):
        async with await as_user(server, email) as client:
            seen[email] = {c["id_tag"] for c in await cdrs_of(client)}
            if email == "driver-a@example.com":
                theirs = await client.get(f"/api/v1/cdrs/{by_tag['CARD-A2']['id']}")
                mine = await client.get(f"/api/v1/cdrs/{by_tag['CARD-A1']['id']}")
                exported = (await client.get("/api/v1/cdrs.csv")).text
                credit = await client.post(
                    f"/api/v1/cdrs/{mine.json()['id']}/credit", json={"reason": "mine"}
                )
    assert seen == {
        "driver-a@example.com": {"CARD-A1"},
        "fleet-a@example.com": {"CARD-A1", "CARD-A2"},
        "fleet-b@example.com": {"CARD-B1"},
    }
    assert (theirs.status_code, mine.status_code, credit.status_code) == (404, 200, 403)
    assert len(exported.strip().splitlines()) == 2  # the header and their one CDR

    async with await as_user(server, "tech@example.com") as tech:
        assert len(await cdrs_of(tech)) == 3  # staff see every CDR
        write = await tech.post("/api/v1/tariffs", json={"name": "T", "document": document()})
        assign_ = await tech.post("/api/v1/tariffs/1/assignments", json={"scope": "default"})
        assert (await tech.get("/api/v1/tariffs")).status_code == 200
    assert (write.status_code, assign_.status_code) == (403, 403)


async def test_sessions_left_without_a_cdr_are_rated_after_a_start(server: RunningServer) -> None:
    await tariff_at_site(server, "CP-16")
    await server.add_token("CARD-1")
    async with charge_point(server, "CP-16") as cp:
        await charge_16(cp, "CARD-1")
        await settled(server)
        # the handler never ran for this one (the server was down, or it failed)
        async with server.db() as db:
            session_id = await db.scalar(select(Cdr.session_id))
            await db.execute(delete(Cdr))
            await db.commit()
        assert session_id is not None
        recorder = server.app.cdrs
        assert recorder is not None
        # the catch-up after a start meets a late event for the same session: one CDR
        server.app.bus.publish([TransactionEnded("CP-16", END, session_id, 1, 10_000, "Local")])
        tried = await recorder.catch_up()
        await settled(server)
        assert tried <= 1
        assert await recorder.catch_up() == 0  # nothing left
    async with server.db() as db:
        count = await db.scalar(select(func.count()).select_from(Cdr))
    async with server.api() as admin:
        (cdr,) = await cdrs_of(admin)
    assert count == 1
    assert_priced_as_the_module_doc_says(cdr)
