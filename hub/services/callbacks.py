"""Shop callbacks: a verified status change from a webhook shop, applied once and only in order. Callers commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from hub.domain.lifecycle import CALLBACK_FROM, Actor, OrderStatus, Step
from hub.merchants.base import Transition
from hub.services.fulfilment import apply_transition, out_of_stock
from hub.store import repos
from hub.store.models import MerchantAccount, MerchantCallback, Order, Product


class CallbackError(Exception):
    """A merchant callback that is refused; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Callback:
    """A status change reported by a shop."""

    event_id: str
    order_id: str
    status: str
    tracking: str | None = None
    carrier: str | None = None
    reason: str | None = None
    substitute_sku: str | None = None
    substitute_name: str | None = None
    substitute_price: int | None = None


def apply_callback(session: Session, account: MerchantAccount, callback: Callback, now: datetime) -> Order:
    """Apply a verified shop callback once; a replayed event id or an out-of-order status is refused."""
    order = repos.lock_order(session, callback.order_id)
    if order is None or order.household_id != account.household_id or order.merchant != account.name:
        raise CallbackError(f"order {callback.order_id} not found", 404)
    if repos.merchant_callback(session, account.name, callback.event_id) is not None:
        raise CallbackError(f"event {callback.event_id} was already applied", 409)
    allowed = CALLBACK_FROM.get(callback.status)
    if allowed is None:
        raise CallbackError(f"unknown status {callback.status}", 422)
    actor = f"merchant:{account.name}"
    if order.status == OrderStatus.PENDING and order.attempts > 0 and OrderStatus.SUBMITTED in allowed:
        # The shop answered through the callback before its answer to our request arrived: it has the order.
        order.attempts = 0
        submitted = Transition(OrderStatus.SUBMITTED, note="reported by the shop")
        apply_transition(session, order, submitted, now, actor, Actor.CALLBACK)
    if order.status not in allowed:
        raise CallbackError(f"order {order.id} is {order.status} and cannot become {callback.status}", 409)
    session.add(MerchantCallback(merchant=account.name, event_id=callback.event_id, order_id=order.id,
                                 status=callback.status, received_at=now))
    if callback.status == Step.OUT_OF_STOCK:
        offered = _offered_product(session, account, callback)
        why = f"out_of_stock: {callback.reason or 'reported by the shop'}"
        out_of_stock(session, order, offered, actor, now, why, Actor.CALLBACK)
    elif callback.status == OrderStatus.SHIPPED:
        order.carrier = (callback.carrier or "")[:40] or None
        note = " ".join(x for x in (callback.carrier, callback.tracking) if x) or None
        step = Transition(OrderStatus.SHIPPED, tracking=callback.tracking, note=note)
        apply_transition(session, order, step, now, actor, Actor.CALLBACK)
    elif callback.status == OrderStatus.FAILED:
        reason = callback.reason or "failed"
        step = Transition(OrderStatus.FAILED, note=reason if ":" in reason else f"{reason}: reported by the shop")
        apply_transition(session, order, step, now, actor, Actor.CALLBACK)
    else:
        apply_transition(session, order, Transition(callback.status, note=callback.reason), now, actor, Actor.CALLBACK)
    return order


def _offered_product(session: Session, account: MerchantAccount, callback: Callback) -> Product | None:
    """The shop's suggested substitute as a product of the household's catalog (created on first sight)."""
    if not callback.substitute_sku or not callback.substitute_name or callback.substitute_price is None:
        return None
    product = repos.product_by_sku(session, account.name, callback.substitute_sku)
    if product is None:
        household = repos.household(session, account.household_id)
        product = Product(household_id=account.household_id, merchant=account.name, sku=callback.substitute_sku,
                          name=callback.substitute_name, price=callback.substitute_price,
                          currency=household.currency if household else "EUR")
        session.add(product)
        session.flush()
    else:
        # The shop's latest word on the price counts: it is what the household will pay.
        product.price = callback.substitute_price
        session.add(product)
    return product
