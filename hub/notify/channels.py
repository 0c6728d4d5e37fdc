"""Household notification channels: a signed JSON webhook, e-mail over SMTP, and push through Apprise.

An Apprise channel is one Apprise URL (ntfy://, gotify://, tgram://, json://, ...): Apprise validates it and
speaks the service's protocol; the hub stores the URL and shows it only masked, since it holds the service's
credentials or, for ntfy, the secret topic name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote, urlsplit

import apprise
import httpx
from sqlmodel import Session

from hub.domain.money import display
from hub.merchants.signing import signed_headers
from hub.store import repos
from hub.store.models import NotificationDelivery, NotifyChannel

KINDS = ("webhook", "email", "apprise")
KIND_LABELS = {"webhook": "webhook", "email": "e-mail", "apprise": "push"}
# The groups of notifications a channel can choose, by the prefix of a notification's kind.
EVENT_GROUPS = {"orders": "Order steps", "supply": "Low supplies", "device": "Device trouble"}
ALL_EVENTS = ",".join(EVENT_GROUPS)
_GROUP_OF_PREFIX = {"order": "orders", "supply": "supply", "device": "device"}
# The same target rules as the REST API (hub/api/notifications.py).
WEBHOOK_URL = r"^https?://\S+$"
EMAIL_ADDRESS = r"^[^@\s]+@[^@\s]+$"
MAX_TARGET = 500


class ChannelError(Exception):
    """A send that did not work; the message is kept on the delivery for the household to see."""


def one_line(text: str, limit: int = 200) -> str:
    """A service's answer or an error as one short line (they may span lines, e.g. SMTP replies, HTML pages)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes out."""

    host: str | None
    port: int = 25
    username: str | None = None
    password: str | None = None
    sender: str = "restock@localhost"
    starttls: bool = False


# Said when a household adds or tests an e-mail channel on a hub that cannot send e-mail: only the hub's
# operator can fix it, so the household is told what to ask for, and that a webhook works meanwhile.
NO_SMTP = ("This hub cannot send e-mail: no SMTP server is set up. Whoever runs the hub sets RESTOCK_SMTP_HOST "
           "(and RESTOCK_SMTP_PORT, RESTOCK_SMTP_FROM, RESTOCK_SMTP_USER / RESTOCK_SMTP_PASSWORD if the server "
           "needs them) and restarts it; until then use a webhook.")


def email_problem(config: SmtpConfig) -> str | None:
    """Why e-mail channels cannot work on this hub, or None when an SMTP server is configured."""
    return None if config.host else NO_SMTP


def test_payload(now: datetime) -> dict[str, Any]:
    """The message a "send a test" sends: says what it is, so nobody mistakes it for an order."""
    return {"kind": "test", "at": now.isoformat(),
            "text": "Test message: notifications from restock reach this channel"}


async def send_webhook(
    client: httpx.AsyncClient, url: str, secret: str | None, payload: dict[str, Any], now: datetime, timeout_s: float
) -> None:
    """POST the payload as JSON, signed like merchant requests when the channel has a secret."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {"Content-Type": "application/json", "X-Restock-Event": str(payload.get("kind", ""))}
    if secret:
        headers.update(signed_headers(secret, body, now))
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise ChannelError("timeout") from None
    except httpx.HTTPError as exc:
        raise ChannelError(one_line(f"connection: {type(exc).__name__}: {exc}".removesuffix(": "))) from None
    if not 200 <= response.status_code < 300:
        # The receiver's own words help the household fix it ("404 Not Found: no such hook").
        answer = one_line(response.text, 120) if "html" not in response.headers.get("content-type", "") else ""
        raise ChannelError(one_line(f"HTTP {response.status_code} {response.reason_phrase}" +
                                    (f": {answer}" if answer else "")))


def email_message(sender: str, to: str, payload: dict[str, Any]) -> EmailMessage:
    """The e-mail of a notification: its text as subject, the details as plain-text body."""
    message = EmailMessage()
    text = str(payload.get("text") or payload.get("kind") or "restock notification")
    message["Subject"] = f"restock: {text}"[:200]
    message["From"] = sender
    message["To"] = to
    lines = [text, ""]
    order = payload.get("order")
    if isinstance(order, dict):
        for line in order.get("lines", []):
            lines.append(f"  {line['qty']} × {line['name']}")
        lines.append(f"Total: {order['total']} (minor units, {order['currency']})")
        if order.get("cancel_until"):
            lines.append(f"Cancel until: {order['cancel_until']}")
        if order.get("tracking"):
            lines.append(f"Tracking: {order.get('carrier') or ''} {order['tracking']}".replace("  ", " "))
    for action in payload.get("actions") or []:
        lines.append(f"{action['label']}: {action['url']}")
    lines += ["", f"({payload.get('kind')})"]
    message.set_content("\n".join(lines))
    return message


def _send_email_blocking(config: SmtpConfig, to: str, payload: dict[str, Any], timeout: float) -> None:
    if not config.host:
        raise ChannelError("no SMTP server configured on the hub (RESTOCK_SMTP_HOST)")
    try:
        with smtplib.SMTP(config.host, config.port, timeout=timeout) as smtp:
            if config.starttls:
                smtp.starttls()
            if config.username and config.password:
                smtp.login(config.username, config.password)
            smtp.send_message(email_message(config.sender, to, payload))
    except (OSError, smtplib.SMTPException) as exc:
        raise ChannelError(one_line(f"smtp: {type(exc).__name__}: {exc}")) from None


async def send_email(config: SmtpConfig, to: str, payload: dict[str, Any], timeout_s: float) -> None:
    """Send one e-mail; smtplib blocks, so it runs in a worker thread with the socket timeout."""
    await asyncio.to_thread(_send_email_blocking, config, to, payload, timeout_s)


def event_group(kind: str) -> str | None:
    """The group a notification kind belongs to ("order.placed" → "orders"); None for kinds every channel gets."""
    return _GROUP_OF_PREFIX.get(kind.partition(".")[0])


def wants(events: str, kind: str) -> bool:
    """Whether a channel with these event groups receives a notification of `kind`."""
    group = event_group(kind)
    return group is None or group in events.split(",")


def events_value(groups: Iterable[str]) -> str:
    """The stored form of a choice of event groups, in a fixed order; ValueError for an unknown group or none."""
    chosen = set(groups)
    unknown = chosen - set(EVENT_GROUPS)
    if unknown:
        raise ValueError(f"Unknown kinds of notification: {', '.join(sorted(unknown))}.")
    if not chosen:
        raise ValueError("Choose at least one kind of notification.")
    return ",".join(group for group in EVENT_GROUPS if group in chosen)


def apprise_problem(url: str) -> str | None:
    """Why Apprise cannot use this URL, or None when it can."""
    if "://" not in url:
        return "A push channel needs an Apprise URL such as ntfy://ntfy.sh/my-topic."
    if not apprise.Apprise().add(url):
        return "Apprise does not recognise this URL; check the service's prefix and fields (see Apprise's docs)."
    return None


def masked(kind: str, target: str) -> str:
    """A channel's target as it may be shown again: an Apprise URL without its credentials and with its path
    (ntfy's topic, a bot token) shortened, the query dropped; webhooks and e-mail as they are."""
    if kind != "apprise":
        return target
    plugin = apprise.Apprise.instantiate(target)
    shown = str(plugin.url(privacy=True)) if plugin else target  # type: ignore[no-untyped-call]
    parts = urlsplit(shown)
    path = "/".join(_mask_part(part) for part in parts.path.split("/"))
    return f"{parts.scheme}://{parts.netloc}{path}"


def _mask_part(part: str) -> str:
    return part if len(part) <= 3 else part[:2] + "****"


def push_message(payload: dict[str, Any]) -> tuple[str, str]:
    """Title and body of a notification on a lock screen: what happened in the title (product, quantity, price),
    then the details and what the reader can do, with the one-tap links."""
    text = str(payload.get("text") or payload.get("kind") or "restock notification")
    order = payload.get("order")
    if not isinstance(order, dict):
        return "restock", text
    lines = order.get("lines") or []
    what = ", ".join(f"{line['qty']} × {line['name']}" for line in lines) or str(order.get("product") or "")
    title = f"{_TITLES.get(str(payload.get('kind')), 'Order')}: {what}, {_money(order)}"
    body = [text]
    for action in payload.get("actions") or []:
        body.append(f"{action['label']}: {action['url']}")
    return title[:250], "\n".join(body)


_TITLES = {
    "order.placed": "Ordered", "order.awaiting_approval": "Approve?", "order.substituted": "Substituted",
    "order.submitted": "Sent to the shop", "order.confirmed": "Confirmed", "order.shipped": "Shipped",
    "order.delivered": "Delivered", "order.cancelled": "Cancelled", "order.failed": "Order failed",
    "order.return_requested": "Return requested", "order.returned": "Returned",
}


def _money(order: dict[str, Any]) -> str:
    return display(int(order.get("total") or 0), str(order.get("currency") or "EUR"))


def ntfy_actions(payload: dict[str, Any]) -> str | None:
    """ntfy's action buttons (its X-Actions header format) for the notification's one-tap links: each opens the
    link's confirmation page, where the action happens on an explicit tap."""
    actions = payload.get("actions") or []
    if not actions:
        return None
    return "; ".join(f"view, {action['label']}, {action['url']}" for action in actions[:3])


def with_actions(url: str, payload: dict[str, Any]) -> str:
    """The channel's Apprise URL for this message: ntfy URLs get the action buttons as Apprise's `actions` field."""
    actions = ntfy_actions(payload) if url.split("://", 1)[0].lower() in ("ntfy", "ntfys") else None
    if actions is None:
        return url
    return url + ("&" if "?" in url else "?") + "actions=" + quote(actions, safe="")


def _send_apprise_blocking(url: str, payload: dict[str, Any], timeout_s: float) -> None:
    notifier = apprise.Apprise()
    if not notifier.add(with_actions(url, payload)):
        raise ChannelError("Apprise does not recognise this channel's URL")
    title, body = push_message(payload)
    result = notifier.notify(body=body, title=title, timeout=timeout_s, log_level=logging.WARNING)
    if not result:
        # Apprise says why in its log entries ("Failed to send ntfy notification ...: topic bad, error=500.").
        reasons = [entry.message for entry in result.logs()]
        raise ChannelError(one_line("; ".join(reasons) or f"the service refused it ({result.status.name.lower()})"))


async def send_apprise(url: str, payload: dict[str, Any], timeout_s: float) -> None:
    """Send one push through Apprise; its plugins block, so it runs in a worker thread with Apprise's deadline."""
    await asyncio.to_thread(_send_apprise_blocking, url, payload, timeout_s)


# --- Channel management for the dashboard (the REST API keeps its own copy in hub/api/notifications.py) ----


def target_problem(kind: str, target: str) -> str | None:
    """Why a channel target cannot be used (a sentence for the household), or None when it can."""
    if kind not in KINDS:
        return "Choose e-mail, webhook or push."
    if not target:
        return {"email": "Enter an e-mail address.", "webhook": "Enter the webhook's URL."}.get(
            kind, "Enter the service's Apprise URL.")
    if len(target) > MAX_TARGET:
        return f"At most {MAX_TARGET} characters."
    if kind == "webhook" and not re.fullmatch(WEBHOOK_URL, target):
        return "A webhook needs an http:// or https:// URL."
    if kind == "email" and not re.fullmatch(EMAIL_ADDRESS, target):
        return "Enter an e-mail address like name@example.org."
    if kind == "apprise":
        return apprise_problem(target)
    return None


def add_channel(
    session: Session, household_id: int, kind: str, target: str, events: str = ALL_EVENTS
) -> NotifyChannel:
    """A new active channel (flushed, so it has an id); a webhook gets a signing secret. Caller commits."""
    problem = target_problem(kind, target)
    if problem is not None:
        raise ValueError(problem)
    events = events_value(events.split(","))
    secret = secrets.token_urlsafe(24) if kind == "webhook" else None
    channel = NotifyChannel(household_id=household_id, kind=kind, target=target, secret=secret, events=events)
    session.add(channel)
    session.flush()
    return channel


def remove_channel(session: Session, household_id: int, channel_id: int) -> bool:
    """Stop sending to a channel of the household (pending deliveries are dropped); False if there is none."""
    channel = repos.household_channel(session, household_id, channel_id)
    if channel is None:
        return False
    channel.active = False
    session.add(channel)
    return True


@dataclass(frozen=True)
class ChannelState:
    """An active channel with how its recent deliveries went."""

    channel: NotifyChannel
    last: NotificationDelivery | None  # the newest delivery to it among the recent notifications
    sent: int
    retrying: int  # pending after a failed attempt
    failed: int  # given up


def channel_states(session: Session, household_id: int, recent: int = 50) -> list[ChannelState]:
    """The household's active channels with the state of their deliveries of the `recent` newest notifications."""
    channels = list(repos.active_channels(session, household_id))
    per_channel: dict[int, list[NotificationDelivery]] = {c.id or 0: [] for c in channels}
    # Newest notification first, so each channel's list starts with its latest delivery.
    for note in repos.household_notifications(session, household_id, recent):
        for delivery in repos.notification_deliveries(session, note.id or 0):
            per_channel.get(delivery.channel_id, []).append(delivery)
    states = []
    for channel in channels:
        deliveries = per_channel[channel.id or 0]
        states.append(ChannelState(
            channel=channel,
            last=deliveries[0] if deliveries else None,
            sent=sum(d.status == "sent" for d in deliveries),
            retrying=sum(d.status == "pending" and d.last_error is not None for d in deliveries),
            failed=sum(d.status == "dead" for d in deliveries),
        ))
    return states
