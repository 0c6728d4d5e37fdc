"""Inbox of unknown barcodes and household settings (with notification channels)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from hub.api.deps import ClockDep, NotifierDep, SessionDep
from hub.notify import channels
from hub.notify.worker import Notifier
from hub.services import households, notification_channels
from hub.services import inbox as inbox_service
from hub.store import repos
from hub.store.models import NotifyChannel
from hub.web import views
from hub.web.forms import Form as Fields
from hub.web.render import back_to_form, money_input, page
from hub.web.session import FormUserDep, WebError, WebUser, WebUserDep

router = APIRouter(prefix="/web", include_in_schema=False)
MAX_WINDOW_MIN = 7 * 24 * 60
SECRET_COOKIE = "restock_channel_secret"  # carries a new webhook's secret across the redirect, once


def _inbox_page(
    request: Request,
    user: WebUser,
    session: Session,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request, "inbox.html", user, status_code=status_code,
        entries=views.inbox_entries(session, user.household_id),
        products=list(repos.visible_products(session, user.household_id)),
        device_names=views.device_names(session, user.household_id),
        errors=errors or {}, values=values or {},
    )


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, user: WebUserDep, session: SessionDep) -> HTMLResponse:
    """Unknown barcodes waiting to be mapped to a product."""
    return _inbox_page(request, user, session)


@router.post("/inbox/{gtin}/map")
def inbox_map(
    gtin: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    clock: ClockDep,
    product_id: Annotated[str, Form()] = "",
) -> Response:
    """Map a barcode to a product once; its scans so far go into the cart."""
    if repos.inbox_entry(session, user.household_id, gtin) is None:
        raise WebError(404, "That barcode is not in your inbox.")
    fields = Fields({"product_id": product_id})
    pid = fields.integer("product_id", "Product", 1, 2**31 - 1)
    if pid is None:
        fields.errors["product_id"] = "Choose a product."
    else:
        try:
            inbox_service.map_gtin(session, user.household_id, gtin, pid, clock.now())
        except inbox_service.InboxError as exc:
            fields.errors["product_id"] = str(exc).capitalize() + "."
        else:
            return RedirectResponse("/web/inbox?done=mapped", status_code=303)
    return back_to_form(request, user, "/web/inbox", errors={gtin: fields.errors}, values={gtin: fields.values})


@router.post("/inbox/{gtin}/new")
def inbox_new_product(
    gtin: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form()] = "",
    price: Annotated[str, Form()] = "",
) -> Response:
    """Make an unknown barcode a product of the household's own, and move its scans into the cart."""
    if repos.inbox_entry(session, user.household_id, gtin) is None:
        raise WebError(404, "That barcode is not in your inbox.")
    currency = user.caller.household.currency
    fields = Fields({"name": name, "price": price})
    fields.text("name", "Product name", max_length=200)
    amount = fields.amount("price", "Price", currency)
    if amount is None and "price" not in fields.errors:
        fields.errors["price"] = "Price is required (what one pack costs)."
    if fields.ok and amount is not None:
        spec = inbox_service.NewProduct(name=fields.values["name"], price=amount, currency=currency)
        try:
            inbox_service.create_product(session, user.household_id, gtin, spec, clock.now())
        except inbox_service.InboxError as exc:
            fields.errors["name"] = str(exc).capitalize() + "."
        else:
            return RedirectResponse("/web/inbox?done=created", status_code=303)
    return back_to_form(request, user, "/web/inbox", errors={gtin: fields.errors}, values={gtin: fields.values})


@router.post("/inbox/{gtin}/dismiss")
def inbox_dismiss(gtin: str, user: FormUserDep, session: SessionDep) -> Response:
    """Drop a barcode from the inbox without mapping it."""
    try:
        inbox_service.dismiss(session, user.household_id, gtin)
    except inbox_service.InboxError:
        raise WebError(404, "That barcode is not in your inbox.") from None
    return RedirectResponse("/web/inbox?done=dismissed", status_code=303)


def _settings_values(user: WebUser) -> dict[str, str]:
    household = user.caller.household
    return {
        "name": household.name,
        "cancel_window_min": str(household.cancel_window_s // 60),
        "per_order_cap": money_input(household.per_order_cap, household.currency),
        "monthly_cap": money_input(household.monthly_cap, household.currency),
        "price_tolerance_pct": str(household.price_tolerance_pct),
        "order_protection": "" if household.allow_multiple_orders else "on",
        "scan_mode": household.scan_mode,
    }


def _settings_page(
    request: Request,
    user: WebUser,
    session: Session,
    notifier: Notifier,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    channel_values: dict[str, str] | None = None,
    channel_errors: dict[str, str] | None = None,
    new_secret: tuple[NotifyChannel, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    email_problem = channels.email_problem(notifier.smtp)
    return page(
        request, "settings.html", user, status_code=status_code,
        values=values if values is not None else _settings_values(user), errors=errors or {},
        channels=channels.channel_states(session, user.household_id),
        channel_values=channel_values or {"kind": "webhook" if email_problem else "email",
                                          "events": channels.ALL_EVENTS},
        channel_errors=channel_errors or {}, new_secret=new_secret, email_problem=email_problem,
        channel_test=None, masked=channels.masked, kind_labels=channels.KIND_LABELS,
        event_groups=channels.EVENT_GROUPS,
    )


def _new_secret(request: Request, session: Session, user: WebUser) -> tuple[NotifyChannel, str] | None:
    """The webhook secret handed over by the add-channel redirect, if it is this household's live channel's."""
    raw = request.cookies.get(SECRET_COOKIE, "")
    channel_id, _, secret = raw.partition(":")
    if not channel_id.isdigit() or not secret:
        return None
    channel = repos.household_channel(session, user.household_id, int(channel_id))
    if channel is None or channel.secret is None or not hmac.compare_digest(channel.secret, secret):
        return None
    return channel, secret


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: WebUserDep, session: SessionDep, notifier: NotifierDep) -> HTMLResponse:
    """Cancel window, spending caps, price tolerance, order protection, scan mode; notification channels."""
    response = _settings_page(request, user, session, notifier, new_secret=_new_secret(request, session, user))
    # Shown once: the cookie goes with this page, and a reload no longer shows the secret.
    response.delete_cookie(SECRET_COOKIE, path="/web/settings")
    return response


@router.post("/settings")
def settings_save(
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    cancel_window_min: Annotated[str, Form()] = "",
    per_order_cap: Annotated[str, Form()] = "",
    monthly_cap: Annotated[str, Form()] = "",
    price_tolerance_pct: Annotated[str, Form()] = "",
    order_protection: Annotated[str, Form()] = "",
    scan_mode: Annotated[str, Form()] = "",
) -> Response:
    """Validate every field; save all of them or none."""
    household = user.caller.household
    fields = Fields({
        "name": name, "cancel_window_min": cancel_window_min, "per_order_cap": per_order_cap,
        "monthly_cap": monthly_cap, "price_tolerance_pct": price_tolerance_pct,
        "order_protection": order_protection, "scan_mode": scan_mode,
    })
    fields.text("name", "Household name", max_length=100)
    window = fields.integer("cancel_window_min", "Cancel window", 0, MAX_WINDOW_MIN)
    per_order = fields.amount("per_order_cap", "Limit per order", household.currency)
    monthly = fields.amount("monthly_cap", "Limit per month", household.currency)
    tolerance = fields.integer("price_tolerance_pct", "Price tolerance", 0, 1000)
    fields.choice("scan_mode", "Scan mode", ("cart", "order"))
    if not fields.ok or window is None or tolerance is None:
        return back_to_form(request, user, "/web/settings", values=fields.values, errors=fields.errors)
    households.update_settings(session, household, {
        "name": fields.values["name"], "cancel_window_s": window * 60, "per_order_cap": per_order,
        "monthly_cap": monthly, "price_tolerance_pct": tolerance, "allow_multiple_orders": not order_protection,
        "scan_mode": fields.values["scan_mode"],
    })
    return RedirectResponse("/web/settings?done=settings_saved", status_code=303)


@router.post("/settings/channels")
def channel_add(
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    notifier: NotifierDep,
    kind: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Add an e-mail, webhook or push (Apprise URL) channel with the kinds of notification it gets; a webhook's
    signing secret is shown once on the next page, an Apprise URL only masked from now on."""
    fields = Fields({"kind": kind, "target": target.strip(), "events": ",".join(events or [])})
    fields.choice("kind", "Channel kind", channels.KINDS)
    try:
        fields.values["events"] = channels.events_value(events or [])
    except ValueError as exc:
        fields.errors["events"] = str(exc)
    if fields.ok:
        problem = channels.target_problem(fields.values["kind"], fields.values["target"])
        if problem is None and fields.values["kind"] == "email":
            # Refused rather than kept: an e-mail channel on a hub without SMTP could only ever fail.
            problem = channels.email_problem(notifier.smtp)
        if problem is not None:
            fields.errors["target"] = problem
    if not fields.ok:
        return back_to_form(
            request, user, "/web/settings#channels", channel_values=fields.values, channel_errors=fields.errors
        )
    channel = notification_channels.add_channel(
        session, user.household_id, fields.values["kind"], fields.values["target"], fields.values["events"]
    )
    response = RedirectResponse("/web/settings?done=channel_added#channels", status_code=303)
    if channel.secret:
        # Handed to the next page only (the redirect keeps a reload from adding a second channel): HttpOnly,
        # scoped to the settings page, gone after a minute or after the page has shown it.
        response.set_cookie(
            SECRET_COOKIE, f"{channel.id}:{channel.secret}", max_age=60, path="/web/settings", httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
        )
    return response


@router.post("/settings/channels/{channel_id}/remove")
def channel_remove(channel_id: str, user: FormUserDep, session: SessionDep) -> Response:
    """Stop notifications to a channel."""
    if not channel_id.isdigit() or not notification_channels.remove_channel(
        session, user.household_id, int(channel_id)
    ):
        raise WebError(404, "There is no such notification channel in your household.")
    return RedirectResponse("/web/settings?done=channel_removed#channels", status_code=303)


@router.post("/settings/channels/{channel_id}/test")
async def channel_test(
    channel_id: str, request: Request, user: FormUserDep, session: SessionDep, clock: ClockDep,
    notifier: NotifierDep,
) -> Response:
    """Send a test message to a channel now (not through the retrying outbox); the page then says how it went."""
    channel = None
    if channel_id.isdigit() and len(channel_id) < 12:
        channel = await run_in_threadpool(repos.household_channel, session, user.household_id, int(channel_id))
    if channel is None:
        raise WebError(404, "There is no such notification channel in your household.")
    error = await notifier.send_now(channel.kind, channel.target, channel.secret, channels.test_payload(clock.now()))
    outcome = {"id": channel.id, "ok": error is None, "detail": error or "delivered"}
    return back_to_form(request, user, "/web/settings#channels", channel_test=outcome)
