"""Press rules (DESIGN §4): what a button press becomes, decided on plain values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.domain.lifecycle import OrderStatus


class Mode(StrEnum):
    """What a binding does with a press."""

    ORDER = "order"
    CART = "cart"
    APPROVE = "approve"


@dataclass(frozen=True)
class Limits:
    """A household's spending controls; amounts in minor units of the household currency."""

    per_order_cap: int | None = None
    monthly_cap: int | None = None
    price_tolerance_pct: int = 10


@dataclass(frozen=True)
class OrderCheck:
    """Whether a new order may go out after its cancel window or must wait for approval."""

    status: OrderStatus
    reason: str | None = None


def check_order(
    total: int,
    unit_price: int,
    bound_unit_price: int | None,
    spent_this_month: int,
    limits: Limits,
    mode: Mode,
) -> OrderCheck:
    """Decide pending vs awaiting approval for a new order of `total` minor units."""
    if mode is Mode.APPROVE:
        return OrderCheck(OrderStatus.AWAITING_APPROVAL, "approval_mode")
    if bound_unit_price is not None and bound_unit_price > 0:
        # Integer arithmetic: a rise of exactly the tolerance is still accepted.
        if unit_price * 100 > bound_unit_price * (100 + limits.price_tolerance_pct):
            return OrderCheck(OrderStatus.AWAITING_APPROVAL, "price_rise")
    if limits.per_order_cap is not None and total > limits.per_order_cap:
        return OrderCheck(OrderStatus.AWAITING_APPROVAL, "order_cap")
    if limits.monthly_cap is not None and spent_this_month + total > limits.monthly_cap:
        return OrderCheck(OrderStatus.AWAITING_APPROVAL, "month_cap")
    return OrderCheck(OrderStatus.PENDING)


class PressAction(StrEnum):
    """What the hub does for a press."""

    CREATE_ORDER = "create_order"
    ADD_TO_CART = "add_to_cart"
    DUPLICATE = "duplicate"
    CANCEL = "cancel"
    NOTHING_TO_CANCEL = "nothing_to_cancel"
    REJECT = "reject"


@dataclass(frozen=True)
class PressDecision:
    """The decision for one press, before limits are applied to a new order."""

    action: PressAction
    reason: str | None = None


def decide_press(
    click: str,
    bound: bool,
    mode: Mode | None,
    open_order_exists: bool,
    cancellable_order_exists: bool,
    allow_multiple_orders: bool,
) -> PressDecision:
    """Turn a click into an action given the button's binding and its open orders."""
    if click == "long":
        if cancellable_order_exists:
            return PressDecision(PressAction.CANCEL)
        return PressDecision(PressAction.NOTHING_TO_CANCEL)
    if not bound or mode is None:
        return PressDecision(PressAction.REJECT, "unbound")
    if mode is Mode.CART:
        return PressDecision(PressAction.ADD_TO_CART)
    if open_order_exists and not allow_multiple_orders:
        return PressDecision(PressAction.DUPLICATE, "protected")
    return PressDecision(PressAction.CREATE_ORDER)
