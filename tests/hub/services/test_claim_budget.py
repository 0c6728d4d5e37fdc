"""Claiming a device: one budget of failed claim codes per user, whichever surface (REST API or dashboard)
the guesses come through, and the claim time from the hub clock on both."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlmodel import Session

from hub.scheduler.clock import Clock
from hub.services import devices as device_service
from hub.store import repos
from tests.hub.conftest import HubServer, sign_up

PASSWORD = "correct horse"  # what tests.hub.conftest.sign_up signs up with
WRONG = "ZZZZ-ZZZZ-ZZZZ"  # well-formed, and no device has it
TOO_MANY_WEB = "Too many wrong codes"


def _unclaimed(server: HubServer, device_id: str) -> str:
    """A device registered without a household (as `restock device add` does); returns its claim code."""
    with Session(server.hub.engine) as session:
        created = device_service.register(session, "dash_button", "", None, device_id)
        session.commit()
    assert created.claim_code is not None
    return created.claim_code


def _email(api: httpx.Client) -> str:
    email: str = api.get("/api/v1/me").json()["email"]
    return email


class Dashboard:
    """A browser on the dashboard: signed in with the session cookie, posting forms with their CSRF value."""

    def __init__(self, url: str, email: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        signin = self.client.get("/web/signin")
        response = self.client.post(
            "/web/signin", data={"email": email, "password": PASSWORD, "csrf": self._csrf(signin.text)}
        )
        assert response.status_code == 303, response.text

    @staticmethod
    def _csrf(html: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', html)
        assert found is not None
        return found.group(1)

    def pair(self, code: str) -> httpx.Response:
        """Submit the pairing form; returns the page the redirect leads to."""
        csrf = self._csrf(self.client.get("/web/devices").text)
        return self.client.post("/web/devices/pair", data={"code": code, "csrf": csrf}, follow_redirects=True)


def test_failed_claims_through_api_and_dashboard_share_one_budget(start_hub: Callable[..., HubServer]) -> None:
    """Five wrong codes in all, three on the API and two on the dashboard, use up the user's attempts: the right
    code is then refused on both surfaces, and another user can still claim the device."""
    server = start_hub()
    code = _unclaimed(server, "btn-budget")
    guesser = sign_up(server.url, "Guesser")
    web = Dashboard(server.url, _email(guesser.client))
    for _ in range(3):
        assert guesser.post("/api/v1/devices/claim", json={"code": WRONG}).status_code == 404
    for _ in range(2):
        page = web.pair(WRONG)
        assert "No device has this claim code" in page.text and TOO_MANY_WEB not in page.text
    assert guesser.post("/api/v1/devices/claim", json={"code": code}).status_code == 429
    assert TOO_MANY_WEB in web.pair(code).text
    with Session(server.hub.engine) as session:
        device = repos.device(session, "btn-budget")
        assert device is not None and device.household_id is None
    assert sign_up(server.url, "Owner").post("/api/v1/devices/claim", json={"code": code}).status_code == 200


def test_claims_are_stamped_with_the_hub_clock(start_hub: Callable[..., HubServer]) -> None:
    """A claim through the API and one through the dashboard both record the hub clock's time, not the host's."""
    clock = Clock(offset=timedelta(days=40))
    server = start_hub(clock=clock)
    api_code, web_code = _unclaimed(server, "btn-api-clock"), _unclaimed(server, "btn-web-clock")
    owner = sign_up(server.url, "Owner")
    before = clock.now()
    assert owner.post("/api/v1/devices/claim", json={"code": api_code}).status_code == 200
    page = Dashboard(server.url, _email(owner.client)).pair(web_code)
    assert page.status_code == 200 and "btn-web-clock" in page.text
    after = clock.now()
    with Session(server.hub.engine) as session:
        for device_id in ("btn-api-clock", "btn-web-clock"):
            device = repos.device(session, device_id)
            assert device is not None and device.claimed_at is not None
            assert before <= device.claimed_at <= after, (device_id, device.claimed_at)
