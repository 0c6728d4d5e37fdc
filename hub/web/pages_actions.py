"""The confirmation page of a one-tap link from a notification (/act/{token}): signed-out, phone-sized.

GET only shows what the link will do, with one button; the button POSTs and only then does the action happen, so
a chat app's or mail client's link preview (which fetches the page) never cancels or approves anything. The token
is the capability, so the form needs no session and no CSRF token: another site could only POST a token it has.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from hub.api.deps import ClockDep, NotifierDep, SessionDep
from hub.notify.actions import ActionLinks
from hub.scheduler.clock import Clock
from hub.services import order_links
from hub.web.render import page

router = APIRouter(include_in_schema=False)
# What the button says and what the page says afterwards, per action.
BUTTONS = {"cancel": "Cancel this order", "approve": "Approve this order", "reject": "Reject this order"}
DONE = {"cancel": "Order cancelled", "approve": "Order approved", "reject": "Order rejected"}


def _private(response: HTMLResponse) -> HTMLResponse:
    # The URL is a capability: no shared cache keeps the page, no search engine lists it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _refused(request: Request, refusal: order_links.LinkRefused) -> HTMLResponse:
    return _private(page(request, "act.html", None, status_code=refusal.status, refused=refusal.message,
                         target=None, done=None, buttons=BUTTONS, token=""))


@router.get("/act/{token}")
def confirm(token: str, request: Request, session: SessionDep, clock: ClockDep, notifier: NotifierDep) -> HTMLResponse:
    """What the link will do, and the button that does it."""
    try:
        target = order_links.preview(session, notifier.links, token, clock.now())
    except order_links.LinkRefused as refusal:
        return _refused(request, refusal)
    return _private(page(request, "act.html", None, target=target, token=token, done=None, refused=None,
                         buttons=BUTTONS))


@router.post("/act/{token}")
async def perform(
    token: str, request: Request, session: SessionDep, clock: ClockDep, notifier: NotifierDep
) -> HTMLResponse:
    """Do it once; the page says what happened, or why not."""
    try:
        target = await run_in_threadpool(_use, session, notifier.links, token, clock)
    except order_links.LinkRefused as refusal:
        return _refused(request, refusal)
    return _private(page(request, "act.html", None, target=target, token="", done=DONE[target.claim.action],
                         refused=None, buttons=BUTTONS))


def _use(session: Session, links: ActionLinks, token: str, clock: Clock) -> order_links.LinkTarget:
    target = order_links.use(session, links, token, clock.now())
    session.refresh(target.order)
    return target
