"""The merchant connector interface: every shop is reached through it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from hub.store.models import Order, OrderLine

# Merchants built into the hub and shared by every household; any other merchant is one household's own
# webhook shop (MerchantAccount), usable by that household alone.
BUILT_IN = frozenset({"demo"})


@dataclass(frozen=True)
class Transition:
    """A status change a merchant reports for an order; `due_at` is when to ask it again, `expected_delivery`
    the delivery date the shop promises (None: no new promise, the last one stands)."""

    status: str
    due_at: datetime | None = None
    tracking: str | None = None
    merchant_ref: str | None = None
    note: str | None = None
    expected_delivery: datetime | None = None


class Merchant(Protocol):
    """A shop connector."""

    name: str

    def submit(self, session: Session, order: Order, lines: Sequence[OrderLine], now: datetime) -> Transition:
        """Hand the order to the shop (idempotent on order.id)."""
        ...

    def advance(self, session: Session, order: Order, now: datetime) -> Transition | None:
        """Called when order.due_at fires after submission: the next status, or None for no change."""
        ...
