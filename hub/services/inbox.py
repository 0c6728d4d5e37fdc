"""Inbox of unknown barcodes: map one to a product once (its scans go to the cart), or dismiss it.

`map_gtin`, `create_product` and `dismiss` are use cases: they commit, or roll back and raise InboxError.

The web dashboard (by GTIN) and the REST API (by entry id) call the same functions here, so both behave
identically. Mappings made here belong to the household (`ProductGtin.household_id`): a barcode one
household maps never changes what it means for another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.services import cart as cart_service
from hub.services import catalog as catalog_service
from hub.services.transaction import committed
from hub.store import repos
from hub.store.models import CartLine, InboxEntry, Product, ProductGtin


class InboxError(Exception):
    """An inbox operation that cannot be done; the message says why."""


class EntryNotFoundError(InboxError):
    """The barcode is not waiting in this household's inbox."""


class ProductNotFoundError(InboxError):
    """The chosen product does not exist or the household cannot see it."""


class MappingConflictError(InboxError):
    """The barcode or the SKU already belongs to something else."""


class MerchantNotFoundError(InboxError):
    """The merchant is neither built in nor one of the household's shops."""


@dataclass(frozen=True)
class NewProduct:
    """What a household tells us about an unknown barcode to make it a product of its own."""

    name: str
    price: int
    currency: str
    pack_size: float = 1.0
    unit: str = "piece"
    sku: str | None = None
    merchant: str = "demo"


def _open_entry(session: Session, household_id: int, gtin: str) -> InboxEntry:
    entry = repos.inbox_entry(session, household_id, gtin)
    if entry is None or entry.resolved:
        raise EntryNotFoundError(f"barcode {gtin} is not waiting in the inbox")
    return entry


def _claim_gtin(session: Session, household_id: int, gtin: str, product: Product) -> None:
    """Map the GTIN to the product for this household, unless the household already sees it elsewhere."""
    assert product.id is not None
    existing = repos.gtin_mapping(session, household_id, gtin)
    if existing is None:
        session.add(ProductGtin(gtin=gtin, product_id=product.id, household_id=household_id))
        return
    if existing.product_id == product.id:
        return
    # Only mappings this household can see are found here, so naming the product leaks nothing.
    other = repos.visible_product(session, household_id, existing.product_id)
    name = other.name if other is not None else f"product {existing.product_id}"
    raise MappingConflictError(f"this barcode already belongs to {name}")


def map_gtin(session: Session, household_id: int, gtin: str, product_id: int, now: datetime) -> CartLine | None:
    """Map an unknown barcode to a product the household can see and move its scans into the cart."""
    with committed(session):
        entry = _open_entry(session, household_id, gtin)
        product = repos.visible_product(session, household_id, product_id)
        if product is None:
            raise ProductNotFoundError("choose a product from the list")
        _claim_gtin(session, household_id, gtin, product)
        line = _move_to_cart(session, household_id, entry, product, now)
    return line


def create_product(
    session: Session, household_id: int, gtin: str, spec: NewProduct, now: datetime
) -> tuple[Product, CartLine | None]:
    """Create a household-private product for an unknown barcode, map it and move its scans into the cart."""
    with committed(session):
        return _create_product(session, household_id, gtin, spec, now)


def _create_product(
    session: Session, household_id: int, gtin: str, spec: NewProduct, now: datetime
) -> tuple[Product, CartLine | None]:
    entry = _open_entry(session, household_id, gtin)
    try:
        catalog_service.check_merchant(session, household_id, spec.merchant)
    except catalog_service.UnknownMerchantError:
        raise MerchantNotFoundError(f"merchant {spec.merchant} not found") from None
    # SKUs are unique per merchant across all catalogs; a generated one cannot collide with a real one.
    sku = spec.sku or f"h{household_id}-{gtin}"
    if repos.product_by_sku(session, spec.merchant, sku) is not None:
        raise MappingConflictError(f"SKU {sku!r} is already used in the catalog; choose another one")
    product = Product(
        household_id=household_id,
        merchant=spec.merchant,
        sku=sku,
        name=spec.name,
        price=spec.price,
        currency=spec.currency,
        pack_size=spec.pack_size,
        unit=spec.unit,
    )
    session.add(product)
    try:
        session.flush()
    except IntegrityError:
        # A concurrent request took the SKU between the check and the insert.
        raise MappingConflictError(f"SKU {sku!r} is already used in the catalog; choose another one") from None
    _claim_gtin(session, household_id, gtin, product)
    line = _move_to_cart(session, household_id, entry, product, now)
    session.flush()
    return product, line


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
    with committed(session):
        entry = _open_entry(session, household_id, gtin)
        entry.count = 0
        entry.resolved = True
        session.add(entry)


def record_lookup(session: Session, gtin: str, status: str, suggestion: str | None, detail: str) -> int:
    """Store a name lookup's outcome on every open inbox entry of the GTIN; returns how many were updated."""
    entries = repos.open_inbox_entries(session, gtin)
    for entry in entries:
        entry.lookup_status = status
        entry.suggestion = suggestion[:200] if suggestion else None
        entry.lookup_detail = detail[:200] or None
        session.add(entry)
    return len(entries)
