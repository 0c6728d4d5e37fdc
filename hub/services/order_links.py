"""Using a one-tap link from a notification: look at what it would do, then do it once.

`preview` only reads (the confirmation page a link opens, which a link preview may fetch too); `use` is the one
committed use case: it checks the token, records its nonce (a replay then fails on the stored record, even when
two taps race) and moves the order through the same lifecycle calls as the dashboard's buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.domain.lifecycle import OrderStatus
from hub.notify.actions import APPROVE, CANCEL, REJECT, ActionLinks, LinkClaim, LinkError
from hub.services import orders
from hub.services.transaction import committed
from hub.store import repos
from hub.store.models import ActionLinkUse, Order, OrderLine

# The state an order must be in for each action; anything else means the link came too late.
NEEDS = {CANCEL: OrderStatus.PENDING, APPROVE: OrderStatus.AWAITING_APPROVAL, REJECT: OrderStatus.AWAITING_APPROVAL}
ACTOR = "link"


class LinkRefused(Exception):
    """A link that cannot be used, with a sentence for the person holding the phone and the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class LinkTarget:
    """A usable link: what it allows and the order it is about."""

    claim: LinkClaim
    order: Order
    lines: list[OrderLine]


def preview(session: Session, links: ActionLinks, token: str, now: datetime) -> LinkTarget:
    """What the link would do, or LinkRefused; writes nothing."""
    claim = _claim(links, token, now)
    if session.get(ActionLinkUse, claim.nonce) is not None:
        raise LinkRefused(409, "This link has already been used. Open the dashboard to see the order.")
    order = session.get(Order, claim.order_id)
    if order is None or order.household_id != claim.household_id:
        raise LinkRefused(404, "This link does not belong to any order of yours.")
    if order.status != NEEDS[claim.action]:
        raise LinkRefused(409, _too_late(claim.action, order.status))
    if claim.action == CANCEL and (order.cancel_until is None or order.cancel_until <= now):
        raise LinkRefused(410, "The cancel window of this order has closed; it is on its way to the shop.")
    return LinkTarget(claim, order, list(repos.order_lines(session, order.id)))


def use(session: Session, links: ActionLinks, token: str, now: datetime) -> LinkTarget:
    """Do what the link allows, once, committed; LinkRefused (nothing written) otherwise."""
    target = preview(session, links, token, now)
    claim = target.claim
    try:
        with committed(session):
            session.add(ActionLinkUse(nonce=claim.nonce, household_id=claim.household_id, order_id=claim.order_id,
                                      action=claim.action, used_at=now))
            session.flush()
            if claim.action == CANCEL:
                orders.cancel(session, target.order, ACTOR, now)
            elif claim.action == APPROVE:
                orders.approve(session, target.order, ACTOR, now)
            else:
                orders.reject(session, target.order, ACTOR, now)
    except IntegrityError:
        raise LinkRefused(409, "This link has already been used. Open the dashboard to see the order.") from None
    except orders.OrderError as exc:
        raise LinkRefused(409, f"That did not work: {exc}") from None
    return target


def _claim(links: ActionLinks, token: str, now: datetime) -> LinkClaim:
    try:
        claim = links.verify(token)
    except LinkError:
        raise LinkRefused(400, "This link is not valid: it may have been cut short or changed. "
                               "Use the button in the notification again, or the dashboard.") from None
    if claim.expires <= now:
        raise LinkRefused(410, "This link has expired. Open the dashboard to see the order.")
    return claim


def _too_late(action: str, status: str) -> str:
    state = status.replace("_", " ")
    if action == CANCEL:
        return f"This order can no longer be cancelled here: it is {state}."
    return f"This order no longer waits for approval: it is {state}."
