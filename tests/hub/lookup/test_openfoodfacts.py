"""Open Food Facts name suggestions: the client against a local v2 server, and the hub end to end."""

from __future__ import annotations

import socket

import pytest

from hub.lookup.openfoodfacts import (
    LookupStatus,
    OpenFoodFactsClient,
    RateLimiter,
    off_code,
    suggestion_of,
    user_agent,
)
from tests.hub.scanning import (
    OFF_BROKEN,
    OFF_FOUND,
    OFF_NAMELESS,
    OFF_SLOW,
    OFF_THROTTLED,
    FakeOpenFoodFacts,
    inbox_by_gtin,
    new_home,
    wait_for,
)


def client(url: str, timeout_s: float = 1.0, per_minute: int = 60) -> OpenFoodFactsClient:
    return OpenFoodFactsClient(url, timeout_s=timeout_s, per_minute=per_minute)


def test_found_gives_a_name_with_our_user_agent_and_is_cached(off_server: FakeOpenFoodFacts) -> None:
    off = client(off_server.url)
    result = off.lookup("0" + OFF_FOUND)
    assert (result.status, result.suggestion) == (LookupStatus.FOUND, "Nutella (Ferrero) 400 g")
    [(path, agent)] = off_server.requests
    assert path.startswith(f"/api/v2/product/{OFF_FOUND}?fields=")
    assert agent == user_agent() and agent.startswith("restock/") and "(+https://" in agent
    # The second lookup is answered from the cache: the server sees no new request.
    assert off.lookup("0" + OFF_FOUND) == result
    assert len(off_server.requests) == 1


def test_not_found_and_nameless(off_server: FakeOpenFoodFacts) -> None:
    off = client(off_server.url)
    missing = off.lookup("05901234123457")
    assert (missing.status, missing.suggestion) == (LookupStatus.NOT_FOUND, None)
    assert "does not know" in missing.detail
    nameless = off.lookup("0" + OFF_NAMELESS)
    assert (nameless.status, nameless.suggestion) == (LookupStatus.FOUND, None)
    assert "no name" in nameless.detail


def test_slow_answer_is_a_timeout(off_server: FakeOpenFoodFacts) -> None:
    result = client(off_server.url, timeout_s=0.3).lookup("0" + OFF_SLOW)
    assert (result.status, result.suggestion) == (LookupStatus.TIMEOUT, None)
    assert "0.3 s" in result.detail


def test_http_429_is_rate_limited_and_pauses_further_requests(off_server: FakeOpenFoodFacts) -> None:
    off = client(off_server.url)
    result = off.lookup("0" + OFF_THROTTLED)
    assert (result.status, result.suggestion) == (LookupStatus.RATE_LIMITED, None)
    assert "429" in result.detail
    # Retry-After: 1 holds the next request back instead of hammering the server.
    assert off.lookup("0" + OFF_FOUND).status is LookupStatus.RATE_LIMITED
    assert off_server.codes() == [OFF_THROTTLED]


def test_server_error_and_no_server_are_offline(off_server: FakeOpenFoodFacts) -> None:
    assert client(off_server.url).lookup("0" + OFF_BROKEN).status is LookupStatus.OFFLINE
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    result = client(f"http://127.0.0.1:{closed_port}").lookup("0" + OFF_FOUND)
    assert (result.status, result.suggestion) == (LookupStatus.OFFLINE, None)


def test_rate_limiter_counts_tokens_per_minute() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
    assert limiter.delay() == pytest.approx(30.0)
    now[0] += 30.0
    assert limiter.try_acquire() is True
    limiter.pause(120)
    now[0] += 60.0
    assert limiter.try_acquire() is False


def test_local_limit_refuses_without_asking_the_server(off_server: FakeOpenFoodFacts) -> None:
    off = client(off_server.url, per_minute=1)
    assert off.lookup("0" + OFF_FOUND).status is LookupStatus.FOUND
    assert off.lookup("05901234123457").status is LookupStatus.RATE_LIMITED
    assert off_server.codes() == [OFF_FOUND]


@pytest.mark.parametrize(
    ("gtin", "code"),
    [("04006381333931", "4006381333931"), ("00036000291452", "0036000291452"), ("00000096385074", "96385074"),
     ("10012345678902", "10012345678902")],
)
def test_codes_are_sent_the_way_open_food_facts_files_them(gtin: str, code: str) -> None:
    assert off_code(gtin) == code


def test_suggestion_skips_repeated_brand_and_quantity() -> None:
    assert suggestion_of({"product_name": "Ferrero Rocher 200 g", "brands": "Ferrero", "quantity": "200 g"}) == (
        "Ferrero Rocher 200 g"
    )
    assert suggestion_of({"generic_name": "Milk", "brands": "", "quantity": ""}) == "Milk"
    assert suggestion_of({"brands": "X"}) is None


@pytest.mark.broker
def test_hub_files_the_suggestion_after_answering_the_wand(start_hub, devices, off_server: FakeOpenFoodFacts) -> None:
    server = start_hub(off_enabled=True, off_url=off_server.url, off_timeout_s=0.5)
    home = new_home(server)
    wand = devices(home.wand, home.secret)
    for code in (OFF_FOUND, OFF_SLOW, OFF_THROTTLED, "5901234123457"):
        feedback = wand.wait_feedback(wand.send({"type": "scan", "code": code, "qty": 1}))
        assert feedback["code"] == "inbox", feedback

    def settled() -> dict[str, dict[str, object]] | None:
        entries = inbox_by_gtin(home.api)
        return entries if all(e["lookup_status"] for e in entries.values()) and len(entries) == 4 else None

    entries = wait_for(settled, "every inbox entry to get its lookup outcome")
    outcome = {gtin: (e["lookup_status"], e["suggestion"]) for gtin, e in entries.items()}
    assert outcome == {
        "0" + OFF_FOUND: ("found", "Nutella (Ferrero) 400 g"),
        "0" + OFF_SLOW: ("timeout", None),
        "0" + OFF_THROTTLED: ("rate_limited", None),
        "05901234123457": ("not_found", None),
    }
    assert all(e["lookup_detail"] for e in entries.values())


@pytest.mark.broker
def test_lookup_is_off_unless_enabled(start_hub, devices, off_server: FakeOpenFoodFacts) -> None:
    server = start_hub(off_url=off_server.url)
    home = new_home(server)
    wand = devices(home.wand, home.secret)
    assert wand.wait_feedback(wand.send({"type": "scan", "code": OFF_FOUND}))["code"] == "inbox"
    entry = inbox_by_gtin(home.api)["0" + OFF_FOUND]
    assert (entry["lookup_status"], entry["suggestion"]) == ("disabled", None)
    assert "RESTOCK_OFF_ENABLED" in entry["lookup_detail"]
    assert off_server.requests == []
