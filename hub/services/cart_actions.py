"""The household's shared cart as the API and the dashboard change it: each function is one committed use case.

hub.services.cart holds the rules (merging lines, the quantity cap, checkout into one order) for every caller,
ingest's scans included, and leaves the commit to them; these commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from hub.services import cart
from hub.services.transaction import committed
from hub.store.models import CartLine, Household, Order, Product


def add(session: Session, household_id: int, product: Product, qty: int, now: datetime) -> CartLine:
    """Put `qty` of a product into the cart (merged with its line, if any)."""
    with committed(session):
        return cart.add(session, household_id, product, qty, now)


def set_qty(session: Session, household_id: int, product: Product, qty: int, now: datetime) -> CartLine | None:
    """Set a line's quantity; 0 removes it."""
    with committed(session):
        return cart.set_qty(session, household_id, product, qty, now)


def remove(session: Session, household_id: int, product: Product | None, now: datetime) -> None:
    """Take a product out of the cart (a line whose product the household can no longer see stays as it is)."""
    with committed(session):
        if product is not None:
            cart.set_qty(session, household_id, product, 0, now)


def checkout(session: Session, household: Household, actor: str, now: datetime) -> Order:
    """Turn the cart into one order with the household's cancel window and limits, and empty it; OrderError
    (nothing written) when the cart is empty or a product is gone or a limit refuses it."""
    with committed(session):
        return cart.checkout(session, household, actor, now)
