"""The console's invoice pages over HTTP, on SQLite and PostgreSQL: an operator sets the
issuer's details on the form, runs last month and downloads the invoice through the
console's login; a run repeated issues nothing; each person sees the invoices the API
would show them and no more; an invoice is credited from its page, once.

The invoices come from real OCPP 1.6 sessions last month (the "month session" of
tests/billing/test_invoices.py: 22 kWh, then 15 min parked, at a Berlin site), one each
on the cards of Dora (Fleet B), Carl (Fleet C) and Alice (no fleet): 9.10 EUR excl.
VAT, 1.73 VAT, 10.83 EUR incl. VAT each. The fleets get a monthly invoice each; Alice,
a driver of her own, a receipt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chargeops.web.formatting import day_in, from_to
from chargeops.web.views import invoices as invoice_views
from tests.billing.test_cdrs import settled
from tests.billing.test_invoices import (
    BERLIN,
    ISSUER,
    last_month,
    month_session_16,
    pdf_text,
    set_issuer,
)
from tests.billing.test_tariffs_api import assign, document, make_tariff, place, site
from tests.harness import RunningServer, charge_point
from tests.web.network import (
    ALICE,
    BOB,
    CARL,
    DORA,
    FLEET,
    OPERATOR,
    TECHNICIAN,
    add_staff,
    csrf_token,
    logged_in,
    organization_id,
    own_token,
)
from tests.web.test_console_billing import alert, fact

ISSUER_FORM = {
    **ISSUER,
    "email": "billing@ladenetz.example",
    "payment_terms_days": "14",
    "invoice_prefix": "INV",
    "credit_note_prefix": "CN",
    "footer": "Geschäftsführer: Erika Muster",
}


@dataclass(frozen=True)
class Month:
    label: str  # 2026-10
    name: str  # October 2026
    start: datetime  # Dora's session starts then; Carl's 2 h later, Alice's 4 h later


CARDS = ("CARD-DORA", "CARD-CARL", "CARD-ALICE")


async def a_month_of_sessions(
    server: RunningServer, *, issuer: bool = False, cards: tuple[str, ...] = CARDS
) -> Month:
    """Everyone of network.add_staff; the tariff of tests/billing/test_cdrs in force all
    last month at a Berlin site holding CP-16; a month session there last month on each
    of ``cards`` (Dora's, Carl's and Alice's), 2 hours apart. ``issuer``: the issuer's
    details are set first (so Alice's receipt is issued as her session ends)."""
    label, start = last_month()
    ids = await add_staff(server)
    since = start - timedelta(days=40)
    await server.add_station("CP-16")
    async with server.api() as admin:
        here = await site(admin, "Berlin Mitte")
        await place(admin, "CP-16", here)
        tariff = await make_tariff(admin, "Standard", document(), valid_from=since)
        await assign(admin, tariff, scope="site", site_id=here, valid_from=since)
        if issuer:
            await set_issuer(admin)
    await own_token(server, "CARD-DORA", ids[DORA])
    await own_token(server, "CARD-CARL", ids[CARL])
    async with charge_point(server, "CP-16") as cp:
        for n, tag in enumerate(cards):
            await month_session_16(cp, tag, start + timedelta(hours=2 * n))
    await settled(server)
    return Month(label, f"{start:%B %Y}", start)


async def run_month(client: httpx.AsyncClient, month: str = "") -> httpx.Response:
    """Post the run form; follow its redirect to the outcome."""
    ran = await client.post(
        "/invoices/run", data={"month": month, "csrf": await csrf_token(client)}
    )
    assert ran.status_code == 303, alert(ran)
    return await client.get(ran.headers["location"])


def text_of(html: str) -> str:
    """What a person reads: tags gone, a line break a space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html.replace("<br>", " "))).strip()


def rows(response: httpx.Response) -> dict[str, list[str]]:
    """The list's rows by invoice number: the text of each cell."""
    out = {}
    for row in re.findall(r'<tr data-invoice="\d+">(.*?)</tr>', response.text, re.S):
        cells = [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        out[cells[0]] = cells
    return out


def numbers(response: httpx.Response) -> list[str]:
    return list(rows(response))


def outcome(response: httpx.Response) -> str:
    found = re.search(r'data-fact="outcome">(.*?)</p>', response.text, re.S)
    assert found is not None, response.text
    return text_of(found.group(1))


def invoice_id(response: httpx.Response, number: str) -> int:
    found = re.search(rf'<a href="/invoices/(\d+)">{number}</a>', response.text)
    assert found is not None, number
    return int(found.group(1))


def local_day(issued_at: str) -> str:
    return datetime.fromisoformat(issued_at).astimezone(BERLIN).strftime("%Y-%m-%d %Z")


async def test_an_operator_sets_the_issuer_runs_a_month_and_downloads_the_invoice(
    server: RunningServer,
) -> None:
    month = await a_month_of_sessions(server)
    year = datetime.now(BERLIN).year
    this_month = datetime.now(BERLIN).strftime("%Y-%m")
    async with logged_in(server, OPERATOR) as olivia:
        token = await csrf_token(olivia)
        before = await olivia.get("/invoices")
        run_form = await olivia.get("/invoices/run")
        too_soon = await olivia.post("/invoices/run", data={"month": month.label, "csrf": token})

        # the issuer's details: what the service refuses is said on the form
        form = {**ISSUER_FORM, "csrf": token}
        refused = {
            "zone": await olivia.post("/invoices/issuer", data={**form, "time_zone": "Mars/Base"}),
            "name": await olivia.post("/invoices/issuer", data={**form, "name": " "}),
            "terms": await olivia.post(
                "/invoices/issuer", data={**form, "payment_terms_days": "two weeks"}
            ),
            "prefixes": await olivia.post(
                "/invoices/issuer", data={**form, "credit_note_prefix": "inv"}
            ),
        }
        async with server.api() as admin:
            unset = await admin.get("/api/v1/billing/issuer")
        saved = await olivia.post("/invoices/issuer", data=form)
        issuer_page = await olivia.get(saved.headers["location"])

        # the run: refused for a month not over, and for nonsense; then last month
        not_over = await olivia.post("/invoices/run", data={"month": this_month, "csrf": token})
        nonsense = await olivia.post("/invoices/run", data={"month": "2026-13", "csrf": token})
        default = await olivia.get("/invoices/run")
        first = await run_month(olivia, month.label)
        listed = await olivia.get("/invoices")
        again = await run_month(olivia)  # the default: last month

        fleet_b = invoice_id(listed, f"INV-{year}-000001")
        page = await olivia.get(f"/invoices/{fleet_b}")
        pdf_link = re.search(r'href="(/invoices/\d+\.pdf)"', page.text)
        html_link = re.search(r'href="(/invoices/\d+\.html)"', page.text)
        assert pdf_link is not None and html_link is not None
        pdf = await olivia.get(pdf_link.group(1))
        html = await olivia.get(html_link.group(1))

        filtered = {
            "credit notes": await olivia.get("/invoices", params={"kind": "credit_note"}),
            "month": await olivia.get("/invoices", params={"period": month.label}),
            "fleet c": await olivia.get(
                "/invoices",
                params={"customer": f"org:{await organization_id(server, 'Fleet C')}"},
            ),
            "bad": await olivia.get("/invoices", params={"period": "October"}),
        }
    async with server.api() as admin:
        issued = (await admin.get("/api/v1/invoices")).json()["items"]

    assert before.status_code == 200 and "No invoices yet." in before.text
    assert 'data-fact="no-issuer"' in before.text
    assert "The issuer details are not set yet" in run_form.text
    assert too_soon.status_code == 422
    assert alert(too_soon) == [
        "The operator&#39;s legal details are not set, and nothing is invoiced without them: "
        "set them first under Issuer details."
    ]

    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 422)
    assert {k: alert(r) for k, r in refused.items()} == {
        "zone": ["Time zone: &#39;Mars/Base&#39; is not an IANA time zone."],
        "name": ["Legal name: required."],
        "terms": ["Payment terms: a whole number of days from 0 to 365."],
        "prefixes": ["Credit note prefix: must differ from the invoice number prefix."],
    }
    assert 'value="Mars/Base"' in refused["zone"].text  # the form keeps what was typed
    assert 'id="time_zone" name="time_zone"' in refused["zone"].text
    assert re.search(r'id="time_zone"[^>]*aria-invalid="true"', refused["zone"].text)
    assert unset.status_code == 404  # nothing was stored
    assert saved.status_code == 303
    assert "The issuer details were saved." in issuer_page.text
    assert 'value="Stadtwerke Ladenetz GmbH"' in issuer_page.text
    assert "Hafenstraße 1\n20457 Hamburg</textarea>" in issuer_page.text
    assert 'value="Europe/Berlin"' in issuer_page.text

    assert not_over.status_code == 422
    assert "has not ended yet in Europe/Berlin" in alert(not_over)[0]
    assert nonsense.status_code == 422
    assert alert(nonsense) == ["Month: &#39;2026-13&#39; is not a month like 2026-10."]
    assert f'name="month" type="month" value="{month.label}"' in default.text

    assert outcome(first) == (
        f"Issued 2 invoices for {month.name} (Europe/Berlin): 2 sessions, 21.66 EUR incl. "
        "VAT, and 1 receipt still owed."
    )
    assert numbers(first) == [f"INV-{year}-000001", f"INV-{year}-000002"]
    assert outcome(again) == (
        f"Nothing left to invoice for {month.name} (Europe/Berlin): every session of that "
        "month is on an invoice already."
    )
    assert numbers(again) == []

    by_number = {i["number"]: i for i in issued}
    assert sorted(by_number) == [f"INV-{year}-00000{n}" for n in (1, 2, 3)]
    assert rows(listed) == {
        f"INV-{year}-000003": [
            f"INV-{year}-000003",
            "Invoice",
            local_day(by_number[f"INV-{year}-000003"]["issued_at"]),
            "Alice Driver",
            "receipt",
            "1",
            "10.83 EUR",
            "PDF HTML",
        ],
        f"INV-{year}-000002": [
            f"INV-{year}-000002",
            "Invoice",
            local_day(by_number[f"INV-{year}-000002"]["issued_at"]),
            "Fleet C",
            month.name,
            "1",
            "10.83 EUR",
            "PDF HTML",
        ],
        f"INV-{year}-000001": [
            f"INV-{year}-000001",
            "Invoice",
            local_day(by_number[f"INV-{year}-000001"]["issued_at"]),
            "Fleet B",
            month.name,
            "1",
            "10.83 EUR",
            "PDF HTML",
        ],
    }
    assert list(rows(listed)) == sorted(by_number, reverse=True)  # newest first
    assert 'data-fact="no-issuer"' not in listed.text

    assert page.status_code == 200
    assert (fact(page, "excl"), fact(page, "vat"), fact(page, "incl")) == (
        "9.10 EUR",
        "1.73 EUR",
        "10.83 EUR",
    )
    assert (fact(page, "customer"), fact(page, "issuer"), fact(page, "issuer-vat")) == (
        "Fleet B",
        "Stadtwerke Ladenetz GmbH",
        "DE123456789",
    )
    assert fact(page, "period").startswith(f"{month.name} ({month.label}-01 to ")
    assert fact(page, "issued").endswith("(Europe/Berlin)")
    line_cdr = re.search(r'<a href="/cdrs/(\d+)">CDR #\1</a>', page.text)
    assert line_cdr is not None  # the session's line links to its CDR
    (line,) = re.findall(r'<tr data-line="\d+">(.*?)</tr>', page.text, re.S)
    cells = [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", line, re.S)]
    began = month.start.astimezone(BERLIN)
    ended = began + timedelta(minutes=45)
    assert cells[0] == "1" and re.fullmatch(r"#\d+", cells[1])
    assert cells[2:9] == [
        "CP-16, EVSE 1 card CARD-DORA",
        f"{began:%Y-%m-%d %H:%M}\N{EN DASH}{ended:%H:%M %Z}",  # in the invoice's zone, and says so
        "22.00 kWh",
        "45 min",
        "9.10 EUR",
        "1.73 EUR (19 %)",
        "10.83 EUR",
    ]
    assert cells[9] == f"CDR #{line_cdr.group(1)}"
    assert "Time (Europe/Berlin)" in page.text
    vat_row = re.search(r'<tr data-rate="19 %">(.*?)</tr>', page.text, re.S)
    assert vat_row is not None
    assert [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", vat_row.group(1))] == [
        "19 %",
        "9.10 EUR",
        "1.73 EUR",
        "10.83 EUR",
    ]
    assert "Credit this invoice" in page.text

    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert f'filename="INV-{year}-000001.pdf"' in pdf.headers["content-disposition"]
    text = pdf_text(pdf.content)
    for shown in (f"Invoice INV-{year}-000001", "Fleet B", "EUR 10.83", "Stadtwerke Ladenetz"):
        assert shown in text, f"{shown!r} not in the PDF"
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert f"INV-{year}-000001" in html.text and "EUR 10.83" in html.text
    policy = html.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy

    assert numbers(filtered["credit notes"]) == []
    assert "No invoices match this filter." in filtered["credit notes"].text
    assert numbers(filtered["month"]) == [f"INV-{year}-000002", f"INV-{year}-000001"]
    assert numbers(filtered["fleet c"]) == [f"INV-{year}-000002"]
    assert filtered["bad"].status_code == 422
    assert alert(filtered["bad"]) == ["Period: &#39;October&#39; is not a month like 2026-10."]


async def test_each_sees_only_the_invoices_the_api_shows_them(server: RunningServer) -> None:
    month = await a_month_of_sessions(server, issuer=True)
    year = datetime.now(BERLIN).year
    async with logged_in(server, OPERATOR) as olivia:
        await run_month(olivia, month.label)
        everything = await olivia.get("/invoices")
    receipt = invoice_id(everything, f"INV-{year}-000001")  # Alice's, as her session ended
    fleet_b = invoice_id(everything, f"INV-{year}-000002")
    fleet_c = invoice_id(everything, f"INV-{year}-000003")

    seen: dict[str, dict[str, Any]] = {}
    for who, email in (
        ("alice", ALICE),
        ("bob", BOB),
        ("dora", DORA),
        ("fiona", FLEET),
        ("tom", TECHNICIAN),
    ):
        async with logged_in(server, email) as client:
            token = await csrf_token(client)
            seen[who] = {
                "list": await client.get("/invoices"),
                "menu": (await client.get("/")).text,
                "receipt": (await client.get(f"/invoices/{receipt}")).status_code,
                "receipt.pdf": (await client.get(f"/invoices/{receipt}.pdf")).status_code,
                "fleet b": (await client.get(f"/invoices/{fleet_b}")).status_code,
                "fleet b.html": (await client.get(f"/invoices/{fleet_b}.html")).status_code,
                "fleet c.pdf": (await client.get(f"/invoices/{fleet_c}.pdf")).status_code,
                "run": await client.get("/invoices/run"),
                "post run": (
                    await client.post("/invoices/run", data={"month": "", "csrf": token})
                ).status_code,
                "issuer": (await client.get("/invoices/issuer")).status_code,
                "credit": (
                    await client.post(
                        f"/invoices/{fleet_b}/credit", data={"reason": "x", "csrf": token}
                    )
                ).status_code,
            }

    alice, fiona = seen["alice"], seen["fiona"]
    assert numbers(alice["list"]) == [f"INV-{year}-000001"]
    assert "<h1" in alice["list"].text and ">Receipts</h1>" in alice["list"].text
    assert '<a href="/invoices">Receipts</a>' in alice["menu"]
    assert 'name="customer"' not in alice["list"].text  # her own, nobody else to choose
    assert "Issue invoices" not in alice["list"].text
    assert numbers(seen["bob"]["list"]) == []
    assert "No receipts yet." in seen["bob"]["list"].text
    assert numbers(seen["dora"]["list"]) == []  # her sessions are on her fleet's invoice
    assert numbers(fiona["list"]) == [f"INV-{year}-000002"]
    assert "Your organization&#39;s invoices" in fiona["list"].text
    assert '<a href="/invoices">Invoices</a>' in fiona["menu"]
    assert numbers(seen["tom"]["list"]) == [f"INV-{year}-00000{n}" for n in (3, 2, 1)]
    assert "Issue invoices" not in seen["tom"]["list"].text

    def access(who: str) -> dict[str, int]:
        return {
            k: v if isinstance(v, int) else v.status_code
            for k, v in seen[who].items()
            if k not in ("list", "menu")
        }

    # what is not theirs does not exist for them; what they may not do is refused
    assert access("alice") == {
        "receipt": 200,
        "receipt.pdf": 200,
        "fleet b": 404,
        "fleet b.html": 404,
        "fleet c.pdf": 404,
        "run": 403,
        "post run": 403,
        "issuer": 403,
        "credit": 403,
    }
    assert access("fiona") == {
        "receipt": 404,
        "receipt.pdf": 404,
        "fleet b": 200,
        "fleet b.html": 200,
        "fleet c.pdf": 404,
        "run": 403,
        "post run": 403,
        "issuer": 403,
        "credit": 403,
    }
    assert access("tom") == {
        "receipt": 200,
        "receipt.pdf": 200,
        "fleet b": 200,
        "fleet b.html": 200,
        "fleet c.pdf": 200,
        "run": 403,
        "post run": 403,
        "issuer": 403,
        "credit": 403,
    }
    assert "billing:manage" in alice["run"].text


async def test_an_invoice_is_credited_from_its_page_once(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dora charges twice: Fleet B's invoice has two sessions, 21.66 EUR
    month = await a_month_of_sessions(server, issuer=True, cards=(*CARDS, "CARD-DORA"))
    year = datetime.now(BERLIN).year
    monkeypatch.setattr(invoice_views, "LINES_PER_PAGE", 1)  # a long invoice, in parts
    async with logged_in(server, OPERATOR) as olivia:
        await run_month(olivia, month.label)
        fleet_b = invoice_id(await olivia.get("/invoices"), f"INV-{year}-000002")
        parts = {
            n: await olivia.get(f"/invoices/{fleet_b}", params={"lines": n}) for n in (1, 2, 9)
        }
        token = await csrf_token(olivia)
        no_reason = await olivia.post(
            f"/invoices/{fleet_b}/credit", data={"reason": "  ", "csrf": token}
        )
        credited = await olivia.post(
            f"/invoices/{fleet_b}/credit", data={"reason": "charger fault", "csrf": token}
        )
        note_page = await olivia.get(credited.headers["location"])
        note_id = int(credited.headers["location"].split("/")[2].split("?")[0])
        original = await olivia.get(f"/invoices/{fleet_b}")
        twice = await olivia.post(
            f"/invoices/{fleet_b}/credit", data={"reason": "again", "csrf": token}
        )
        of_a_note = await olivia.post(
            f"/invoices/{note_id}/credit", data={"reason": "again", "csrf": token}
        )
        notes = await olivia.get("/invoices", params={"kind": "credit_note"})
        note_pdf = await olivia.get(f"/invoices/{note_id}.pdf")
    async with logged_in(server, FLEET) as fiona:
        fleet_notes = await fiona.get("/invoices", params={"kind": "credit_note"})

    def line_numbers(response: httpx.Response) -> list[str]:
        return re.findall(r'<tr data-line="(\d+)">', response.text)

    assert {n: line_numbers(r) for n, r in parts.items()} == {1: ["1"], 2: ["2"], 9: ["2"]}
    assert "Sessions 1 to 1 of 2" in parts[1].text and "Later sessions" in parts[1].text
    assert "Earlier sessions" in parts[2].text and "Later sessions" not in parts[2].text
    assert "Total (all 2 sessions)" in parts[1].text and fact(parts[1], "incl") == "21.66 EUR"

    assert no_reason.status_code == 422
    assert alert(no_reason) == ["Reason: say why the invoice is credited."]
    assert credited.status_code == 303
    assert "The credit note was issued." in note_page.text
    assert f"<h1>Credit note CN-{year}-000001</h1>" in note_page.text
    assert (fact(note_page, "excl"), fact(note_page, "incl")) == ("-18.20 EUR", "-21.66 EUR")
    corrects = re.search(r'data-fact="corrects">(.*?)</p>', note_page.text, re.S)
    assert corrects is not None
    assert text_of(corrects.group(1)) == (
        f"This credit note corrects invoice INV-{year}-000002: its amounts are negated. "
        "Reason: charger fault"
    )
    assert "Credit this invoice" not in note_page.text

    assert fact(original, "incl") == "21.66 EUR"  # the invoice stays as it was issued
    assert "Credited</span>" in original.text
    assert f'<a href="/invoices/{note_id}">CN-{year}-000001</a>' in original.text
    assert 'data-fact="all-credited"' in original.text and "Issue credit note" not in original.text
    assert twice.status_code == 409
    assert alert(twice) == [f"Every session on INV-{year}-000002 was credited already."]
    assert of_a_note.status_code == 409
    assert alert(of_a_note) == [f"CN-{year}-000001 is a credit note itself; it cannot be credited."]

    assert rows(notes) == {
        f"CN-{year}-000001": [
            f"CN-{year}-000001",
            f"Credit note for INV-{year}-000002",
            rows(notes)[f"CN-{year}-000001"][2],
            "Fleet B",
            month.name,
            "2",
            "-21.66 EUR",
            "PDF HTML",
        ]
    }
    assert note_pdf.status_code == 200
    assert f"Credit note CN-{year}-000001" in pdf_text(note_pdf.content)
    assert numbers(fleet_notes) == [f"CN-{year}-000001"]  # the fleet sees its credit note


def test_times_on_an_invoice_say_their_zone_across_days_and_clock_changes() -> None:
    """A session on an invoice is shown in the invoice's zone: the day written once, the
    day again when it ran past midnight, both zones' names when the clocks changed while
    it ran (Berlin, 25 October 2026: 03:00 CEST became 02:00 CET at 01:00 UTC)."""
    dash = "\N{EN DASH}"
    berlin = "Europe/Berlin"
    noon = datetime(2026, 10, 15, 10, tzinfo=UTC)
    late = datetime(2026, 6, 1, 21, 30, tzinfo=UTC)
    night = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert (
        from_to(noon, noon + timedelta(minutes=45), berlin) == f"2026-10-15 12:00{dash}12:45 CEST"
    )
    assert from_to(late, late + timedelta(hours=1), berlin) == (
        f"2026-06-01 23:30 CEST {dash} 2026-06-02 00:30 CEST"
    )
    assert from_to(night, night + timedelta(hours=1), berlin) == (
        f"2026-10-25 02:30 CEST{dash}02:30 CET"
    )
    assert from_to(noon, noon, "Mars/Base") == f"2026-10-15 10:00{dash}10:00 UTC"
    assert day_in(late, berlin) == "2026-06-01 CEST"
    assert day_in(late + timedelta(hours=1), berlin) == "2026-06-02 CEST"  # the day there
