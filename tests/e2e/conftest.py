"""Dashboard fixtures: a real hub (tests/hub/conftest.py), Debian's Chromium through Playwright, screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, sync_playwright

from tests.hub.conftest import broker, devices, start_hub  # noqa: F401  (fixtures used by the dashboard tests)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "correct horse"  # what tests.hub.conftest.sign_up signs up with


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the browser tests exercise pages, the store is covered on both backends elsewhere."""
    return f"sqlite:///{tmp_path / 'restock.db'}"


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread while it is
# open, and every asyncio test collected after the browser tests would then fail to start its own loop.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver for the whole session."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser: nothing online is reachable)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (own cookies) at desktop size."""
    # Playwright's wait_for_function polls with eval(), which the dashboard's Content-Security-Policy (no
    # 'unsafe-eval') refuses; tests/e2e/test_csp.py runs the pages under the real policy in its own profile.
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Europe/Berlin", bypass_csp=True)
    ctx.set_default_timeout(15_000)
    yield ctx
    # Closed before the hub stops, so no open event stream holds up the server's shutdown.
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab in the fresh profile."""
    return context.new_page()


def shoot(page: Page, name: str) -> None:
    """Save the page as test artefacts at desktop and phone width (full page), then restore desktop size."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{safe}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    # <picture> swaps to the phone chart after a resize: let it load before the shot.
    page.wait_for_timeout(150)
    page.wait_for_function("Array.from(document.images).every(img => img.complete)")
    page.screenshot(path=str(SCREENSHOTS / f"{safe}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"{base_url}/web/signin")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/web/")


def wait_live(page: Page) -> None:
    """Wait until the page's event stream is subscribed (events from now on reach it)."""
    page.wait_for_selector("body[data-live-ready='1']")
