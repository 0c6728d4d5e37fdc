"""Household notification channels: a signed JSON webhook and e-mail over SMTP."""

from __future__ import annotations

import asyncio
import json
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import httpx

from hub.merchants.signing import signed_headers

KINDS = ("webhook", "email")


class ChannelError(Exception):
    """A send that did not work; the message is kept on the delivery for the household to see."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes out."""

    host: str | None
    port: int = 25
    username: str | None = None
    password: str | None = None
    sender: str = "restock@localhost"
    starttls: bool = False


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
        raise ChannelError(f"connection: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise ChannelError(f"HTTP {response.status_code}")


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
    lines += ["", f"({payload.get('kind')})"]
    message.set_content("\n".join(lines))
    return message


def _send_email_blocking(config: SmtpConfig, to: str, payload: dict[str, Any], timeout: float) -> None:
    if not config.host:
        raise ChannelError("no SMTP server configured (RESTOCK_SMTP_HOST)")
    try:
        with smtplib.SMTP(config.host, config.port, timeout=timeout) as smtp:
            if config.starttls:
                smtp.starttls()
            if config.username and config.password:
                smtp.login(config.username, config.password)
            smtp.send_message(email_message(config.sender, to, payload))
    except (OSError, smtplib.SMTPException) as exc:
        raise ChannelError(f"smtp: {type(exc).__name__}: {exc}"[:200]) from None


async def send_email(config: SmtpConfig, to: str, payload: dict[str, Any], timeout_s: float) -> None:
    """Send one e-mail; smtplib blocks, so it runs in a worker thread with the socket timeout."""
    await asyncio.to_thread(_send_email_blocking, config, to, payload, timeout_s)
