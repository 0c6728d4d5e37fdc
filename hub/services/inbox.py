"""Inbox of unknown barcodes: map one to a product once (its scans go to the cart), or dismiss it. Callers commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from hub.services import cart as cart_service
from hub.store import repos
from hub.store.models import CartLine, InboxEntry, Product, ProductGtin


class InboxError(Exception):
    """An inbox operation that cannot be done; the message says why."""


def _open_entry(session: Session, household_id: int, gtin: str) -> InboxEntry:
    entry = repos.inbox_entry(session, household_id, gtin)
    if entry is None or entry.resolved:
        raise InboxError(f"barcode {gtin} is not waiting in the inbox")
    return entry


def map_gtin(session: Session, household_id: int, gtin: str, product_id: int, now: datetime) -> CartLine | None:
    """Map an unknown barcode to a product the household can see and move its scans into the cart."""
    entry = _open_entry(session, household_id, gtin)
    product = repos.visible_product(session, household_id, product_id)
    if product is None:
        raise InboxError("choose a product from the list")
    existing = session.get(ProductGtin, gtin)
    if existing is None:
        # Mapping is global (ProductGtin is keyed by GTIN alone): a barcode names one product for every
        # household, which is what a barcode is; "once mapped, it stays mapped" (DESIGN §4).
        session.add(ProductGtin(gtin=gtin, product_id=product.id or 0))
    elif existing.product_id != product.id:
        other = repos.visible_product(session, household_id, existing.product_id)
        if other is not None:
            raise InboxError(f"this barcode already belongs to {other.name}")
        # Another household's private product holds the code; name nothing about it.
        raise InboxError("this barcode is already used by a product you cannot see")
    line = _move_to_cart(session, household_id, entry, product, now)
    session.flush()
    return line


def _move_to_cart(
    session: Session, household_id: int, entry: InboxEntry, product: Product, now: datetime
) -> CartLine | None:
    line = cart_service.add(session, household_id, product, entry.count, now) if entry.count > 0 else None
    # The scans now live in the cart; a later scan is known and goes there directly.
    entry.count = 0
    entry.resolved = True
    session.add(entry)
    return line


def dismiss(session: Session, household_id: int, gtin: str) -> None:
    """Drop an unknown barcode from the inbox without mapping it (a new scan brings it back)."""
    entry = _open_entry(session, household_id, gtin)
    entry.count = 0
    entry.resolved = True
    session.add(entry)
