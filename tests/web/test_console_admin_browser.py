"""Tokens, sites and users in a real headless Chromium: an operator registers a card and
blocks it, creates a site and moves a station to it; a driver sees only their cards.
Screenshots of these pages, desktop and phone sized, go to test-artifacts/screenshots/."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.async_api import expect

from tests.web.conftest import PHONE, Console
from tests.web.network import ALICE, OPERATOR, add_people, token_id


async def test_an_operator_registers_a_card_and_sets_up_a_site(console: Console) -> None:
    ids = await add_people(console.server)
    for station_id in ("CP-1", "CP-2"):
        await console.server.add_station(station_id)
    page = await console.page()
    await console.log_in(page, OPERATOR)
    nav = page.get_by_role("navigation", name="Main")
    done = page.locator(".alert-ok")

    # a new card, for Alice, then blocked (lost)
    await nav.get_by_role("link", name="Tokens").click()
    await expect(page.get_by_role("heading", name="Tokens", level=1)).to_be_visible()
    await expect(page.locator("table.tokens tbody tr")).to_have_count(2)
    await console.shot(page, "tokens-desktop")
    await page.get_by_role("link", name="Register a token").click()
    await page.get_by_label("Id tag").fill("04A2B3C4")
    await page.get_by_label("Owner's email").fill(ALICE)
    await page.get_by_label("Expires (UTC)").fill("2031-12-31T23:59:00")
    await console.shot(page, "token-new-desktop")
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("heading", name="Token 04A2B3C4")).to_be_visible()
    await expect(done).to_contain_text("The token was registered.")
    await expect(page.locator(".facts")).to_contain_text("Alice Driver")
    await expect(page.locator(".facts")).to_contain_text("2031-12-31 23:59:00 UTC")
    await page.get_by_role("button", name="Block", exact=True).click()
    await expect(done).to_contain_text("The token is blocked")
    await expect(page.locator("[data-token-state]")).to_have_text("Blocked")
    await expect(page.get_by_role("button", name="Unblock")).to_be_visible()
    await console.shot(page, "token-desktop")

    # a site with its opening hours
    await nav.get_by_role("link", name="Sites").click()
    await expect(page.get_by_text("No sites yet.")).to_be_visible()
    await page.get_by_role("link", name="New site").click()
    await page.get_by_label("Name").fill("Depot North")
    await page.get_by_label("City").fill("Hamburg")
    await page.get_by_label("Country").fill("DE")
    await page.get_by_label("Latitude").fill("53.5413")
    await page.get_by_label("Longitude").fill("9.9841")
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await page.get_by_label("Opening hours").fill("Mon-Fri 06:00-22:00\nSat 08:00-14:00")
    await console.shot(page, "site-form-desktop")
    await page.get_by_role("button", name="Create site").click()
    await expect(page.get_by_role("heading", name="Depot North")).to_be_visible()
    await expect(page.locator('[data-fact="hours"]')).to_have_text(
        "Mon\u2013Fri 06:00\u201322:00, Sat 08:00\u201314:00, closed Sun (local time)"
    )
    site_path = urlsplit(page.url).path

    # CP-2 moves there
    await page.goto(console.url("/stations/CP-2"))
    await page.get_by_label("Move to site").select_option(label="Depot North (Hamburg)")
    await page.get_by_role("button", name="Move").click()
    await expect(done).to_contain_text("The station was moved.")
    await page.locator('[data-fact="site"]').get_by_role("link", name="Depot North").click()
    station = page.locator('tr[data-station="CP-2"]')
    await expect(station).to_contain_text("Offline")
    await console.shot(page, "site-desktop")
    await nav.get_by_role("link", name="Sites").click()
    await expect(page.locator("table.sites tbody tr")).to_contain_text("Depot North")
    await expect(page.locator('[data-stations="1"]')).to_be_visible()
    await console.shot(page, "sites-desktop")

    # people: the list, and Alice with her blocked card
    await nav.get_by_role("link", name="Users").click()
    await expect(page.locator("table.users tbody tr")).to_have_count(4)
    await console.shot(page, "users-desktop")
    await page.get_by_role("link", name="Alice Driver").click()
    cards = page.get_by_role("region", name="Charging cards")
    await expect(cards).to_contain_text("04A2B3C4")
    await expect(cards).to_contain_text("Blocked")
    await console.shot(page, "user-desktop")

    # the same pages on a phone: nothing wider than the screen
    phone = await console.page(PHONE)
    await console.log_in(phone, OPERATOR)
    await expect(phone.get_by_role("heading", name="Network overview")).to_be_visible()
    card = await token_id(console.server, "04A2B3C4")
    pages = {
        "tokens-phone": "/tokens",
        "token-phone": f"/tokens/{card}",
        "sites-phone": "/sites",
        "site-form-phone": "/sites/new",
        "users-phone": "/users",
        "user-phone": f"/users/{ids[ALICE]}",
        "site-phone": site_path,
    }
    for name, path in pages.items():
        await phone.goto(console.url(path))
        await expect(phone.locator("main h1")).to_be_visible()
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide"
        await console.shot(phone, name)


async def test_a_driver_sees_only_their_cards(console: Console) -> None:
    await add_people(console.server)
    page = await console.page(PHONE)
    await console.log_in(page, ALICE)
    await expect(page.get_by_role("heading", name="Your charging")).to_be_visible()
    await page.get_by_role("button", name="Menu").click()
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
    await nav.get_by_role("link", name="My cards").click()
    await expect(page.get_by_role("heading", name="My cards", level=1)).to_be_visible()
    rows = page.locator("table.tokens tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("CARD-ALICE")
    await expect(page.locator("main")).not_to_contain_text("CARD-BOB")
    await expect(page.get_by_role("link", name="Register a token")).to_have_count(0)
    await console.shot(page, "my-cards-phone")
    await rows.get_by_role("link", name="CARD-ALICE").click()
    await expect(page.get_by_role("heading", name="Token CARD-ALICE")).to_be_visible()
    await expect(page.get_by_role("button", name="Block")).to_have_count(0)
    await console.shot(page, "my-card-phone")

    bobs = await token_id(console.server, "CARD-BOB")
    response = await page.goto(console.url(f"/tokens/{bobs}"))
    assert response is not None and response.status == 404
    response = await page.goto(console.url("/users"))
    assert response is not None and response.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("users:read")
