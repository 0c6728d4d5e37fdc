"""Notification channels: e-mail refused while the hub has no SMTP server, and "send a test" for every channel."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from hub.merchants.signing import verify
from tests.hub.conftest import HubServer, sign_up
from tests.hub.receiver import Answer, Post, serving
from tests.hub.shops import Mailbox

pytestmark = pytest.mark.broker


class Receiver:
    """A local webhook receiver: answers each path with a set status and text, keeps what it got."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: dict[str, tuple[int, bytes]] = {"/ok": (204, b""), "/gone": (404, b"no such hook\nsorry")}
        self.url = ""

    def answer(self, post: Post) -> Answer:
        """Keep the request; answer as set for its path."""
        self.got.append((post.path, dict(post.headers), post.body))
        status, body = self.answers.get(post.path, (500, b""))
        return status, body, "text/plain"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free port."""
    made = Receiver()
    with serving(made.answer) as made.url:
        yield made


def test_without_smtp_an_email_channel_is_refused_naming_the_setting(start_hub: Callable[..., HubServer]) -> None:
    server = start_hub()
    api = sign_up(server.url)
    refused = api.post("/api/v1/notifications/channels", json={"kind": "email", "target": "me@example.org"})
    assert refused.status_code == 422 and "RESTOCK_SMTP_HOST" in refused.json()["detail"]
    assert api.ok("GET", "/api/v1/notifications/channels") == []


def test_a_test_message_goes_out_at_once_and_says_how_it_went(
    start_hub: Callable[..., HubServer], receiver: Receiver
) -> None:
    server = start_hub()
    api = sign_up(server.url)
    ok = api.ok("POST", "/api/v1/notifications/channels", json={"kind": "webhook", "target": receiver.url + "/ok"})
    gone = api.ok("POST", "/api/v1/notifications/channels", json={"kind": "webhook", "target": receiver.url + "/gone"})
    dead = api.ok("POST", "/api/v1/notifications/channels", json={"kind": "webhook", "target": "http://127.0.0.1:9/x"})

    answer = api.ok("POST", f"/api/v1/notifications/channels/{ok['id']}/test")
    assert answer == {"channel_id": ok["id"], "delivered": True, "detail": "delivered"}
    [(path, headers, raw)] = receiver.got
    assert path == "/ok" and headers["X-Restock-Event"] == "test"
    verify(ok["secret"], headers["X-Restock-Timestamp"], headers["X-Restock-Signature"], raw,
           server.hub.clock.now(), 300)
    assert "Test message" in json.loads(raw)["text"]

    # The service's answer, in one line.
    answer = api.ok("POST", f"/api/v1/notifications/channels/{gone['id']}/test")
    assert answer["delivered"] is False and answer["detail"] == "HTTP 404 Not Found: no such hook sorry"
    answer = api.ok("POST", f"/api/v1/notifications/channels/{dead['id']}/test")
    assert answer["delivered"] is False and answer["detail"].startswith("connection: ConnectError")
    assert "\n" not in answer["detail"]

    # Not through the outbox: no notification, nothing left to retry.
    assert api.ok("GET", "/api/v1/notifications") == []
    assert api.post("/api/v1/notifications/channels/999999/test").status_code == 404
    other = sign_up(server.url, "Other home")
    assert other.post(f"/api/v1/notifications/channels/{ok['id']}/test").status_code == 404
    assert len(receiver.got) == 2


def test_an_email_test_reaches_the_smtp_server(start_hub: Callable[..., HubServer], mailbox: Mailbox) -> None:
    server = start_hub(smtp_host="127.0.0.1", smtp_port=mailbox.port)
    api = sign_up(server.url)
    mail = api.ok("POST", "/api/v1/notifications/channels", json={"kind": "email", "target": "me@example.org"})
    assert api.ok("POST", f"/api/v1/notifications/channels/{mail['id']}/test")["delivered"] is True
    [message] = mailbox.messages
    assert message["To"] == "me@example.org" and "Test message" in str(message["Subject"])
