"""Cart service: one shared cart per household. Callers commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from hub.services.orders import LineRequest, OrderError, create_order
from hub.store import repos
from hub.store.batch import Writer, writer_of
from hub.store.models import CartLine, Household, Order, Product

MAX_QTY = 999


def add(session: Session | Writer, household_id: int, product: Product, qty: int, now: datetime) -> CartLine:
    """Add `qty` of a product; repeated adds merge into one line (also with a line added earlier in ingest's
    batch, which is why it takes a writer as well as a session)."""
    assert product.id is not None
    to = writer_of(session)
    line = to.cart_line(household_id, product.id)
    if line is None:
        line = CartLine(household_id=household_id, product_id=product.id, qty=0)
    line.qty = min(MAX_QTY, line.qty + qty)
    line.updated_at = now
    to.add(line)
    return line


def set_qty(session: Session, household_id: int, product: Product, qty: int, now: datetime) -> CartLine | None:
    """Set a line's quantity; 0 removes it."""
    assert product.id is not None
    line = repos.cart_line(session, household_id, product.id)
    if qty <= 0:
        if line is not None:
            session.delete(line)
        return None
    if line is None:
        line = CartLine(household_id=household_id, product_id=product.id, qty=qty)
    line.qty = min(MAX_QTY, qty)
    line.updated_at = now
    session.add(line)
    return line


def checkout(session: Session, household: Household, actor: str, now: datetime) -> Order:
    """Turn the cart into one order (same cancel window and limits as a press) and empty it."""
    assert household.id is not None
    lines = repos.cart(session, household.id)
    if not lines:
        raise OrderError("the cart is empty")
    requests = []
    for line in lines:
        product = repos.visible_product(session, household.id, line.product_id)
        if product is None:
            raise OrderError(f"product {line.product_id} is no longer available")
        requests.append(LineRequest(product=product, qty=line.qty))
    order = create_order(session, household, requests, source="cart", actor=actor, now=now)
    for line in lines:
        session.delete(line)
    return order
