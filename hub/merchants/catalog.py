"""The demo store's catalog: real-looking household products with GTINs, prices and stock."""

from __future__ import annotations

from sqlmodel import Session

from hub.store import repos
from hub.store.models import Product, ProductGtin

# (sku, name, price in cents, pack size, unit, stock, gtins)
DEMO_PRODUCTS: tuple[tuple[str, str, int, float, str, int, tuple[str, ...]], ...] = (
    ("COF-1KG", "Coffee beans 1 kg", 1299, 1000, "g", 500, ("04006381333931",)),
    ("DET-2L", "Laundry detergent 2 l (40 loads)", 1149, 40, "count", 500, ("05449000000996",)),
    ("DSH-500", "Dish soap 500 ml", 199, 500, "ml", 500, ("00036000291452",)),
    ("FLT-3", "Water filter cartridges, 3 pack", 2499, 3, "piece", 200, ("00000096385074",)),
    ("TP-24", "Toilet paper, 24 rolls", 1099, 24, "piece", 300, ()),
    ("DTB-60", "Dishwasher tablets, 60 pack", 1399, 60, "count", 300, ()),
    ("PAP-6", "Paper towels, 6 rolls", 699, 6, "piece", 0, ()),
)


def seed_demo_catalog(session: Session) -> int:
    """Add the demo products that are missing; returns how many were added. Caller commits."""
    added = 0
    for sku, name, price, pack_size, unit, stock, gtins in DEMO_PRODUCTS:
        if repos.product_by_sku(session, "demo", sku) is not None:
            continue
        product = Product(sku=sku, name=name, price=price, pack_size=pack_size, unit=unit, stock=stock)
        session.add(product)
        session.flush()
        assert product.id is not None
        for gtin in gtins:
            session.add(ProductGtin(gtin=gtin, product_id=product.id))
        added += 1
    return added
