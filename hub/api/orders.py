"""Orders of the caller's household: list, detail with timeline, cancel, approve, reject."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Query
from sqlmodel import Session

from hub.api.deps import CallerDep, ClockDep, SessionDep, conflict, not_found
from hub.api.errors import BODY, errors
from hub.api.presenters import order_detail, order_out
from hub.api.schemas import MAX_ID, OrderDetail, OrderIdPath, OrderOut, ReturnIn
from hub.domain.lifecycle import OrderStatus
from hub.services import order_actions
from hub.services import orders as order_service
from hub.store import repos
from hub.store.models import Order

router = APIRouter(prefix="/api/v1/orders", tags=["orders"], responses=errors(401))


def _own(session: Session, caller: CallerDep, order_id: str) -> Order:
    order = repos.household_order(session, caller.household_id, order_id)
    if order is None:
        raise not_found(f"order {order_id}")
    return order


@router.get("", response_model=list[OrderOut], responses=errors(422))
def list_orders(
    caller: CallerDep,
    session: SessionDep,
    status: OrderStatus | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=MAX_ID),
) -> list[OrderOut]:
    """The household's orders, newest first."""
    rows = repos.household_orders(session, caller.household_id, status.value if status else None, limit, offset)
    return [order_out(session, o) for o in rows]


@router.get("/{order_id}", response_model=OrderDetail, responses=errors(404, 422))
def get_order(order_id: OrderIdPath, caller: CallerDep, session: SessionDep) -> OrderDetail:
    """One order with lines and timeline."""
    return order_detail(session, _own(session, caller, order_id))


def _act(
    action: Callable[[Session, Order, str, object], None],
) -> Callable[[str, CallerDep, SessionDep, ClockDep], OrderDetail]:
    def handler(order_id: OrderIdPath, caller: CallerDep, session: SessionDep, clock: ClockDep) -> OrderDetail:
        order = _own(session, caller, order_id)
        try:
            action(session, order, caller.actor, clock.now())
        except order_service.OrderError as exc:
            raise conflict(str(exc)) from None
        return order_detail(session, order)

    handler.__doc__ = action.__doc__
    return handler


router.post("/{order_id}/cancel", response_model=OrderDetail, summary="Cancel an order inside its window",
            responses=errors(404, 409, 422))(
    _act(order_actions.cancel)  # type: ignore[arg-type]
)
router.post("/{order_id}/approve", response_model=OrderDetail, summary="Approve an order awaiting approval",
            responses=errors(404, 409, 422))(
    _act(order_actions.approve)  # type: ignore[arg-type]
)
router.post("/{order_id}/reject", response_model=OrderDetail, summary="Reject an order awaiting approval",
            responses=errors(404, 409, 422))(
    _act(order_actions.reject)  # type: ignore[arg-type]
)


@router.post("/{order_id}/return", response_model=OrderDetail, summary="Return a delivered order",
             responses=errors(404, 409, *BODY))
def return_order(
    order_id: OrderIdPath, body: ReturnIn, caller: CallerDep, session: SessionDep, clock: ClockDep
) -> OrderDetail:
    """Ask the merchant to take a delivered order back; its progress shows in the timeline."""
    order = _own(session, caller, order_id)
    try:
        order_actions.request_return(session, order, body.reason, caller.actor, clock.now())
    except order_service.OrderError as exc:
        raise conflict(str(exc)) from None
    return order_detail(session, order)


@router.post("/{order_id}/again", response_model=OrderDetail, status_code=201, summary="Order the same again",
             responses=errors(404, 409, 422))
def order_again(order_id: OrderIdPath, caller: CallerDep, session: SessionDep, clock: ClockDep) -> OrderDetail:
    """A new order of the same products and quantities at today's prices, with the household's cancel window,
    limits and approval rules; 409 when a product is no longer sold."""
    order = _own(session, caller, order_id)
    try:
        again = order_actions.order_again(session, caller.household, order, caller.actor, clock.now())
    except order_service.OrderError as exc:
        raise conflict(str(exc)) from None
    return order_detail(session, again)
