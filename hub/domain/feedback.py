"""Feedback sent on a device's `cmd` topic: the end-to-end acknowledgement of one event (protocol §5)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CODES = (
    "ordered",
    "in_cart",
    "awaiting_approval",
    "duplicate",
    "cancelled",
    "nothing_to_cancel",
    "inbox",
    "recorded",
    "reordered",
    "rejected",
)


def rfc3339(at: datetime) -> str:
    """UTC time as the wire writes it: seconds precision with a Z."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Feedback:
    """One feedback message; `to_json` is what is stored and re-sent byte for byte."""

    seq: int
    code: str
    order: str | None = None
    product: str | None = None
    qty: int | None = None
    total: int | None = None
    currency: str | None = None
    cancel_until: datetime | None = None
    reason: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown feedback code {self.code!r}")

    def to_dict(self) -> dict[str, Any]:
        """The wire object, without absent fields."""
        out: dict[str, Any] = {"type": "feedback", "seq": self.seq, "code": self.code}
        for key in ("order", "product", "qty", "total", "currency", "reason", "detail"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.cancel_until is not None:
            out["cancel_until"] = rfc3339(self.cancel_until)
        return out

    def to_json(self) -> str:
        """Compact JSON, well under the 1 KiB payload limit; always text a database column can store."""
        text = json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # An unpaired surrogate (from a device's own text quoted in a detail) goes out as a JSON escape.
            text = json.dumps(self.to_dict(), separators=(",", ":"))
        return text


def rejected(seq: int, reason: str, detail: str | None = None) -> Feedback:
    """A rejection feedback with a reason code."""
    return Feedback(seq=seq, code="rejected", reason=reason, detail=detail[:120] if detail else None)
