"""The household's shared cart: list, change, remove, check out."""

from __future__ import annotations

from fastapi import APIRouter, status

from hub.api.deps import CallerDep, ClockDep, SessionDep, conflict, not_found
from hub.api.errors import BODY, errors
from hub.api.presenters import cart_out, order_detail
from hub.api.schemas import CartOut, CartQty, OrderDetail, ProductIdPath
from hub.services import cart_actions
from hub.services import orders as order_service
from hub.store import repos

router = APIRouter(prefix="/api/v1/cart", tags=["cart"], responses=errors(401))


@router.get("", response_model=CartOut)
def get_cart(caller: CallerDep, session: SessionDep) -> CartOut:
    """The cart with line totals."""
    return cart_out(session, caller.household)


@router.put("/{product_id}", response_model=CartOut, responses=errors(404, *BODY))
def set_line(
    product_id: ProductIdPath, body: CartQty, caller: CallerDep, session: SessionDep, clock: ClockDep
) -> CartOut:
    """Set a product's quantity in the cart (0 removes it)."""
    product = repos.visible_product(session, caller.household_id, product_id)
    if product is None:
        raise not_found(f"product {product_id}")
    cart_actions.set_qty(session, caller.household_id, product, body.qty, clock.now())
    return cart_out(session, caller.household)


@router.delete("/{product_id}", response_model=CartOut, responses=errors(404, 422))
def remove_line(product_id: ProductIdPath, caller: CallerDep, session: SessionDep, clock: ClockDep) -> CartOut:
    """Remove a product from the cart."""
    if repos.cart_line(session, caller.household_id, product_id) is None:
        raise not_found(f"product {product_id} in the cart")
    cart_actions.remove(session, caller.household_id, repos.visible_product(session, caller.household_id, product_id),
                        clock.now())
    return cart_out(session, caller.household)


@router.post("/checkout", response_model=OrderDetail, status_code=status.HTTP_201_CREATED, responses=errors(409))
def checkout(caller: CallerDep, session: SessionDep, clock: ClockDep) -> OrderDetail:
    """Turn the cart into an order with the same cancel window and limits as a press."""
    try:
        order = cart_actions.checkout(session, caller.household, caller.actor, clock.now())
    except order_service.OrderError as exc:
        raise conflict(str(exc)) from None
    return order_detail(session, order)
