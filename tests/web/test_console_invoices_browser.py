"""The invoice pages in a real headless Chromium: an operator sets the issuer's details
(a wrong time zone is refused in words), issues last month's invoices, opens the
fleet's invoice, downloads its PDF and opens its HTML through the console's links,
credits it, and finds nothing left to issue when running the month again; a driver
sees only their receipts and cannot reach the run; a fleet manager sees only their
fleet's invoices. Screenshots go to test-artifacts/screenshots/.

The sessions are those of test_console_invoices.py: one each last month for Dora
(Fleet B), Carl (Fleet C) and Alice (no fleet), 10.83 EUR incl. VAT each.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from playwright.async_api import expect

from tests.billing.test_invoices import BERLIN, pdf_text
from tests.web.conftest import PHONE, Console
from tests.web.network import ALICE, FLEET, OPERATOR, logged_in
from tests.web.test_console_invoices import a_month_of_sessions, run_month


async def test_an_operator_issues_a_month_downloads_and_credits_an_invoice(
    console: Console, tmp_path: Path
) -> None:
    server = console.server
    month = await a_month_of_sessions(server)
    year = datetime.now(BERLIN).year
    page = await console.page()
    await console.log_in(page, OPERATOR)
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_role("link", name="Invoices").click()
    await expect(page.get_by_role("heading", name="Invoices", level=1)).to_be_visible()
    await expect(page.get_by_text("No invoices yet.")).to_be_visible()

    # the issuer's details: a wrong time zone is refused, and said so, on the form
    await page.get_by_role("link", name="Issuer details", exact=True).click()
    await expect(page.get_by_role("heading", name="Issuer details", level=1)).to_be_visible()
    await page.get_by_label("Legal name").fill("Stadtwerke Ladenetz GmbH")
    await page.get_by_label("Address").fill("Hafenstraße 1\n20457 Hamburg")
    await page.get_by_label("VAT ID").fill("DE123456789")
    await page.get_by_label("Company number").fill("HRB 12345")
    await page.get_by_label("Bank details").fill("IBAN DE02 1203 0000 0000 2020 51")
    await page.get_by_label("Payment terms").fill("14")
    await page.get_by_label("Time zone").fill("Europe/Hamburg")
    await page.get_by_role("button", name="Save issuer details").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Time zone: 'Europe/Hamburg' is not an IANA time zone."
    )
    await expect(page.get_by_label("Time zone")).to_be_focused()
    await expect(page.get_by_label("Legal name")).to_have_value("Stadtwerke Ladenetz GmbH")
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await console.shot(page, "invoice-issuer-desktop")
    await page.get_by_role("button", name="Save issuer details").click()
    await expect(page.get_by_text("The issuer details were saved.")).to_be_visible()

    # last month's run, from the form (last month is what it offers)
    await nav.get_by_role("link", name="Invoices").click()
    await page.get_by_role("link", name="Issue invoices…").click()
    await expect(page.get_by_label("Issue invoices for month")).to_have_value(month.label)
    await page.get_by_role("button", name="Issue invoices").click()
    await expect(page.locator('[data-fact="outcome"]')).to_have_text(
        f"Issued 2 invoices for {month.name} (Europe/Berlin): 2 sessions, 21.66 EUR incl. "
        "VAT, and 1 receipt still owed."
    )
    await console.shot(page, "invoice-run-desktop")

    await nav.get_by_role("link", name="Invoices").click()
    rows = page.locator("table.invoices tbody tr")
    await expect(rows).to_have_count(3)
    fleet_b = rows.filter(has_text="Fleet B")
    await expect(fleet_b).to_contain_text(f"INV-{year}-000001")
    await expect(fleet_b).to_contain_text(month.name)
    await expect(fleet_b.locator('[data-amount="incl"]')).to_have_text("10.83 EUR")
    await expect(rows.filter(has_text="Alice Driver")).to_contain_text("receipt")
    await console.shot(page, "invoices-desktop")

    # the list's PDF link downloads the invoice with the console's login
    async with page.expect_download() as listed:
        await fleet_b.get_by_role("link", name=f"PDF of INV-{year}-000001").click()
    download = await listed.value
    assert download.suggested_filename == f"INV-{year}-000001.pdf"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    text = pdf_text(saved.read_bytes())
    assert saved.read_bytes().startswith(b"%PDF")
    assert f"Invoice INV-{year}-000001" in text and "EUR 10.83" in text

    await fleet_b.get_by_role("link", name=f"INV-{year}-000001", exact=True).click()
    await expect(
        page.get_by_role("heading", name=f"Invoice INV-{year}-000001", level=1)
    ).to_be_visible()
    await expect(page.locator('[data-fact="incl"]')).to_have_text("10.83 EUR")
    await expect(page.locator('[data-fact="customer"]')).to_have_text("Fleet B")
    await expect(page.locator('[data-fact="period"]')).to_contain_text(month.name)
    lines = page.locator("table.invoice-lines tbody tr")
    await expect(lines).to_have_count(1)
    await expect(lines.first).to_contain_text("CARD-DORA")
    await expect(lines.first).to_contain_text("22.00 kWh")
    await console.shot(page, "invoice-desktop")

    async with page.expect_download() as from_page:
        await page.get_by_role("link", name="Download PDF").click()
    assert (await from_page.value).suggested_filename == f"INV-{year}-000001.pdf"

    await page.get_by_role("link", name="Open HTML").click()
    await expect(page).to_have_url(re.compile(r"/invoices/\d+\.html$"))
    await expect(page.locator("body")).to_contain_text(f"INV-{year}-000001")
    await expect(page.locator("body")).to_contain_text("EUR 10.83")
    await expect(page.locator("body")).to_contain_text("Stadtwerke Ladenetz GmbH")
    await page.go_back()

    # credit it: the credit note is issued and listed
    await expect(lines.first.get_by_role("link", name=re.compile(r"^CDR #\d+$"))).to_be_visible()
    await page.get_by_label("Reason").fill("charger fault")
    await page.get_by_role("button", name="Issue credit note").click()
    await expect(
        page.get_by_role("heading", name=f"Credit note CN-{year}-000001", level=1)
    ).to_be_visible()
    await expect(page.get_by_text("The credit note was issued.")).to_be_visible()
    await expect(page.locator('[data-fact="incl"]')).to_have_text("-10.83 EUR")
    await expect(page.locator('[data-fact="corrects"]')).to_contain_text("Reason: charger fault")
    await nav.get_by_role("link", name="Invoices").click()
    await page.get_by_label("Kind").select_option("credit_note")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"CN-{year}-000001")
    await expect(rows.first).to_contain_text(f"for INV-{year}-000001")
    await expect(rows.first.locator('[data-amount="incl"]')).to_have_text("-10.83 EUR")

    # the same month again: nothing left
    await page.goto(console.url("/invoices/run"))
    await page.get_by_role("button", name="Issue invoices").click()
    await expect(page.locator('[data-fact="outcome"]')).to_have_text(
        f"Nothing left to invoice for {month.name} (Europe/Berlin): every session of that "
        "month is on an invoice already."
    )


async def test_a_driver_and_a_fleet_manager_see_only_their_own(console: Console) -> None:
    server = console.server
    month = await a_month_of_sessions(server, issuer=True)
    year = datetime.now(BERLIN).year
    async with logged_in(server, OPERATOR) as olivia:
        await run_month(olivia, month.label)

    driver = await console.page(PHONE)
    await console.log_in(driver, ALICE)
    await driver.get_by_role("button", name="Menu").click()
    await driver.get_by_role("navigation", name="Main").get_by_role("link", name="Receipts").click()
    await expect(driver.get_by_role("heading", name="Receipts", level=1)).to_be_visible()
    mine = driver.locator("table.invoices tbody tr")
    await expect(mine).to_have_count(1)
    await expect(mine.first).to_contain_text(f"INV-{year}-000001")
    await expect(mine.first).to_contain_text("10.83 EUR")
    await expect(driver.get_by_role("link", name="Issue invoices…")).to_have_count(0)
    await expect(driver.get_by_label("Customer")).to_have_count(0)
    width = await driver.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the receipts are {width}px wide"
    await console.shot(driver, "receipts-phone")
    await mine.first.get_by_role("link", name=f"INV-{year}-000001", exact=True).click()
    await expect(driver.locator('[data-fact="period"]')).to_have_text("Receipt for one session")
    await expect(driver.get_by_role("heading", name="Credit this invoice")).to_have_count(0)
    await console.shot(driver, "receipt-phone")
    await driver.goto(console.url("/invoices/run"))
    await expect(driver.get_by_role("heading", name="Not allowed")).to_be_visible()
    await expect(driver.get_by_text("billing:manage")).to_be_visible()
    await driver.goto(console.url("/invoices/2"))  # Fleet B's
    await expect(driver.get_by_role("heading", name="Not found")).to_be_visible()

    fleet = await console.page()
    await console.log_in(fleet, FLEET)
    await fleet.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    await expect(fleet.get_by_role("heading", name="Your organization's invoices")).to_be_visible()
    theirs = fleet.locator("table.invoices tbody tr")
    await expect(theirs).to_have_count(1)
    await expect(theirs.first).to_contain_text("Fleet B")
    await expect(theirs.first).to_contain_text(f"INV-{year}-000002")
    await expect(fleet.get_by_role("link", name="Issue invoices…")).to_have_count(0)
    await fleet.goto(console.url("/invoices/3"))  # Fleet C's
    await expect(fleet.get_by_role("heading", name="Not found")).to_be_visible()
