"""The health pages in a real headless Chromium: an operator watches the status board
and the fault list change as a charger reports, clears a fault, reads the station's
timeline and declares an outage. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import PHONE, Console
from tests.web.network import OPERATOR
from tests.web.test_console_health import report, small_network


async def test_an_operator_watches_faults_arrive_and_clears_one(console: Console) -> None:
    async with small_network(console.server) as cp:
        page = await console.page()
        await console.log_in(page, OPERATOR)
        nav = page.get_by_role("navigation", name="Main")
        await nav.get_by_role("link", name="Status").click()
        await expect(page.get_by_role("heading", name="Network status")).to_be_visible()
        await expect(page.get_by_text("Live: this page updates")).to_be_visible()
        board = page.locator("tbody[data-health-rows] tr")
        await expect(board).to_have_count(3)
        await expect(page.get_by_role("link", name="1 open fault at CP-1")).to_be_visible()

        # the charger reports a second fault: the board says so without a reload
        await report(cp, 3, "Faulted", "OverVoltage")
        await expect(page.get_by_role("link", name="2 open faults at CP-1")).to_be_visible()
        await expect(page.locator('[data-count="open_faults"]')).to_have_text("2")
        await expect(board.first.locator('[data-port="3:1"]')).to_contain_text("Faulted")
        await console.shot(page, "status-desktop")

        # the fault list: a new fault appears at the top as it is reported
        await nav.get_by_role("link", name="Faults").click()
        faults = page.locator("tbody[data-health-rows] tr")
        await expect(faults).to_have_count(2)
        await expect(page.get_by_text("Live: this page updates")).to_be_visible()
        await report(cp, 1, "Faulted", "ConnectorLockFailure")
        await expect(faults).to_have_count(3)
        await expect(faults.first).to_contain_text("ConnectorLockFailure")
        await console.shot(page, "faults-desktop")
        await page.get_by_role(
            "button", name="Clear fault OverVoltage at CP-1 (EVSE 3 · connector 1)"
        ).click()
        await expect(page.get_by_text("The fault was cleared.")).to_be_visible()
        await expect(faults).to_have_count(2)
        await expect(page.locator("tbody[data-health-rows]")).not_to_contain_text("OverVoltage")

        # the station: its uptime line, then its timeline
        await page.goto(console.url("/stations/CP-1"))
        await expect(page.locator("[data-uptime-line]")).to_contain_text(
            "Uptime over the last 7 days:"
        )
        await page.get_by_role("link", name="Timeline and uptime").click()
        await expect(page.get_by_role("heading", name="Timeline of CP-1")).to_be_visible()
        await expect(
            page.get_by_text(f"Fault OverVoltage cleared: closed by {OPERATOR}")
        ).to_be_visible()
        await console.shot(page, "timeline-desktop")

        # declaring an outage: the form, then the list
        await page.get_by_role("link", name="Declare an outage").click()
        form = page.get_by_role("form", name="Declare an outage")
        await expect(form.get_by_label("Station", exact=True)).to_have_value("CP-1")
        await form.get_by_label("Port (EVSE)").fill("3")
        await form.get_by_label("Cause").select_option("vandalism")
        await form.get_by_label("Note").fill("cable cut")
        await form.get_by_role("button", name="Declare outage").click()
        await expect(page.get_by_text("The outage was declared.")).to_be_visible()
        declared = page.locator("tr[data-exclusion]")
        await expect(declared).to_have_count(1)
        await expect(declared).to_contain_text("Vandalism")
        await expect(declared).to_contain_text("cable cut")
        await console.shot(page, "exclusions-desktop")
        await page.goto(console.url("/uptime"))
        await page.get_by_text("3 ports of CP-1").click()  # unfold its ports
        await expect(page.get_by_role("table", name="Ports of CP-1")).to_be_visible()
        await console.shot(page, "uptime-desktop")

        # on a phone, the board stacks one card per station
        phone = await console.page(PHONE)
        await console.log_in(phone, OPERATOR)
        await phone.goto(console.url("/status?state=faulted"))
        await expect(phone.locator("tbody[data-health-rows] tr")).to_have_count(1)
        await console.shot(phone, "status-phone")
