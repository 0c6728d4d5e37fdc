"""Inbox of unknown barcodes, supplies (sensor slots with charts) and household settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from hub.api.deps import ClockDep, SessionDep
from hub.services import inbox as inbox_service
from hub.store import repos, web_queries
from hub.web import charts, views
from hub.web.forms import Form as Fields
from hub.web.render import money_input, page
from hub.web.session import FormUserDep, WebError, WebUser, WebUserDep, user_from_cookie

router = APIRouter(prefix="/web", include_in_schema=False)
MAX_WINDOW_MIN = 7 * 24 * 60


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
            session.rollback()
            fields.errors["product_id"] = str(exc).capitalize() + "."
        else:
            session.commit()
            return RedirectResponse("/web/inbox?done=mapped", status_code=303)
    return _inbox_page(
        request, user, session, errors={gtin: fields.errors}, values={gtin: fields.values}, status_code=400
    )


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
            session.rollback()
            fields.errors["name"] = str(exc).capitalize() + "."
        else:
            session.commit()
            return RedirectResponse("/web/inbox?done=created", status_code=303)
    return _inbox_page(
        request, user, session, errors={gtin: fields.errors}, values={gtin: fields.values}, status_code=400
    )


@router.post("/inbox/{gtin}/dismiss")
def inbox_dismiss(gtin: str, user: FormUserDep, session: SessionDep) -> Response:
    """Drop a barcode from the inbox without mapping it."""
    try:
        inbox_service.dismiss(session, user.household_id, gtin)
    except inbox_service.InboxError:
        raise WebError(404, "That barcode is not in your inbox.") from None
    session.commit()
    return RedirectResponse("/web/inbox?done=dismissed", status_code=303)


@router.get("/supplies", response_class=HTMLResponse)
def supplies_page(request: Request, user: WebUserDep, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    """Every sensor slot: level chart with forecast run-out and reorder point."""
    now = clock.now()
    names = views.device_names(session, user.household_id)
    slots = [
        (slot, names.get(slot.device_id, slot.device_id),
         charts.outlook(repos.readings(session, slot.device_id, slot.slot), now))
        for slot in web_queries.reading_slots(session, user.household_id)
    ]
    return page(request, "supplies.html", user, slots=slots)


@router.get("/supplies/{device_id}/{slot}.png")
async def supplies_chart(device_id: str, slot: str, request: Request, size: str = "wide") -> Response:
    """The chart of one slot as a PNG (rendered off the event loop); size=small for phones."""
    return await run_in_threadpool(_chart, device_id, slot, request, size == "small")


def _chart(device_id: str, slot: str, request: Request, small: bool) -> Response:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        user = user_from_cookie(session, request, request.app.state.clock)
        device = repos.device(session, device_id)
        if user is None or device is None or device.household_id != user.household_id:
            return Response(status_code=404)
        readings = list(repos.readings(session, device_id, slot))
    if not readings:
        return Response(status_code=404)
    png = charts.render_png(readings, readings[-1].unit, request.app.state.clock.now(), small=small)
    # Private: the chart shows a household's consumption; short-lived so a new reading shows on reload.
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=5"})


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


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: WebUserDep) -> HTMLResponse:
    """Cancel window, spending caps, price tolerance, order protection, scan mode."""
    return page(request, "settings.html", user, values=_settings_values(user), errors={})


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
        return page(request, "settings.html", user, status_code=400, values=fields.values, errors=fields.errors)
    household.name = fields.values["name"]
    household.cancel_window_s = window * 60
    household.per_order_cap = per_order
    household.monthly_cap = monthly
    household.price_tolerance_pct = tolerance
    household.allow_multiple_orders = not order_protection
    household.scan_mode = fields.values["scan_mode"]
    session.add(household)
    session.commit()
    return RedirectResponse("/web/settings?done=settings_saved", status_code=303)
