"""The order lifecycle as data (DESIGN §4): statuses, timeline-only steps, who may move an order where.

Services check every status change against `TRANSITIONS` instead of deciding it in scattered ifs; the sets below
say which statuses are open, cancellable, spent or final, which request a shop needs in each status, and which
statuses a shop's callback may follow. Plain values only: no database, no IO.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class OrderStatus(StrEnum):
    """Where an order stands; each change is a step on its timeline."""

    AWAITING_APPROVAL = "awaiting_approval"
    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    FAILED = "failed"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"


class Step(StrEnum):
    """Timeline-only steps: they explain what happened, the order's status stays as it was."""

    RETRY = "retry"
    OUT_OF_STOCK = "out_of_stock"
    SENT = "sent"


class Actor(StrEnum):
    """Who moves an order: the household (web, API), its device, the hub's scheduler, the shop on the hub's
    request, or the shop on its own through a callback."""

    HOUSEHOLD = "household"
    DEVICE = "device"
    SCHEDULER = "scheduler"
    MERCHANT = "merchant"
    CALLBACK = "merchant_callback"


class Request(StrEnum):
    """What a shop is asked to do for an order."""

    ORDER = "order"
    RETURN = "return"
    CANCEL = "cancel"


class TransitionError(ValueError):
    """A status change the lifecycle does not allow for that actor."""


S = OrderStatus
_H, _D, _S, _M, _C = Actor.HOUSEHOLD, Actor.DEVICE, Actor.SCHEDULER, Actor.MERCHANT, Actor.CALLBACK
# (from, to) → who may make that change; `None` as from is the order's creation.
TRANSITIONS: Mapping[tuple[OrderStatus | None, OrderStatus], frozenset[Actor]] = {
    # A new order goes out after its cancel window, or waits when a limit or approval mode says so.
    (None, S.PENDING): frozenset({_H, _D, _S}),
    (None, S.AWAITING_APPROVAL): frozenset({_H, _D, _S}),
    # The household decides; a long press cancels too.
    (S.AWAITING_APPROVAL, S.PENDING): frozenset({_H}),
    (S.AWAITING_APPROVAL, S.CANCELLED): frozenset({_H, _D}),
    (S.PENDING, S.CANCELLED): frozenset({_H, _D}),
    (S.DELIVERED, S.RETURN_REQUESTED): frozenset({_H}),
    # The shop takes or refuses the order; out of stock, a substitute goes out again or waits for approval.
    (S.PENDING, S.SUBMITTED): frozenset({_M, _C}),
    (S.PENDING, S.FAILED): frozenset({_M, _S}),
    (S.PENDING, S.PENDING): frozenset({_M}),
    (S.PENDING, S.AWAITING_APPROVAL): frozenset({_M}),
    (S.SUBMITTED, S.PENDING): frozenset({_C}),
    (S.CONFIRMED, S.PENDING): frozenset({_C}),
    (S.SUBMITTED, S.AWAITING_APPROVAL): frozenset({_C}),
    (S.CONFIRMED, S.AWAITING_APPROVAL): frozenset({_C}),
    # Progress, asked for on the shop's clock or reported by the shop (which may skip steps).
    (S.SUBMITTED, S.CONFIRMED): frozenset({_M, _C}),
    (S.SUBMITTED, S.SHIPPED): frozenset({_C}),
    (S.SUBMITTED, S.DELIVERED): frozenset({_C}),
    (S.CONFIRMED, S.SHIPPED): frozenset({_M, _C}),
    (S.CONFIRMED, S.DELIVERED): frozenset({_C}),
    (S.SHIPPED, S.DELIVERED): frozenset({_M, _C}),
    (S.SUBMITTED, S.CANCELLED): frozenset({_C}),
    (S.CONFIRMED, S.CANCELLED): frozenset({_C}),
    (S.SUBMITTED, S.FAILED): frozenset({_C, _S}),
    (S.CONFIRMED, S.FAILED): frozenset({_C, _S}),
    (S.RETURN_REQUESTED, S.RETURNED): frozenset({_M, _C}),
    # The scheduler fails an order whose shop is gone (pending above; submitted and confirmed with the shop's).
    (S.SHIPPED, S.FAILED): frozenset({_S}),
    (S.RETURN_REQUESTED, S.FAILED): frozenset({_S}),
}

# "Not delivered yet": order protection looks at these.
OPEN_STATUSES = frozenset({S.AWAITING_APPROVAL, S.PENDING, S.SUBMITTED, S.CONFIRMED, S.SHIPPED})
# The household can still take these back without asking the merchant.
CANCELLABLE_STATUSES = frozenset({S.AWAITING_APPROVAL, S.PENDING})
# Waiting for the household's yes (approve) or no (reject).
APPROVABLE_STATUSES = frozenset({S.AWAITING_APPROVAL})
# Spending that counts against the monthly cap: an order waiting for approval is not spent yet.
SPENDING_STATUSES = (OPEN_STATUSES - {S.AWAITING_APPROVAL}) | {S.DELIVERED}
# Nothing moves an order on from these.
FINAL_STATUSES = frozenset({S.CANCELLED, S.FAILED, S.RETURNED})
# The statuses whose timer (orders.due_at) the scheduler fires.
TIMED_STATUSES = frozenset({S.PENDING, S.SUBMITTED, S.CONFIRMED, S.SHIPPED, S.RETURN_REQUESTED, S.CANCELLED})
# Which request the shop gets for an order in each status; in the other timed statuses it is asked how the
# order got on (`advance`). A cancel is asked for only when it crossed a submission (see services.orders.cancel).
REQUESTS: Mapping[str, Request] = {
    S.PENDING: Request.ORDER,
    S.RETURN_REQUESTED: Request.RETURN,
    S.CANCELLED: Request.CANCEL,
}
# Which statuses each status (or out-of-stock step) a shop reports may follow; anything else is out of order.
CALLBACK_FROM: Mapping[str, frozenset[OrderStatus]] = {
    S.CONFIRMED: frozenset({S.SUBMITTED}),
    S.SHIPPED: frozenset({S.SUBMITTED, S.CONFIRMED}),
    S.DELIVERED: frozenset({S.SUBMITTED, S.CONFIRMED, S.SHIPPED}),
    S.CANCELLED: frozenset({S.SUBMITTED, S.CONFIRMED}),
    S.FAILED: frozenset({S.SUBMITTED, S.CONFIRMED}),
    Step.OUT_OF_STOCK: frozenset({S.SUBMITTED, S.CONFIRMED}),
    S.RETURNED: frozenset({S.RETURN_REQUESTED}),
}


_STATUSES = frozenset(OrderStatus)


def actor_of(actor: str) -> Actor:
    """The kind of a timeline actor name: ``device:<id>``, ``merchant:<name>``, ``scheduler`` / ``replenish``
    (the hub on its own), anything else a person or API key of the household."""
    kind = actor.partition(":")[0]
    if kind == "device":
        return Actor.DEVICE
    if kind == "merchant":
        return Actor.MERCHANT
    if actor in ("scheduler", "replenish"):
        return Actor.SCHEDULER
    return Actor.HOUSEHOLD


def allowed(current: str | None, target: str, actor: Actor) -> bool:
    """Whether `actor` may move an order from `current` (None: a new order) to `target`."""
    if (current is not None and current not in _STATUSES) or target not in _STATUSES:
        return False
    source = OrderStatus(current) if current is not None else None
    return actor in TRANSITIONS.get((source, OrderStatus(target)), frozenset())


def check(current: str | None, target: str, actor: Actor) -> None:
    """Raise TransitionError unless `actor` may move an order from `current` to `target`."""
    if not allowed(current, target, actor):
        raise TransitionError(f"{actor} cannot move an order from {current} to {target}")
