"""Orders (list, detail with timeline, cancel / approve / reject) and the shared cart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from hub.api.deps import ClockDep, SessionDep
from hub.services import cart as cart_service
from hub.services import cart_actions, order_actions
from hub.services import orders as order_service
from hub.store import repos
from hub.store.models import Order
from hub.web import views
from hub.web.forms import Form as Fields
from hub.web.render import back_to_form, page
from hub.web.session import FormUserDep, WebError, WebUser, WebUserDep

router = APIRouter(prefix="/web", include_in_schema=False)

ACTIONS: dict[str, tuple[Callable[[Session, Order, str, datetime], None], str]] = {
    "cancel": (order_actions.cancel, "cancelled"),
    "approve": (order_actions.approve, "approved"),
    "reject": (order_actions.reject, "rejected"),
}


def _own_order(session: Session, user: WebUser, order_id: str) -> Order:
    order = repos.household_order(session, user.household_id, order_id)
    if order is None:
        # Same answer for "does not exist" and "another household's", so order ids leak nothing.
        raise WebError(404, "There is no such order in your household.")
    return order


@router.get("/orders", response_class=HTMLResponse)
def orders_page(request: Request, user: WebUserDep, session: SessionDep) -> HTMLResponse:
    """The household's orders, newest first."""
    orders = list(repos.household_orders(session, user.household_id, limit=100))
    return page(
        request, "orders.html", user, orders=views.order_views(session, orders),
        device_names=views.device_names(session, user.household_id),
    )


def _order_page(
    request: Request, user: WebUser, session: Session, order: Order, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    view = views.order_views(session, [order])[0]
    return page(
        request, "order.html", user, status_code=status_code, view=view, error=error,
        timeline=views.timeline(session, user.household_id, order.id),
        device_names=views.device_names(session, user.household_id),
    )


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(order_id: str, request: Request, user: WebUserDep, session: SessionDep) -> HTMLResponse:
    """One order: lines, status timeline, and the cancel countdown or approval buttons."""
    return _order_page(request, user, session, _own_order(session, user, order_id))


@router.post("/orders/{order_id}/{action}")
def order_action(
    order_id: str,
    action: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    clock: ClockDep,
    back: Annotated[str, Form()] = "",
) -> Response:
    """Cancel inside the window, approve / reject an order waiting for approval, or order the same again."""
    if action == "again":
        return _order_again(request, user, session, clock.now(), _own_order(session, user, order_id))
    if action not in ACTIONS:
        raise WebError(404, "Unknown order action.")
    order = _own_order(session, user, order_id)
    apply, done = ACTIONS[action]
    try:
        apply(session, order, user.caller.actor, clock.now())
    except order_service.OrderError as exc:
        return back_to_form(request, user, f"/web/orders/{order_id}", error=f"Could not {action} this order: {exc}.")
    target = "/web/orders" if back == "list" else f"/web/orders/{order_id}"
    return RedirectResponse(f"{target}?done={done}", status_code=303)


def _order_again(request: Request, user: WebUser, session: Session, now: datetime, order: Order) -> Response:
    try:
        again = order_actions.order_again(session, user.caller.household, order, user.caller.actor, now)
    except order_service.OrderError as exc:
        return back_to_form(request, user, f"/web/orders/{order.id}", error=f"Could not order this again: {exc}.")
    return RedirectResponse(f"/web/orders/{again.id}?done=ordered_again", status_code=303)


def _cart_page(
    request: Request,
    user: WebUser,
    session: Session,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lines = views.cart_views(session, user.household_id)
    return page(
        request, "cart.html", user, status_code=status_code, lines=lines, total=sum(v.total for v in lines),
        currency=user.caller.household.currency, products=list(repos.visible_products(session, user.household_id)),
        error=error, errors=errors or {}, values=values or {},
    )


@router.get("/cart", response_class=HTMLResponse)
def cart_page(request: Request, user: WebUserDep, session: SessionDep) -> HTMLResponse:
    """The shared cart: change quantities, remove, add, check out."""
    return _cart_page(request, user, session)


@router.post("/cart/add")
def cart_add(
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    clock: ClockDep,
    product_id: Annotated[str, Form()] = "",
    qty: Annotated[str, Form()] = "1",
) -> Response:
    """Put a product into the cart."""
    fields = Fields({"product_id": product_id, "qty": qty})
    pid = fields.integer("product_id", "Product", 1, 2**31 - 1)
    count = fields.integer("qty", "Quantity", 1, cart_service.MAX_QTY)
    product = repos.visible_product(session, user.household_id, pid) if pid is not None else None
    if product is None:
        fields.errors["product_id"] = "Choose a product from the list."
    if not fields.ok or product is None or count is None:
        return back_to_form(request, user, "/web/cart", errors=fields.errors, values=fields.values)
    cart_actions.add(session, user.household_id, product, count, clock.now())
    return RedirectResponse("/web/cart?done=cart_added", status_code=303)


@router.post("/cart/{product_id}")
def cart_set(
    product_id: int,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    clock: ClockDep,
    qty: Annotated[str, Form()] = "",
    remove: Annotated[str, Form()] = "",
) -> Response:
    """Change a line's quantity (0 or the remove button takes it out)."""
    if repos.cart_line(session, user.household_id, product_id) is None:
        raise WebError(404, "That product is not in your cart any more.")
    product = repos.visible_product(session, user.household_id, product_id)
    if product is None:
        raise WebError(404, "That product is not available any more.")
    fields = Fields({f"qty-{product_id}": "0" if remove else qty})
    count = fields.integer(f"qty-{product_id}", "Quantity", 0, cart_service.MAX_QTY)
    if count is None:
        return back_to_form(request, user, "/web/cart", errors=fields.errors, values=fields.values)
    cart_actions.set_qty(session, user.household_id, product, count, clock.now())
    return RedirectResponse(f"/web/cart?done={'cart_removed' if count == 0 else 'cart_updated'}", status_code=303)


@router.post("/checkout")
def checkout(request: Request, user: FormUserDep, session: SessionDep, clock: ClockDep) -> Response:
    """Turn the cart into one order with the household's cancel window and limits."""
    try:
        order = cart_actions.checkout(session, user.caller.household, user.caller.actor, clock.now())
    except order_service.OrderError as exc:
        return back_to_form(request, user, "/web/cart", error=f"Could not check out: {exc}.")
    return RedirectResponse(f"/web/orders/{order.id}?done=checked_out", status_code=303)
