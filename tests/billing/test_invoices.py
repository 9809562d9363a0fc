"""Invoices end to end: real 1.6 and 2.0.1 chargers charge, the sessions' CDRs end up
on receipts (drivers of their own) and monthly invoices (fleets), numbered without gaps,
downloadable as PDF and HTML, corrected by credit notes, and a month run twice issues
nothing new.

The tariff is the one of test_cdrs (ENERGY 0.30/kWh, PARKING_TIME 6.00/h per started
5 minutes, FLAT 1.00, all 19 % VAT). A "month session" below charges 22 kWh in 30 min,
then idles 15 min: 22 x 0.30 = 6.60, 900 s parking = 1.50, flat 1.00; excl. VAT 9.10;
incl. 7.854 + 1.785 + 1.19 = 10.829, rounded once: 10.83 (VAT 1.73).
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pypdf
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.api.test_access import add_user, as_user, server
from tests.billing.test_cdrs import T0, charge_16, own_token, settled, tariff_at_site
from tests.billing.test_tariffs_api import assign, document, make_tariff, place, site
from tests.cli.test_cli_apikeys import cli
from tests.harness import RunningServer, charge_point, now_iso

__all__ = ["server"]

ISSUER = {
    "name": "Stadtwerke Ladenetz GmbH",
    "address": "Hafenstraße 1\n20457 Hamburg",
    "vat_id": "DE123456789",
    "company_id": "HRB 12345",
    "bank_details": "IBAN DE02 1203 0000 0000 2020 51",
    "time_zone": "Europe/Berlin",
}
BERLIN = ZoneInfo("Europe/Berlin")
OCMF_201 = 'OCMF|{"FV":"1.0","GI":"KEBA P30","RD":[{"RV":"22.000","RU":"kWh"}]}|{"SD":"30450221"}'
PUBLIC_KEY = "3059301306072A8648CE3D020106082A8648CE3D03010703420004A1B2C3D4"


def last_month() -> tuple[str, datetime]:
    """Last month in Berlin, as 2026-10, and 10:00 UTC on its 15th."""
    here = datetime.now(BERLIN)
    year, month = (here.year, here.month - 1) if here.month > 1 else (here.year - 1, 12)
    return f"{year:04d}-{month:02d}", datetime(year, month, 15, 10, tzinfo=UTC)


async def set_issuer(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.put("/api/v1/billing/issuer", json=ISSUER | changes)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def invoices_of(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/invoices", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


async def month_session_16(cp: Any, tag: str, start: datetime) -> None:
    def at(minutes: float) -> str:
        return now_iso(start + timedelta(minutes=minutes))

    async def status(state: str, minutes: float) -> None:
        await cp.call(
            call16.StatusNotification(
                connector_id=1, error_code="NoError", status=state, timestamp=at(minutes)
            )
        )

    await status("Preparing", -1)
    started = await cp.call(
        call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=at(0))
    )
    await status("Charging", 0)
    await status("SuspendedEV", 30)
    await cp.call(
        call16.StopTransaction(
            meter_stop=22_000,
            timestamp=at(45),
            transaction_id=started.transaction_id,
            reason="EVDisconnected",
        )
    )
    await status("Available", 45)


async def month_session_201(
    cp: Any, tag: str, start: datetime, tx: str, signed: dict[str, str] | None = None
) -> None:
    def event(kind: str, seq: int, minutes: float, wh: int, state: str, **extra: Any) -> Any:
        sample: dict[str, Any] = {
            "value": wh,
            "measurand": "Energy.Active.Import.Register",
            "unit_of_measure": {"unit": "Wh"},
        }
        if signed is not None and kind == "Ended":
            sample["signed_meter_value"] = signed
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=now_iso(start + timedelta(minutes=minutes)),
            trigger_reason=extra.pop("trigger", "ChargingStateChanged"),
            seq_no=seq,
            transaction_info={"transaction_id": tx, "charging_state": state},
            meter_value=[
                {
                    "timestamp": now_iso(start + timedelta(minutes=minutes)),
                    "sampled_value": [sample],
                }
            ],
            **extra,
        )

    await cp.call(
        event(
            "Started",
            0,
            0,
            0,
            "Charging",
            trigger="Authorized",
            evse={"id": 1, "connector_id": 1},
            id_token={"id_token": tag, "type": "ISO14443"},
        )
    )
    await cp.call(event("Updated", 1, 30, 22_000, "SuspendedEV"))
    await cp.call(event("Ended", 2, 45, 22_000, "EVConnected", trigger="EVCommunicationLost"))


async def test_a_driver_gets_a_receipt_with_the_operators_details_and_a_credit_note(
    server: RunningServer,
) -> None:
    await tariff_at_site(server, "CP-16")
    driver = await add_user(server, "driver@example.com", "driver")
    await add_user(server, "other@example.com", "driver")
    await own_token(server, "CARD-1", driver, None)
    async with server.api() as admin:
        await set_issuer(admin)
    async with charge_point(server, "CP-16") as cp:
        await charge_16(cp, "CARD-1")
    await settled(server)  # the CDR's handler issued the receipt too
    year = datetime.now(BERLIN).year
    async with await as_user(server, "driver@example.com") as me:
        (receipt,) = await invoices_of(me)
        assert receipt["number"] == f"INV-{year}-000001"
        assert (receipt["kind"], receipt["cycle"], receipt["sessions"]) == ("invoice", "session", 1)
        assert (receipt["customer"]["name"], receipt["customer"]["email"]) == (
            "driver",
            "driver@example.com",
        )
        assert (receipt["total_excl_vat"], receipt["total_vat"], receipt["total_incl_vat"]) == (
            "6.50",
            "1.24",
            "7.74",
        )
        assert receipt["tax_summary"] == [
            {"rate": "19", "excl_vat": "6.50", "vat": "1.24", "incl_vat": "7.74"}
        ]
        detail = (await me.get(f"/api/v1/invoices/{receipt['id']}")).json()
        (line,) = detail["lines"]
        assert (line["station_id"], line["energy_wh"], line["incl_vat"]) == (
            "CP-16",
            10_000,
            "7.74",
        )
        assert "Berlin Mitte" in line["description"]
        assert detail["issuer"]["vat_id"] == "DE123456789"

        pdf = await me.get(receipt["pdf_url"])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = pdf_text(pdf.content)
        for shown in (
            f"Invoice INV-{year}-000001",
            "Stadtwerke Ladenetz GmbH",
            "Hafenstraße 1",
            "DE123456789",
            "EUR 7.74",
            "EUR 1.24",
            "10.000",  # kWh
            "19 %",
        ):
            assert shown in text, f"{shown!r} not in the PDF"
        page = await me.get(receipt["html_url"])
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "EUR 7.74" in page.text and "Stadtwerke Ladenetz GmbH" in page.text
        assert "script-src" not in page.headers["content-security-policy"]

    # another driver sees neither the receipt nor its PDF
    async with await as_user(server, "other@example.com") as other:
        assert await invoices_of(other) == []
        assert (await other.get(f"/api/v1/invoices/{receipt['id']}.pdf")).status_code == 404

    # a correction: the CDR is credited and the receipt gets a credit note, once
    async with server.api() as admin:
        cdr_id = line["cdr_id"]
        credited = await admin.post(f"/api/v1/cdrs/{cdr_id}/credit", json={"reason": "fault"})
        assert credited.status_code == 201, credited.text
        detail = (await admin.get(f"/api/v1/invoices/{receipt['id']}")).json()
        (note,) = detail["credit_notes"]
        assert note["number"] == f"CN-{year}-000001"
        assert (note["kind"], note["credits_invoice_id"], note["total_incl_vat"]) == (
            "credit_note",
            receipt["id"],
            "-7.74",
        )
        note_pdf = pdf_text((await admin.get(note["pdf_url"])).content)
        assert f"Credit note CN-{year}-000001" in note_pdf
        assert f"INV-{year}-000001" in note_pdf and "fault" in note_pdf
        again = await admin.post(
            f"/api/v1/invoices/{receipt['id']}/credit-note", json={"reason": "twice"}
        )
        assert again.status_code == 409
        assert len(await invoices_of(admin)) == 2


async def test_a_month_is_invoiced_once_per_fleet_and_a_second_run_issues_nothing(
    server: RunningServer,
) -> None:
    month, start = last_month()
    since = start - timedelta(days=40)  # in force all through the month invoiced
    for station in ("CP-16", "CP-201"):
        await server.add_station(station)
    async with server.api() as admin:
        here = await site(admin, "Berlin Mitte")
        for station in ("CP-16", "CP-201"):
            await place(admin, station, here)
        tariff = await make_tariff(admin, "Standard", document(), valid_from=since)
        await assign(admin, tariff, scope="site", site_id=here, valid_from=since)
    fleet_driver = await add_user(server, "fleet@example.com", "driver", org="Fleet A")
    await add_user(server, "manager@example.com", "fleet_manager", org="Fleet A")
    walk_in = await add_user(server, "walkin@example.com", "driver")
    await own_token(server, "FLEET-1", fleet_driver, None)
    await own_token(server, "FLEET-2", None, "Fleet A")
    await own_token(server, "WALK-IN", walk_in, None)
    async with charge_point(server, "CP-16") as cp16:
        await month_session_16(cp16, "FLEET-1", start)
        await month_session_16(cp16, "WALK-IN", start + timedelta(hours=2))
    async with charge_point(server, "CP-201", version="2.0.1") as cp201:
        await month_session_201(cp201, "FLEET-2", start + timedelta(days=1), "TX-A")
    await settled(server)
    url = server.settings.database_url

    # nothing is invoiced before the operator's details are set: the run says why
    refused = await asyncio.to_thread(cli, url, "billing", "run", "--month", month)
    assert refused.exit_code == 1 and "legal details are not set" in refused.output
    async with server.api() as admin:
        await set_issuer(admin)
        assert await invoices_of(admin) == []  # the walk-in's receipt is owed

    first = await asyncio.to_thread(cli, url, "billing", "run", "--month", month)
    assert first.exit_code == 0, first.output
    assert "issued 1 invoice(s) for 2 session(s), EUR 21.66 incl. VAT" in first.output
    assert "and 1 receipt(s) still owed" in first.output
    year = datetime.now(BERLIN).year
    async with server.api() as admin:
        issued = await invoices_of(admin)
        numbers = sorted(i["number"] for i in issued)
        assert numbers == [f"INV-{year}-000001", f"INV-{year}-000002"]  # no gaps
        (fleet,) = [i for i in issued if i["cycle"] == "monthly"]
        assert (fleet["period"], fleet["customer"]["name"], fleet["sessions"]) == (
            month,
            "Fleet A",
            2,
        )
        assert (fleet["total_excl_vat"], fleet["total_vat"], fleet["total_incl_vat"]) == (
            "18.20",
            "3.46",
            "21.66",
        )
        assert fleet["tax_summary"] == [
            {"rate": "19", "excl_vat": "18.20", "vat": "3.46", "incl_vat": "21.66"}
        ]
        assert datetime.fromisoformat(fleet["period_start"]) == datetime(
            start.year, start.month, 1, tzinfo=BERLIN
        )
        detail = (await admin.get(f"/api/v1/invoices/{fleet['id']}")).json()
        assert [(ln["station_id"], ln["id_tag"], ln["incl_vat"]) for ln in detail["lines"]] == [
            ("CP-16", "FLEET-1", "10.83"),
            ("CP-201", "FLEET-2", "10.83"),
        ]
        (walk_in_receipt,) = [i for i in issued if i["cycle"] == "session"]
        assert walk_in_receipt["total_incl_vat"] == "10.83"

        # run again, from the command line and the API: nothing new
        second = await asyncio.to_thread(cli, url, "billing", "run", "--month", month)
        assert second.exit_code == 0 and "nothing left to invoice" in second.output
        by_api = await admin.post("/api/v1/billing/runs", json={"month": month})
        assert by_api.status_code == 200, by_api.text
        assert by_api.json()["invoices"] == [] and by_api.json()["receipts"] == 0
        assert len(await invoices_of(admin)) == 2

        # a month that has not ended is refused, and so is nonsense
        this_month = datetime.now(BERLIN).strftime("%Y-%m")
        early = await admin.post("/api/v1/billing/runs", json={"month": this_month})
        assert early.status_code == 422 and "has not ended yet" in early.text
        assert (
            await admin.post("/api/v1/billing/runs", json={"month": "2026-13"})
        ).status_code == 422

    # the fleet manager sees the fleet's invoice, the walk-in their receipt, each only theirs
    async with await as_user(server, "manager@example.com") as manager:
        assert [i["number"] for i in await invoices_of(manager)] == [fleet["number"]]
        assert (await manager.get(fleet["pdf_url"])).status_code == 200
    async with await as_user(server, "walkin@example.com") as walker:
        assert [i["number"] for i in await invoices_of(walker)] == [walk_in_receipt["number"]]
        assert (await walker.post("/api/v1/billing/runs", json={})).status_code == 403


async def test_signed_meter_data_and_the_meters_key_come_with_the_receipt(
    server: RunningServer,
) -> None:
    await tariff_at_site(server, "CP-201")
    driver = await add_user(server, "driver@example.com", "driver")
    await own_token(server, "CARD-S", driver, None)
    signed = {
        "signed_meter_data": OCMF_201,
        "signing_method": "ECDSA-secp256r1-SHA256",
        "encoding_method": "OCMF",
        "public_key": PUBLIC_KEY,
    }
    async with server.api() as admin:
        await set_issuer(admin)
    async with charge_point(server, "CP-201", version="2.0.1") as cp:
        await month_session_201(cp, "CARD-S", T0, "TX-S", signed=signed)
    await settled(server)
    async with await as_user(server, "driver@example.com") as me:
        (receipt,) = await invoices_of(me)
        detail = (await me.get(f"/api/v1/invoices/{receipt['id']}")).json()
        cdr = (await me.get(f"/api/v1/cdrs/{detail['lines'][0]['cdr_id']}")).json()
        (reading,) = cdr["signed_meter_data"]
        assert (reading["signed_data"], reading["public_key"]) == (OCMF_201, PUBLIC_KEY)
        assert reading["signing_method"] == "ECDSA-secp256r1-SHA256"
        page = (await me.get(receipt["html_url"])).text
        assert OCMF_201.replace('"', "&#34;") in page and PUBLIC_KEY in page
        text = pdf_text((await me.get(receipt["pdf_url"])).content)
        assert "Signed meter data" in text
        # the PDF breaks the long data over lines: compare without the breaks
        unbroken = "".join(text.split())
        assert "".join(OCMF_201.split()) in unbroken and PUBLIC_KEY in unbroken
