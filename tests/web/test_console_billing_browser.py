"""The billing pages in a real headless Chromium: an operator prices a tariff in the
structured editor, previews it, saves and assigns it; a driver cannot reach the editor;
a fleet manager sees only their fleet's charges; the revenue page adds up real
sessions. Screenshots go to test-artifacts/screenshots/.

The tariff of the editor test, 19 % VAT: row 1 energy 0.45/kWh from 17:00 to 21:00;
row 2 energy 0.30/kWh and a 1.00 session fee; row 3 parking 6.00/h after 60 minutes.
A 45-minute, 22 kWh session at 18:00 on a Saturday in Berlin, then parked 30 minutes:
22 x 0.45 = 9.90 + 1.00 + 15 min x 6.00/h = 1.50 -> 12.40 excl. VAT, x 1.19 = 14.756,
rounded once: 14.76 EUR.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect
from sqlalchemy import select

from chargeops.billing.models import TariffVersion
from tests.billing.test_revenue import sessions_of_the_week
from tests.billing.test_tariffs_api import document, site
from tests.web.conftest import PHONE, Console
from tests.web.network import ALICE, CARL, DORA, FLEET, OPERATOR, add_staff, add_user
from tests.web.test_console_billing import charge_cards

EXPECTED_DOCUMENT: dict[str, Any] = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "ENERGY", "price": "0.45", "vat": "19", "step_size": 1},
            ],
            "restrictions": {"start_time": "17:00", "end_time": "21:00"},
        },
        {
            "price_components": [
                {"type": "ENERGY", "price": "0.30", "vat": "19", "step_size": 1},
                {"type": "FLAT", "price": "1.00", "vat": "19", "step_size": 1},
            ]
        },
        {
            "price_components": [
                {"type": "PARKING_TIME", "price": "6.00", "vat": "19", "step_size": 1},
            ],
            "restrictions": {"min_duration": 3600},
        },
    ],
}


async def test_an_operator_prices_previews_saves_and_assigns_a_tariff(console: Console) -> None:
    server = console.server
    await add_staff(server)
    async with server.api() as admin:
        await site(admin, "Berlin Mitte")
    page = await console.page()
    await console.log_in(page, OPERATOR)
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Tariffs").click()
    await expect(page.get_by_text("No tariffs yet.")).to_be_visible()
    await page.get_by_role("link", name="New tariff").click()
    await expect(page.get_by_role("heading", name="New tariff", level=1)).to_be_visible()

    await page.get_by_label("Name").fill("City AC")
    await page.get_by_label("VAT (%)").fill("19")
    peak = page.get_by_role("group", name="Row 1", exact=True)
    await peak.get_by_label("Energy, per kWh").fill("0.45")
    await peak.get_by_label("From (local time)").fill("17:00")
    await peak.get_by_label("Until").fill("21:00")
    # rows come and go in place (the script), numbered as they stand
    for _ in range(3):
        await page.get_by_role("button", name="Add a row").click()
    await expect(page.locator("[data-row]")).to_have_count(4)
    await page.get_by_role("group", name="Row 2", exact=True).get_by_label("Session fee").fill("9")
    await page.get_by_role("button", name="Remove row 2").click()
    await expect(page.locator("[data-row]")).to_have_count(3)
    base = page.get_by_role("group", name="Row 2", exact=True)
    await expect(base.get_by_label("Session fee")).to_have_value("")  # row 2 was removed
    await base.get_by_label("Energy, per kWh").fill("0.30")
    await base.get_by_label("Session fee").fill("1.00")
    parking = page.get_by_role("group", name="Row 3", exact=True)
    await parking.get_by_label("Parking, per hour").fill("6.00")
    await parking.get_by_label("After (minutes)").fill("60")

    # the preview: "a 45-minute, 22 kWh session at 18:00 on a Saturday costs..."
    trial = page.get_by_role("region", name="Preview")
    await trial.get_by_label("Day", exact=True).select_option("SATURDAY")
    await trial.get_by_label("Start (local time)").fill("18:00")
    await trial.get_by_label("Charging minutes").fill("45")
    await trial.get_by_label("kWh charged").fill("22")
    await trial.get_by_label("Parked after (minutes)").fill("30")
    await trial.get_by_label("Time zone").fill("Europe/Berlin")
    await trial.get_by_role("button", name="Preview").click()
    figure = page.locator('[data-preview-total="incl"]')
    await expect(figure).to_have_text("14.76 EUR")
    await expect(page.locator('[data-preview-total="excl"]')).to_have_text("12.40 EUR")
    await expect(page.locator("[data-preview-sentence]")).to_contain_text(
        "A 45-minute, 22 kWh session starting Saturday"
    )
    await expect(page.locator("table.preview-lines tbody tr")).to_have_count(3)
    await expect(page).to_have_url(console.url("/tariffs/new"))  # nothing saved yet
    await console.shot(page, "tariff-editor-desktop")

    await page.get_by_role("button", name="Create tariff").click()
    await expect(page.get_by_role("heading", name="City AC", level=1)).to_be_visible()
    await expect(page.get_by_text("The tariff was created.")).to_be_visible()
    await expect(page.locator('[data-fact="words"]')).to_have_text(
        "0.5355 EUR per kWh from 17:00 to 21:00, otherwise 0.357 EUR per kWh, 1.19 EUR per "
        "session, 0.119 EUR per minute connected but not charging after 60 minutes; prices "
        "incl. VAT"
    )
    components = page.locator("table.components tbody tr")
    await expect(components).to_have_count(4)
    await expect(components.nth(0)).to_contain_text("0.5355 EUR per kWh")
    await expect(components.nth(0)).to_contain_text("17:00\u201321:00")

    await page.get_by_label("Applies to").select_option("site")
    await page.get_by_label("Site", exact=True).select_option(label="Berlin Mitte")
    await page.get_by_role("button", name="Assign").click()
    await expect(page.get_by_text("The tariff was assigned.")).to_be_visible()
    await expect(page.locator("table.assignments")).to_contain_text("Site Berlin Mitte")
    await console.shot(page, "tariff-desktop")
    await page.get_by_role("link", name="Tariffs").first.click()
    row = page.locator("table.tariffs tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Site Berlin Mitte")

    async with server.db() as db:
        (stored,) = (await db.execute(select(TariffVersion))).scalars().all()
    assert stored.document == EXPECTED_DOCUMENT


async def test_a_driver_reads_prices_but_cannot_reach_the_editor(console: Console) -> None:
    server = console.server
    await add_staff(server)
    async with server.api() as admin:
        made = await admin.post(
            "/api/v1/tariffs", json={"name": "Standard", "document": document()}
        )
        tariff_id = made.json()["id"]
    page = await console.page()
    await console.log_in(page, ALICE)
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="My charges")).to_be_visible()
    await expect(nav.get_by_role("link", name="Revenue")).to_have_count(0)
    await nav.get_by_role("link", name="Tariffs").click()
    await expect(page.locator("table.tariffs")).to_contain_text("0.357 EUR per kWh")
    await expect(page.get_by_role("link", name="New tariff")).to_have_count(0)
    await page.get_by_role("link", name="Standard").click()
    await expect(page.get_by_role("heading", name="Standard", level=1)).to_be_visible()
    await expect(page.get_by_role("link", name="New version")).to_have_count(0)
    await expect(page.get_by_role("button", name="Assign")).to_have_count(0)
    for path in ("/tariffs/new", f"/tariffs/{tariff_id}/versions/new"):
        await page.goto(console.url(path))
        await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        await expect(page.get_by_text("tariffs:manage")).to_be_visible()


async def test_a_fleet_manager_sees_only_their_fleets_charges(console: Console) -> None:
    server = console.server
    ids = await charge_cards(server)
    page = await console.page(PHONE)
    await console.log_in(page, FLEET)
    await page.get_by_role("button", name="Menu").click()
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="CDRs").click()
    await expect(page.get_by_role("heading", name="Your organization's charges")).to_be_visible()
    rows = page.locator("table.cdrs tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("CARD-DORA")
    await expect(rows.first).to_contain_text("7.74 EUR")
    await console.shot(page, "cdrs-fleet-phone")
    await rows.first.get_by_role("link", name=re.compile(r"^#\d+$")).click()
    await expect(page.locator('[data-fact="incl"]')).to_have_text("7.74 EUR")
    await expect(page.get_by_role("heading", name="Credit this CDR")).to_have_count(0)
    await page.goto(console.url(f"/cdrs/{ids[CARL]}"))
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()

    await page.get_by_role("button", name="Menu").click()
    await nav.get_by_role("link", name="Spend").click()
    await expect(page.get_by_role("heading", name="Your organization's spend")).to_be_visible()

    driver = await console.page()
    await console.log_in(driver, DORA)
    await (
        driver.get_by_role("navigation", name="Main").get_by_role("link", name="My charges").click()
    )
    mine = driver.locator("table.cdrs tbody tr")
    await expect(mine).to_have_count(1)
    await expect(mine.first).to_contain_text("CARD-DORA")


async def test_the_revenue_page_adds_up_real_sessions(console: Console) -> None:
    server = console.server
    week = await sessions_of_the_week(server)
    await add_user(server, OPERATOR, "Olivia Operator", "operator")
    page = await console.page()
    await console.log_in(page, OPERATOR)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Revenue").click()
    await expect(page.get_by_role("heading", name="Revenue", level=1)).to_be_visible()
    await expect(page.get_by_label("To (included)")).to_have_value(re.compile(r"\d{4}-\d\d-\d\d"))
    await page.get_by_label("From", exact=True).fill(week.day(0))
    await page.get_by_label("To (included)").fill(week.day(2))
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_role("button", name="Show").click()
    eur = page.locator(f'tr[data-day="{week.day(1)}"][data-currency="EUR"]')
    await expect(eur.locator("td")).to_have_text(
        [re.compile(r"\d{4}-"), "EUR", "2", "15.00 kWh", "6.50 EUR", "1.24 EUR", "7.74 EUR"]
    )
    credited = page.locator(f'tr[data-day="{week.day(2)}"][data-currency="EUR"]')
    await expect(credited.locator("td")).to_have_text(
        [re.compile(r"\d{4}-"), "EUR", "1", "20.00 kWh", "0.00 EUR", "0.00 EUR", "0.00 EUR"]
    )
    total = page.locator('tr[data-total-row="EUR"] td')
    await expect(total).to_have_text(["EUR", "3", "35.00 kWh", "6.50 EUR", "1.24 EUR", "7.74 EUR"])
    await expect(page.locator('[data-total="USD"]')).to_contain_text("4.00 USD")
    await expect(page.locator('[data-total="unpriced"]')).to_contain_text("1")
    charts = page.locator("figure.chart")
    await expect(charts).to_have_count(2)  # one per currency
    await expect(charts.first.locator("rect.bar")).to_have_count(3)  # a bar per day
    await console.shot(page, "revenue-desktop")
