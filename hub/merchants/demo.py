"""The built-in demo store: a catalog with stock that confirms, ships and delivers on a clock."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from hub.domain.lifecycle import OrderStatus
from hub.merchants.base import OutOfStock, Progress, Transition
from hub.store.models import Order, OrderLine, Product


class DemoMerchant:
    """Stock lives in the product table; each step takes `step` (configurable for demos and tests)."""

    name = "demo"

    def __init__(self, step: timedelta) -> None:
        self.step = step

    def submit(self, session: Session, order: Order, lines: Sequence[OrderLine], now: datetime) -> Progress:
        """Reserve stock for every line, or fail the whole order with the reason."""
        products = [(line, session.get(Product, line.product_id)) for line in lines]
        for line, product in products:
            if product is None:
                return Transition(OrderStatus.FAILED, note=f"product {line.product_id} no longer sold")
            if product.stock is not None and product.stock < line.qty:
                return OutOfStock(f"out_of_stock: {product.name} ({product.stock} left)")
        for line, product in products:
            if product is not None and product.stock is not None:
                product.stock -= line.qty
                session.add(product)
        # Its clock is the promise: confirmed, shipped and delivered one step apart.
        return Transition(OrderStatus.SUBMITTED, due_at=now + self.step, merchant_ref=f"demo-{order.id}",
                          expected_delivery=now + 3 * self.step)

    def cancel(self, session: Session, order: Order, now: datetime) -> Progress:
        """Nothing to tell: the demo store only takes an order when its cancel window is over."""
        return None

    def return_(self, session: Session, order: Order, now: datetime) -> Progress:
        """The demo store takes every return back at once; its stock is not restocked."""
        return Transition(OrderStatus.RETURNED, note="return accepted by the demo store")

    def advance(self, session: Session, order: Order, now: datetime) -> Progress:
        """submitted → confirmed → shipped (tracking number) → delivered."""
        if order.status == OrderStatus.SUBMITTED:
            return Transition(OrderStatus.CONFIRMED, due_at=now + self.step)
        if order.status == OrderStatus.CONFIRMED:
            tracking = "DM" + hashlib.sha256(order.id.encode()).hexdigest()[:10].upper()
            return Transition(OrderStatus.SHIPPED, due_at=now + self.step, tracking=tracking)
        if order.status == OrderStatus.SHIPPED:
            return Transition(OrderStatus.DELIVERED)
        return None
