"""HMAC-SHA256 signatures of hub↔shop and hub→household webhook bodies (one scheme for all of them).

The signed text is ``<timestamp>.<body>``: the timestamp (Unix seconds, header ``X-Restock-Timestamp``) is
covered, so an old body cannot be sent again with a fresh timestamp. The signature header is
``X-Restock-Signature: sha256=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

SIGNATURE_HEADER = "X-Restock-Signature"
TIMESTAMP_HEADER = "X-Restock-Timestamp"
MERCHANT_HEADER = "X-Restock-Merchant"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PREFIX = "sha256="


class SignatureError(Exception):
    """A request whose signature or timestamp is not acceptable; the message says which."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """Timestamp and signature headers for a body sent now."""
    timestamp = int(now.timestamp())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime, max_age_s: float
) -> int:
    """Check a signed request; returns its timestamp, raises SignatureError when forged or stale."""
    if not timestamp or not signature:
        raise SignatureError("missing signature or timestamp header")
    # Up to 12 ASCII digits: int() would also take "1_0", other scripts' digits and numbers too big for a float.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("timestamp is not Unix seconds")
    sent = int(timestamp)
    # Compare first: a forged request learns nothing about the clock from the answer.
    if not hmac.compare_digest(sign(secret, sent, body).encode(), signature.strip().encode()):
        raise SignatureError("bad signature")
    if abs(now.timestamp() - sent) > max_age_s:
        raise SignatureError("stale timestamp")
    return sent
