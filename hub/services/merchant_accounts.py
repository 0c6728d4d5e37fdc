"""A household's own webhook shops and their products, as the API manages them. Each function commits."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.merchants.base import BUILT_IN
from hub.services.transaction import committed
from hub.store import repos
from hub.store.models import MerchantAccount, Product


class MerchantConflictError(Exception):
    """The name or SKU is taken; the message says which."""


def add_merchant(session: Session, household_id: int, name: str, url: str, secret: str) -> MerchantAccount:
    """Add a shop reached over HTTP; its name is global (it labels its products and callbacks)."""
    taken = MerchantConflictError(f"merchant name {name} is taken")
    if name in BUILT_IN or repos.merchant_account(session, name) is not None:
        raise taken
    account = MerchantAccount(household_id=household_id, name=name, url=url, secret=secret)
    try:
        with committed(session):
            session.add(account)
    except IntegrityError:  # another request took the name between the check and the insert
        raise taken from None
    return account


def remove_merchant(session: Session, account: MerchantAccount) -> None:
    """Stop using a shop; its orders stay, and new orders of its products fail with no_merchant."""
    with committed(session):
        account.active = False
        session.add(account)


def add_product(
    session: Session, household_id: int, account: MerchantAccount, sku: str, name: str, price: int, currency: str
) -> Product:
    """Add a product of the household's shop to its catalog, so buttons can be bound to it."""
    if repos.product_by_sku(session, account.name, sku) is not None:
        raise MerchantConflictError(f"{account.name} already has a product {sku}")
    product = Product(household_id=household_id, merchant=account.name, sku=sku, name=name, price=price,
                      currency=currency)
    with committed(session):
        session.add(product)
    return product
