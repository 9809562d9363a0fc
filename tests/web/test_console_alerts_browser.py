"""Alerting in a real headless Chromium: a charger's fault reaches an operator while
they look at another page (the bell's count goes up and a toast says what happened,
without a reload), and they acknowledge the incident from there. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import re

from ocpp.v16 import call
from playwright.async_api import expect

from tests.harness import charge_point, now_iso
from tests.web.conftest import PHONE, Console
from tests.web.network import OPERATOR, add_user

SUBJECT = "[MAJOR] CP-1 EVSE 1 faulted: GroundFailure"


async def test_an_alert_arrives_live_and_the_operator_acknowledges_it(console: Console) -> None:
    server = console.server
    await add_user(server, OPERATOR, "Olivia Operator", "operator")
    await server.add_station("CP-1")
    page = await console.page()
    await console.log_in(page, OPERATOR)
    await page.goto(console.url("/incidents"))
    await expect(page.get_by_text("No open incidents: nothing needs attention.")).to_be_visible()
    bell = page.locator("[data-bell]")
    count = bell.locator("[data-bell-count]")
    await expect(bell).to_have_attribute("aria-label", "Notifications: none unread")  # listening
    await expect(count).to_be_hidden()
    await page.evaluate("window.stillTheSamePage = true")

    async with charge_point(server, "CP-1") as cp:
        await cp.call(
            call.StatusNotification(
                connector_id=1, error_code="GroundFailure", status="Faulted", timestamp=now_iso()
            )
        )
        # the operator is on level 1 of the default policy: told at once, in the console
        await expect(count).to_have_text("1")
        await expect(bell).to_have_attribute("aria-label", "Notifications: 1 unread")
        toast = page.locator("[data-toasts] .toast")
        await expect(toast).to_contain_text(SUBJECT)
        assert await page.evaluate("window.stillTheSamePage") is True  # no reload
        await console.shot(page, "incident-toast-desktop")

        await toast.get_by_role("link", name=SUBJECT).click()
        await expect(page).to_have_url(re.compile(r"/incidents/\d+$"))
        await expect(page.locator('[data-fact="title"]')).to_have_text(
            "CP-1 EVSE 1 faulted: GroundFailure"
        )
        await expect(page.locator('[data-fact="state"]')).to_contain_text("Open")
        await expect(page.locator('[data-fact="level"]')).to_contain_text("level 1 of 2")
        await page.get_by_role("button", name="Acknowledge").click()
        await expect(page.get_by_text("You acknowledged the incident")).to_be_visible()
    await expect(page.locator('[data-fact="state"]')).to_contain_text("Acknowledged")
    await expect(page.locator('[data-fact="acknowledged"]')).to_contain_text(f"by {OPERATOR}")
    story = page.get_by_role("list", name="Timeline").locator("li")
    await expect(story).to_have_count(3)
    await expect(story.last).to_contain_text("Acknowledged")
    await console.shot(page, "incident-desktop")

    # the notification waits in the inbox, unread, until marked read
    await bell.click()
    await expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    inbox = page.locator("[data-inbox] li")
    await expect(inbox).to_have_count(1)
    await expect(inbox.first).to_contain_text(SUBJECT)
    await expect(inbox.first).to_contain_text("New")
    await expect(count).to_have_text("1")
    await page.get_by_role("button", name="Mark all read").click()
    await expect(page.get_by_text("Every notification is marked read.")).to_be_visible()
    await expect(bell).to_have_attribute("aria-label", "Notifications: none unread")
    await expect(count).to_be_hidden()

    # on a phone the bell stays in the top bar, beside the menu button
    await page.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
    await expect(bell).to_be_visible()
    await expect(page.get_by_role("button", name="Menu")).to_be_visible()
    await console.shot(page, "notifications-phone")
