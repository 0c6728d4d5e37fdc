"""Catalog import: validated CSV rows into products and GTIN mappings, all or nothing.

Scope: `household_id` None writes the shared merchant catalog (the CLI, an operator's job); a household id
writes that household's own catalog (the API: a household must not change what others see). The merchant
must fit the scope: a built-in one, or one of the household's own shops (never another household's, whose
secret would sign this household's orders); the shared catalog takes no household's shop. Products are
upserted by (merchant, SKU); listed GTINs are added to the product in the same scope, existing ones are
kept (a file never silently unmaps a barcode households scan). This service owns its transaction: it
commits only when every row went in, and rolls back on any problem or on a dry run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.domain.catalog import CatalogParse, ProductRow, RowError
from hub.merchants.base import BUILT_IN
from hub.merchants.catalog import seed_demo_catalog
from hub.services.transaction import committed
from hub.store import repos
from hub.store.models import Product, ProductGtin

MERCHANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")

Progress = Callable[[int, int], None]


class CatalogImportError(ValueError):
    """The import cannot start (bad merchant or scope); row problems are reported, not raised."""


class UnknownMerchantError(CatalogImportError):
    """The merchant is not one this catalog scope may use (APIs answer it like a missing one: 404)."""


def check_merchant(session: Session, household_id: int | None, merchant: str) -> None:
    """Raise UnknownMerchantError unless products of `merchant` may go into this catalog scope."""
    if merchant in BUILT_IN:
        return
    if household_id is None:
        # Every household orders from the shared catalog: one household's shop must not get their orders.
        if repos.merchant_account(session, merchant) is not None:
            raise UnknownMerchantError(
                f"merchant {merchant} is a household's own shop: import into that household's catalog"
            )
        return
    account = repos.household_merchant(session, household_id, merchant)
    if account is None or not account.active:
        raise UnknownMerchantError(f"merchant {merchant} is neither built in nor a shop of household {household_id}")


@dataclass
class ImportResult:
    """What an import did (or, with errors or on a dry run, would have done)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    gtins_added: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when every row is valid and fits the catalog."""
        return not self.errors

    @property
    def written(self) -> bool:
        """True when the rows were committed."""
        return self.ok and not self.dry_run


def import_catalog(
    session: Session,
    parsed: CatalogParse,
    *,
    merchant: str = "demo",
    household_id: int | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import parsed catalog rows in one transaction; commits only if no row has a problem."""
    if not MERCHANT.fullmatch(merchant):
        raise CatalogImportError(f"merchant must be 1 to 40 of a-z, 0-9, '-', '_', got {merchant[:40]!r}")
    if household_id is not None and repos.household(session, household_id) is None:
        raise CatalogImportError(f"household {household_id} does not exist")
    check_merchant(session, household_id, merchant)
    result = ImportResult(rows=len(parsed.rows), dry_run=dry_run, errors=list(parsed.errors))
    if parsed.errors:
        # Nothing is written for a file with errors, so its rows need no database checks either.
        return result
    total = len(parsed.rows)
    try:
        for done, row in enumerate(parsed.rows, start=1):
            _upsert(session, row, merchant, household_id, result)
            if progress is not None:
                progress(done, total)
        session.flush()
    except IntegrityError:
        # The checks above make this a concurrent writer (another import, an inbox mapping) racing us.
        session.rollback()
        result.errors.append(RowError(1, None, "the catalog changed during the import; nothing imported, try again"))
        return result
    if result.written:
        session.commit()
    else:
        session.rollback()
    return result


def _upsert(session: Session, row: ProductRow, merchant: str, household_id: int | None, result: ImportResult) -> None:
    existing = repos.product_by_sku(session, merchant, row.sku)
    if existing is not None and existing.household_id != household_id:
        # SKUs are unique per merchant across every catalog; say whose without naming another household.
        owner = "the shared catalog" if existing.household_id is None else "another household's catalog"
        result.errors.append(RowError(row.line, "sku", f"sku {row.sku!r} already belongs to {owner}"))
        return
    if existing is None:
        product = Product(
            household_id=household_id,
            merchant=merchant,
            sku=row.sku,
            name=row.name,
            price=row.price.amount_minor,
            currency=row.price.currency,
            pack_size=float(row.pack_size),
            unit=row.unit,
            stock=row.stock,
        )
        session.add(product)
        session.flush()
        result.created += 1
    else:
        product = existing
        before = (product.name, product.price, product.currency, product.pack_size, product.unit, product.stock)
        product.name, product.price, product.currency = row.name, row.price.amount_minor, row.price.currency
        product.pack_size, product.unit = float(row.pack_size), row.unit
        if row.stock is not None:
            # An empty stock cell means "not stated", so the merchant's last figure stays.
            product.stock = row.stock
        after = (product.name, product.price, product.currency, product.pack_size, product.unit, product.stock)
        if after != before:
            session.add(product)
            result.updated += 1
        else:
            result.unchanged += 1
    assert product.id is not None
    for gtin in row.gtins:
        mapping = repos.scoped_gtin_mapping(session, household_id, gtin.digits)
        if mapping is None:
            session.add(ProductGtin(gtin=gtin.digits, product_id=product.id, household_id=household_id))
            result.gtins_added += 1
        elif mapping.product_id != product.id:
            other = session.get(Product, mapping.product_id)
            what = f"sku {other.sku!r} ({other.name})" if other is not None else f"product {mapping.product_id}"
            result.errors.append(RowError(row.line, "gtins", f"gtin {gtin.digits} already belongs to {what}"))


def seed_demo_store(session: Session) -> int:
    """Give the demo store its catalog when it has none yet, and commit; how many products were added."""
    with committed(session):
        return seed_demo_catalog(session)
