"""The dashboard under its Content-Security-Policy in Debian's Chromium: every page loads and works (live
refresh, cancel countdown, charts, confirmations) without a single violation, and no other site can frame it."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from hub.broker.mosquitto import free_port
from simulator.protocol_device import ProtocolDevice
from tests.e2e.conftest import DESKTOP, sign_in, wait_live
from tests.hub.conftest import HubServer, add_button, sign_up

pytestmark = [pytest.mark.slow, pytest.mark.broker]

# Records what the browser reports as blocked by the policy. Playwright adds it to every document before the
# page's own code, and outside the page's policy (it is no inline script of the page).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile that, unlike the other dashboard tests' one, keeps to the pages' policy."""
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="Europe/Berlin", bypass_csp=False)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def until(page: Page, expression: str, arg: object = None, timeout: float = 15.0) -> None:
    """Poll a JavaScript function of `arg` from here: Playwright's own wait_for_function polls with eval(),
    which these pages' policy refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression, arg):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


class Violations:
    """CSP reports of a page: securitypolicyviolation events of each document, and console messages."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium words each refusal "Refused to … because it violates the following Content Security Policy".
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            self.console.append(f"{message.type}: {message.text}")

    def of_this_page(self) -> list[str]:
        """Violations of the current document, and every console complaint so far."""
        events: list[str] = self.page.evaluate("window.__cspViolations || []")
        return events + self.console


def test_the_dashboard_works_under_its_policy_without_a_violation(
    start_hub: Callable[..., HubServer], devices: Callable[..., ProtocolDevice], page: Page
) -> None:
    hub = start_hub()
    email = f"{secrets.token_hex(4)}@example.org"
    api = sign_up(hub.url, "Policy house", email)
    button = devices("csp-button", add_button(api, "csp-button", "COF-1KG"))
    created = api.ok("POST", "/api/v1/devices", json={"kind": "appliance_sensor", "name": "Washer", "id": "csp-washer"})
    sensor = devices("csp-washer", created["secret"])
    now = int(time.time())
    for i in range(12):
        event = {"type": "level", "slot": "detergent", "value": 1900.0 - 60 * i, "unit": "g",
                 "ts": now - (11 - i) * 8 * 3600}
        assert sensor.wait_feedback(sensor.send(event))["code"] == "recorded"
    violations = Violations(page)
    page.clock.install()  # the cancel window is run down below without waiting 30 minutes
    sign_in(page, hub.url, email)

    # Live refresh: a press shows up on the open orders page without a reload, with its countdown ticking.
    response = page.goto(hub.url + "/web/orders")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    assert button.wait_feedback(button.press())["code"] == "ordered"
    row = page.locator("#orders tr[data-status='pending']")
    countdown = row.locator(".countdown")
    expect(countdown).to_contain_text("left to cancel")
    assert page.evaluate("window.__notReloaded") is True, "the order appeared through a reload, not live"
    assert violations.of_this_page() == []

    # The order page: local times and the countdown run, and the cancel button closes with the window.
    page.goto(f"{hub.url}/web/orders/{row.get_attribute('data-key')}")
    callout = page.locator(".callout .countdown")
    expect(callout).to_have_text(re.compile(r"^(29|30):\d\d left to cancel$"))
    assert page.locator("time[data-local]").first.get_attribute("title"), "local times were not rewritten"
    before = callout.text_content()
    page.clock.run_for(2000)
    expect(callout).not_to_have_text(before or "")
    cancel = page.locator("[data-window-form] button").first
    expect(cancel).to_be_enabled()
    page.clock.run_for(31 * 60 * 1000)
    expect(callout).to_have_text("cancel window closed")
    expect(cancel).to_be_disabled()
    assert violations.of_this_page() == []

    # The chart is an image of this origin.
    page.goto(hub.url + "/web/supplies")
    chart = page.locator("img.chart").first
    until(page, "img => img.complete && img.naturalWidth > 300", chart.element_handle())
    assert violations.of_this_page() == []

    # Every other page, and a confirmation dialog from the page script.
    for path in ("/web/", "/web/cart", "/web/inbox", "/web/devices", "/web/settings"):
        page.goto(hub.url + path)
        expect(page.locator("main h1").first).to_be_visible()
        assert violations.of_this_page() == [], path
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.goto(hub.url + "/web/devices")
    page.click("#device-csp-button >> text=Revoke this device…")
    assert asked and "Revoke" in asked[0]
    page.wait_for_load_state()
    assert "done=revoked" not in page.url and api.ok("GET", "/api/v1/devices/csp-button")["active"] is True

    # The recorder does see what the policy blocks: an inline script planted now is reported.
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
                            document.body.appendChild(s); }""")
    until(page, "() => window.__cspViolations.length > 0")
    assert page.evaluate("window.__ran") is None
    assert any("script-src" in v for v in violations.of_this_page())


@contextmanager
def other_site(pages: dict[str, str]) -> Iterator[int]:
    """A plain local web server (another port, so another origin) serving fixed HTML pages; yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            body = pages.get(self.path, "not here").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_cannot_frame_the_dashboard(start_hub: Callable[..., HubServer], page: Page) -> None:
    hub = start_hub()
    pages = {"/control": "<p id=control>framed</p>"}
    with other_site(pages) as port:
        # localhost is another site than 127.0.0.1. The control frame shows that this page can frame pages of
        # 127.0.0.1 that send no framing headers; the hub's sign-in page must be refused.
        pages["/attack"] = (
            f'<iframe id=hub src="{hub.url}/web/signin"></iframe>'
            f'<iframe id=ok src="http://127.0.0.1:{port}/control"></iframe>'
        )
        page.goto(f"http://localhost:{port}/attack")
        expect(page.frame_locator("#ok").locator("#control")).to_have_text("framed")
        handle = page.locator("#hub").element_handle()
        framed = handle.content_frame() if handle is not None else None
        assert framed is not None
        framed.wait_for_load_state()
        # Chromium puts its error page in place of a refused frame.
        assert framed.url.startswith("chrome-error://"), framed.url
        assert framed.locator("#email").count() == 0


def test_the_api_docs_render_offline_under_a_self_only_script_policy(
    start_hub: Callable[..., HubServer], page: Page
) -> None:
    hub = start_hub()
    violations = Violations(page)
    # Nothing outside the hub is reachable: a request elsewhere is refused and recorded, as it would fail offline.
    outside: list[str] = []
    page.route(
        re.compile(r"^(?!" + re.escape(hub.url) + r").*"),
        lambda route: (outside.append(route.request.url), route.abort()),
    )
    response = page.goto(hub.url + "/docs")
    assert response is not None
    assert "script-src 'self';" in response.headers["content-security-policy"] + ";"
    # Swagger UI rendered the hub's operations from this hub's own files.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("restock hub")
    expect(page.locator(".opblock").first).to_be_visible()
    assert violations.of_this_page() == []
    assert outside == []
    page.goto(hub.url + "/redoc")
    page.wait_for_url(hub.url + "/docs")
