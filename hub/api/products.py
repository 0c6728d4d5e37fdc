"""The catalog as the caller's household sees it."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import CallerDep, SessionDep, not_found
from hub.api.errors import errors
from hub.api.presenters import product_out
from hub.api.schemas import ProductIdPath, ProductOut
from hub.store import repos

router = APIRouter(prefix="/api/v1/products", tags=["products"], responses=errors(401))


@router.get("", response_model=list[ProductOut])
def list_products(caller: CallerDep, session: SessionDep) -> list[ProductOut]:
    """The shared merchant catalog plus the household's own products."""
    return [product_out(session, p) for p in repos.visible_products(session, caller.household_id)]


@router.get("/{product_id}", response_model=ProductOut, responses=errors(404, 422))
def get_product(product_id: ProductIdPath, caller: CallerDep, session: SessionDep) -> ProductOut:
    """One product."""
    product = repos.visible_product(session, caller.household_id, product_id)
    if product is None:
        raise not_found(f"product {product_id}")
    return product_out(session, product)
