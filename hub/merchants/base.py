"""The merchant protocol: every shop, built in or a household's webhook shop, is reached through it.

The scheduler asks a shop for the request an order's status needs (`hub.domain.lifecycle.REQUESTS`): `submit`
a pending order, `cancel` one that crossed its submission, `return_` a delivered one; in the other timed
statuses it asks the shop how the order got on (`advance`). Every method answers with a `Progress`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from hub.jobs import Job
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


@dataclass(frozen=True)
class OutOfStock:
    """The shop cannot deliver the order: a substitute goes out where the household allows it, else it fails."""

    note: str


@dataclass(frozen=True)
class Requested:
    """The shop is asked outside the database transaction: `job` goes to the sender after the commit."""

    job: Job


# What a shop answers the scheduler; None: nothing to do until the shop speaks (the order's timer stops).
Progress = Transition | OutOfStock | Requested | None


class Merchant(Protocol):
    """A shop connector."""

    name: str

    def submit(self, session: Session, order: Order, lines: Sequence[OrderLine], now: datetime) -> Progress:
        """Hand the order to the shop (idempotent on the order id)."""
        ...

    def cancel(self, session: Session, order: Order, now: datetime) -> Progress:
        """Tell the shop that an order it may already have taken is cancelled."""
        ...

    def return_(self, session: Session, order: Order, now: datetime) -> Progress:
        """Ask the shop to take a delivered order back (`order.return_reason` says why)."""
        ...

    def advance(self, session: Session, order: Order, now: datetime) -> Progress:
        """Called when the order's timer fires after submission: the next status, or None for no change."""
        ...
