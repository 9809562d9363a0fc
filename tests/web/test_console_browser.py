"""What a person sees in the console, in a real headless Chromium: an operator and a
driver walk the pages; live connector states; login, logout; a phone-sized screen.
Screenshots of the main pages go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from playwright.async_api import expect

from tests.web.conftest import PHONE, Console
from tests.web.network import ALICE, BOB, OPERATOR, Network, add_people, network


def energy_today(net: Network) -> str:
    midnight = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
    return "16.25 kWh" if net.alice_stopped_at >= midnight else "8.00 kWh"


async def test_an_operator_sees_the_whole_network(console: Console) -> None:
    async with network(console.server) as net:
        page = await console.page()
        await page.goto(console.url("/sessions"))
        await expect(page).to_have_url(re.compile(r"/login\?next=%2Fsessions$"))
        await expect(page.get_by_role("heading", name="Log in to chargeops")).to_be_visible()
        await console.shot(page, "login-desktop")
        await page.get_by_label("Email").fill(OPERATOR)
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Log in").click()

        # back where they were going: every session, whoever charged
        await expect(page).to_have_url(console.url("/sessions"))
        await expect(page.get_by_role("heading", name="Sessions", level=1)).to_be_visible()
        rows = page.locator("table.sessions tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_contain_text("CARD-BOB")
        await expect(rows.nth(0)).to_contain_text("In progress")
        await expect(rows.nth(1)).to_contain_text("CARD-ALICE")
        await expect(rows.nth(1)).to_contain_text("8.25 kWh")
        await console.shot(page, "sessions-desktop")
        await page.get_by_label("Status").select_option("active")
        await page.get_by_role("button", name="Filter").click()
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("CARD-BOB")

        # the frame: their name, their navigation, logout
        nav = page.get_by_role("navigation", name="Main")
        await expect(nav.get_by_role("link")).to_have_text(
            [
                "Home",
                "Status",
                "Faults",
                "Incidents",
                "Stations",
                "Sessions",
                "Tokens",
                "Sites",
                "Users",
                "Tariffs",
                "CDRs",
                "Invoices",
                "Revenue",
                "Alert rules",
                "Notifications",
            ]
        )
        await expect(nav).to_contain_text("Olivia Operator")
        await expect(nav.get_by_role("button", name="Log out")).to_be_visible()

        await nav.get_by_role("link", name="Home").click()
        await expect(page.get_by_role("heading", name="Network overview")).to_be_visible()
        await expect(page.get_by_role("link", name="1 stations online")).to_be_visible()
        await expect(page.get_by_role("link", name="2 stations offline")).to_be_visible()
        await expect(page.get_by_role("link", name="1 stations faulted")).to_be_visible()
        await expect(page.get_by_role("link", name="1 sessions active now")).to_be_visible()
        await expect(page.locator('[data-stat="energy"]')).to_have_text(energy_today(net))
        faulted = page.get_by_role("region", name="Faulted connectors")
        await expect(faulted).to_contain_text("GroundFailure")
        await console.shot(page, "overview-desktop")

        # stations: all of them, and filters
        await page.get_by_role("link", name="1 stations faulted").click()
        await expect(page.locator("table.stations tbody tr")).to_have_count(1)
        await expect(page.get_by_label("Show")).to_have_value("faulted")
        await nav.get_by_role("link", name="Stations").click()
        stations = page.locator("table.stations tbody tr")
        await expect(stations).to_have_count(3)
        await expect(stations.nth(0)).to_contain_text("Alfen Eve Double")
        await expect(stations.nth(0)).to_contain_text("Online")
        await expect(stations.nth(1)).to_contain_text("Offline")
        await console.shot(page, "stations-desktop")
        await page.get_by_label("Search").fill("no such station")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.get_by_text("No stations match this filter.")).to_be_visible()

        # one station: identity, connectors, its sessions and events
        await page.goto(console.url("/stations/CP-1"))
        await expect(page.get_by_role("heading", name="Station CP-1")).to_be_visible()
        connectors = page.get_by_role("region", name="Connectors")
        await expect(connectors.locator("tbody tr")).to_have_count(3)
        await expect(connectors.locator('tr[data-connector="2:1"]')).to_contain_text("Faulted")
        await expect(page.locator(".identity")).to_contain_text("Eve Double")
        recent = page.get_by_role("region", name="Recent sessions")
        await expect(recent.locator("tbody tr")).to_have_count(2)
        await expect(page.get_by_role("region", name="Recent events")).to_contain_text(
            "BootNotification"
        )
        await expect(page.get_by_text("Live: this page updates")).to_be_visible()
        await console.shot(page, "station-desktop")

        # one session: figures and its chart
        await recent.get_by_role("link", name=f"#{net.alice_session}").click()
        await expect(
            page.get_by_role("heading", name=f"Session #{net.alice_session}")
        ).to_be_visible()
        await expect(page.locator('[data-fact="energy"]')).to_have_text("8.25 kWh")
        await expect(page.get_by_text("EVDisconnected")).to_be_visible()
        await expect(
            page.get_by_role("img", name=re.compile(r"^Energy delivered from"))
        ).to_be_visible()
        await expect(page.get_by_role("img", name=re.compile(r"^Power from"))).to_be_visible()
        await console.shot(page, "session-desktop")


async def test_a_driver_sees_only_their_own_charging(console: Console) -> None:
    async with network(console.server) as net:
        page = await console.page()
        await console.log_in(page, BOB)
        await expect(page.get_by_role("heading", name="Your charging")).to_be_visible()
        now = page.get_by_role("region", name="Charging now")
        await expect(now.get_by_role("link", name=f"Session #{net.bob_session}")).to_be_visible()
        await expect(now).to_contain_text("8.00 kWh")
        await expect(page.get_by_text("No finished sessions yet.")).to_be_visible()
        nav = page.get_by_role("navigation", name="Main")
        await expect(nav.get_by_role("link")).to_have_text(
            [
                "Home",
                "Stations",
                "Sessions",
                "My cards",
                "Sites",
                "Tariffs",
                "My charges",
                "Receipts",
                "Notifications",
            ]
        )
        await expect(nav).to_contain_text("Bob Driver")
        await console.shot(page, "driver-home-desktop")

        await nav.get_by_role("link", name="Sessions").click()
        await expect(page.get_by_role("heading", name="Your sessions")).to_be_visible()
        await expect(page.locator("table.sessions tbody tr")).to_have_count(1)
        await expect(page.locator("main")).not_to_contain_text("CARD-ALICE")

        # someone else's session does not exist for him
        response = await page.goto(console.url(f"/sessions/{net.alice_session}"))
        assert response is not None and response.status == 404
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()

        # the station page: connectors yes, staff diagnostics no
        await page.goto(console.url("/stations/CP-1"))
        await expect(
            page.get_by_role("region", name="Connectors").locator("tbody tr")
        ).to_have_count(3)
        await expect(
            page.get_by_role("region", name="Recent sessions").locator("tbody tr")
        ).to_have_count(1)
        await expect(page.get_by_role("heading", name="Recent events")).to_have_count(0)
        response = await page.goto(console.url("/stations/CP-1/events"))
        assert response is not None and response.status == 403
        await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        await expect(page.get_by_role("alert")).to_contain_text("stations:control")
        await console.shot(page, "driver-forbidden-desktop")


async def test_connector_states_change_on_the_page_as_the_charger_reports(
    console: Console,
) -> None:
    async with network(console.server) as net:
        page = await console.page()
        await console.log_in(page, OPERATOR)
        await page.goto(console.url("/stations/CP-1"))
        await expect(page.get_by_text("Live: this page updates")).to_be_visible()
        await page.evaluate("window.sameDocument = true")
        third = page.locator('tr[data-connector="3:1"]')
        await expect(third).to_contain_text("Available")

        await net.status(3, "Faulted", "HighTemperature")
        await expect(third).to_contain_text("Faulted")
        await expect(third).to_contain_text("HighTemperature")
        await net.status(4, "Unavailable")  # a connector the page had not seen
        fourth = page.locator('tr[data-connector="4:1"]')
        await expect(fourth).to_contain_text("EVSE 4 · connector 1")
        await expect(fourth).to_contain_text("Unavailable")
        await console.shot(page, "station-live-desktop")
        assert await page.evaluate("window.sameDocument") is True  # no reload

    # the charger went away: the page says so
    await expect(page.locator("[data-live-presence]")).to_have_text("Offline")
    assert await page.evaluate("window.sameDocument") is True


async def test_login_failures_are_told_and_logout_ends_the_login(console: Console) -> None:
    await add_people(console.server)
    page = await console.page()
    await console.log_in(page, ALICE, "not her password")
    alert = page.get_by_role("alert")
    await expect(alert).to_have_text("Wrong email or password.")
    await expect(page.get_by_label("Email")).to_have_value(ALICE)
    await console.shot(page, "login-failed-desktop")

    await console.log_in(page, ALICE)
    await expect(page.get_by_role("heading", name="Your charging")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(console.url("/login?logged_out=1"))
    await expect(page.get_by_role("status")).to_have_text("You have logged out.")
    await page.goto(console.url("/"))
    await expect(page).to_have_url(console.url("/login"))


async def test_the_console_fits_a_phone(console: Console) -> None:
    async with network(console.server) as net:
        page = await console.page(PHONE)
        await console.log_in(page, OPERATOR)
        nav = page.get_by_role("navigation", name="Main")
        menu = page.get_by_role("button", name="Menu")
        await expect(page.get_by_role("heading", name="Network overview")).to_be_visible()
        await expect(nav).to_be_hidden()
        await expect(menu).to_have_attribute("aria-expanded", "false")
        await console.shot(page, "overview-phone")
        await menu.click()
        await expect(nav).to_be_visible()
        await expect(menu).to_have_attribute("aria-expanded", "true")
        await console.shot(page, "menu-open-phone")
        await nav.get_by_role("link", name="Stations").click()
        await expect(page.get_by_role("heading", name="Stations")).to_be_visible()
        await expect(nav).to_be_hidden()

        pages = {
            "stations-phone": "/stations",
            "station-phone": "/stations/CP-1",
            "sessions-phone": "/sessions",
            "session-phone": f"/sessions/{net.alice_session}",
        }
        for name, path in pages.items():
            await page.goto(console.url(path))
            await expect(page.locator("main h1")).to_be_visible()
            # nothing wider than the screen: wide tables scroll inside their own box
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width}px wide"
            await console.shot(page, name)

        driver = await console.page(PHONE)
        await console.log_in(driver, BOB)
        await expect(driver.get_by_role("heading", name="Your charging")).to_be_visible()
        assert await driver.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await console.shot(driver, "driver-home-phone")
