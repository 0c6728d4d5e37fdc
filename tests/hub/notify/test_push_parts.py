"""The parts of push notifications without a hub: action tokens, Apprise URL checks and masking, event choice,
lock-screen text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.notify import channels
from hub.notify.actions import ActionLinks, LinkError

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_a_token_carries_its_claim_and_any_change_breaks_it(tmp_path: Path) -> None:
    links = ActionLinks(tmp_path, "https://hub.example.org/")
    token = links.token(7, "o-0af565b951", "cancel", NOW + timedelta(minutes=5))
    claim = links.verify(token)
    assert (claim.household_id, claim.order_id, claim.action) == (7, "o-0af565b951", "cancel")
    assert claim.expires == NOW + timedelta(minutes=5)
    assert links.url(token) == f"https://hub.example.org/act/{token}"
    for changed in (token.replace(".7.", ".8.", 1), token.replace(".cancel.", ".approve."), token[:-1] + "x",
                    token + "0", "a1.7.o-1.cancel.1.2.3"):
        with pytest.raises(LinkError):
            links.verify(changed)
    # Every token is new (single use is per token), and another hub's key does not verify it.
    assert links.token(7, "o-0af565b951", "cancel", NOW) != links.token(7, "o-0af565b951", "cancel", NOW)
    with pytest.raises(LinkError):
        ActionLinks(tmp_path / "other", "https://x").verify(token)


def test_the_key_is_kept_in_the_data_folder_for_the_hub_user_only(tmp_path: Path) -> None:
    token = ActionLinks(tmp_path, "http://h").token(1, "o-1", "approve", NOW)
    assert ActionLinks(tmp_path, "http://h").verify(token).order_id == "o-1"  # a restarted hub still knows it
    assert (tmp_path / "action_links.key").stat().st_mode & 0o077 == 0


def test_order_steps_get_the_links_that_still_make_sense() -> None:
    links = ActionLinks(None, "http://h")
    cancel = links.for_order(1, "o-1", "order.placed", NOW + timedelta(minutes=5), NOW)
    assert [a["action"] for a in cancel] == ["cancel"] and cancel[0]["label"] == "Cancel order"
    assert links.for_order(1, "o-1", "order.placed", NOW, NOW) == []  # the window has closed
    decide = links.for_order(1, "o-1", "order.awaiting_approval", None, NOW)
    assert [a["action"] for a in decide] == ["approve", "reject"]
    assert decide[0]["expires"] == (NOW + timedelta(days=7)).isoformat()
    assert links.for_order(1, "o-1", "order.shipped", None, NOW) == []


def test_apprise_urls_are_checked_by_apprise_and_shown_without_secrets() -> None:
    assert channels.target_problem("apprise", "ntfy://ntfy.sh/kitchen-topic") is None
    assert channels.target_problem("apprise", "json://127.0.0.1:8080/hook") is None
    assert channels.target_problem("apprise", "nosuchservice://x") is not None
    assert channels.target_problem("apprise", "ntfy.sh/topic") is not None
    shown = channels.masked("apprise", "ntfy://me:hunter22@ntfy.sh/kitchen-topic?priority=high")
    assert "hunter22" not in shown and "kitchen-topic" not in shown and shown.startswith("ntfy://")
    assert channels.masked("webhook", "https://example.org/hook") == "https://example.org/hook"


def test_channels_choose_their_event_groups() -> None:
    assert channels.events_value(["device", "orders"]) == "orders,device"
    with pytest.raises(ValueError):
        channels.events_value([])
    with pytest.raises(ValueError):
        channels.events_value(["orders", "weather"])
    assert channels.wants("orders", "order.placed") and not channels.wants("orders", "supply.low")
    assert channels.wants("supply,device", "device.offline") and channels.wants("device", "test")


def test_a_push_reads_on_a_lock_screen() -> None:
    payload = {
        "kind": "order.placed", "text": "Order o-1 (Detergent, 12.99 EUR) placed; you can cancel it until 10:05",
        "order": {"lines": [{"name": "Detergent", "qty": 2, "unit_price": 650}], "total": 1299, "currency": "EUR"},
        "actions": [{"action": "cancel", "label": "Cancel order", "url": "https://h/act/t"}],
    }
    title, body = channels.push_message(payload)
    assert title == "Ordered: 2 × Detergent, 12.99 EUR"
    assert body.splitlines() == [payload["text"], "Cancel order: https://h/act/t"]
    assert channels.with_actions("ntfy://ntfy.sh/t", payload).endswith(
        "?actions=view%2C%20Cancel%20order%2C%20https%3A%2F%2Fh%2Fact%2Ft")
    assert channels.with_actions("json://h/x", payload) == "json://h/x"
    assert channels.push_message({"kind": "supply.low", "text": "Salt is running low"}) == (
        "restock", "Salt is running low")


def test_an_email_carries_the_same_links() -> None:
    payload = {
        "kind": "order.awaiting_approval", "text": "Order o-1 (Salt, 1.20 EUR) waits for your approval",
        "order": {"lines": [{"name": "Salt", "qty": 1, "unit_price": 120}], "total": 120, "currency": "EUR"},
        "actions": [{"action": "approve", "label": "Approve", "url": "https://h/act/a"},
                    {"action": "reject", "label": "Reject", "url": "https://h/act/r"}],
    }
    body = str(channels.email_message("hub@h", "me@h", payload).get_content())
    assert "Approve: https://h/act/a" in body and "Reject: https://h/act/r" in body
