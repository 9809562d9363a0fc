"""The console under test: a real server, and a real headless Chromium (Debian's, driven
by Playwright) for what a person sees. Screenshots of the main pages are kept under
test-artifacts/screenshots/."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.harness import RunningServer
from tests.web.network import PASSWORD

CHROMIUM = os.environ.get("CHARGEOPS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


async def _server(url: str, ports: tuple[int, int], data_dir: Path) -> RunningServer:
    srv = RunningServer(url, *ports, data_dir=data_dir, read_config_after_boot=False)
    await srv.start()
    return srv


@pytest.fixture
async def server(
    database_url: str, ports: tuple[int, int], tmp_path: Path
) -> AsyncIterator[RunningServer]:
    """On SQLite and on PostgreSQL: for tests of what the console reads and decides."""
    srv = await _server(database_url, ports, tmp_path)
    try:
        yield srv
    finally:
        await srv.stop()


@dataclass
class Console:
    """A server and a browser; pages open in their own contexts (their own cookies)."""

    server: RunningServer
    browser: Browser

    async def page(self, viewport: dict[str, int] | None = None) -> Page:
        context = await self.browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        page = await context.new_page()
        page.set_default_timeout(10_000)
        return page

    def url(self, path: str) -> str:
        return self.server.http_url + path

    async def log_in(self, page: Page, email: str, password: str = PASSWORD) -> None:
        await page.goto(self.url("/login"))
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Log in").click()

    async def shot(self, page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@pytest.fixture
async def console(
    sqlite_url: str, ports: tuple[int, int], tmp_path: Path
) -> AsyncIterator[Console]:
    """The browser tests run on SQLite: what they check is drawn the same whatever the
    database (the HTTP tests cover both). The browser closes before the server stops."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's (apt-get install "
            "chromium), or set CHARGEOPS_CHROMIUM to one"
        )
    srv = await _server(sqlite_url, ports, tmp_path)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            try:
                yield Console(srv, browser)
            finally:
                await browser.close()
    finally:
        await srv.stop()


def number(text: str | None) -> str:
    """The text of an element without its surrounding space."""
    return re.sub(r"\s+", " ", text or "").strip()
