"""Overview and devices pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from hub.api.deps import ClaimLimiterDep, ClockDep, RuntimeDep, SessionDep
from hub.domain.lifecycle import OrderStatus
from hub.domain.press import Mode
from hub.scheduler.clock import Clock
from hub.services import devices as device_service
from hub.store import repos
from hub.store.models import Device
from hub.web import views
from hub.web.forms import Form as Fields
from hub.web.render import back_to_form, page
from hub.web.session import FormUserDep, WebError, WebUser, WebUserDep

router = APIRouter(prefix="/web", include_in_schema=False)
MODES = tuple(m.value for m in Mode)
MODE_LABELS = {"order": "Order (after the cancel window)", "cart": "Add to cart", "approve": "Ask me to approve"}


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: WebUserDep, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    """Devices with their state, what needs attention, and recent activity."""
    hid = user.household_id
    orders = list(repos.household_orders(session, hid, limit=50))
    open_orders = [o for o in orders if o.status in (OrderStatus.PENDING, OrderStatus.AWAITING_APPROVAL)]
    return page(
        request,
        "overview.html",
        user,
        devices=views.device_views(session, hid, clock.now()),
        activity=views.activity(session, hid),
        open_orders=views.order_views(session, open_orders),
        cart_count=sum(line.qty for line in repos.cart(session, hid)),
        inbox_count=len(repos.inbox(session, hid)),
    )


def _own_device(session: Session, user: WebUser, device_id: str) -> Device:
    device = repos.device(session, device_id)
    if device is None or device.household_id != user.household_id:
        raise WebError(404, "There is no such device in your household.")
    return device


def _devices_page(
    request: Request,
    user: WebUser,
    session: Session,
    clock: Clock,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    # Errors and values are per form: a device id, or "" for the pairing form.
    return page(
        request,
        "devices.html",
        user,
        status_code=status_code,
        devices=views.device_views(session, user.household_id, clock.now()),
        products=list(repos.visible_products(session, user.household_id)),
        modes=[(m, MODE_LABELS[m]) for m in MODES],
        errors=errors or {},
        values=values or {},
    )


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, user: WebUserDep, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    """Every device: rename it; bind a product, quantity, mode and substitutes to a button."""
    return _devices_page(request, user, session, clock)


@router.post("/devices/{device_id}/rename")
def rename(
    device_id: str, request: Request, user: FormUserDep, session: SessionDep, name: Annotated[str, Form()] = ""
) -> Response:
    """Give a device a name the household recognises."""
    device = _own_device(session, user, device_id)
    fields = Fields({"name": name})
    fields.text("name", "Name", max_length=100)
    if not fields.ok:
        return back_to_form(request, user, f"/web/devices#device-{device_id}", errors={device_id: fields.errors},
                            values={device_id: fields.values})
    device_service.rename(session, device, fields.values["name"])
    return RedirectResponse(f"/web/devices?done=renamed#device-{device_id}", status_code=303)


@router.post("/devices/{device_id}/bind")
def bind(
    device_id: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    product_id: Annotated[str, Form()] = "",
    qty: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "",
    allow_substitutes: Annotated[str, Form()] = "",
    substitute_id: Annotated[str, Form()] = "",
) -> Response:
    """Bind what a button orders, how many, whether it orders, fills the cart or asks first, and whether the
    shop may send a substitute (the household's pick, or the shop's suggestion) when it is out of stock."""
    device = _own_device(session, user, device_id)
    fields = Fields({
        "product_id": product_id, "qty": qty, "mode": mode, "allow_substitutes": "on" if allow_substitutes else "",
        "substitute_id": substitute_id,
    })
    pid = fields.integer("product_id", "Product", 1, 2**31 - 1)
    if pid is None:
        fields.errors["product_id"] = "Choose a product."
    count = fields.integer("qty", "Quantity", 1, 99)
    fields.choice("mode", "Mode", MODES)
    product = repos.visible_product(session, user.household_id, pid) if pid is not None else None
    if pid is not None and product is None:
        fields.errors["product_id"] = "Choose a product from the list."
    sid = fields.integer("substitute_id", "Substitute", 1, 2**31 - 1, required=False)
    substitute = repos.visible_product(session, user.household_id, sid) if sid is not None else None
    if sid is not None and substitute is None:
        fields.errors["substitute_id"] = "Choose a substitute from the list."
    elif substitute is not None and pid == sid and allow_substitutes:
        # The order service ignores a "substitute" that is the bound product itself: say so rather than store it.
        fields.errors["substitute_id"] = (
            "Choose another product than the one the button orders, or the shop's suggestion."
        )
    if device.kind != "dash_button":
        fields.errors["form"] = "Only dash buttons have a binding."
    if fields.ok and product is not None and count is not None:
        try:
            # The substitute fields are the ones PUT /api/v1/devices/{id}/substitutes sets, by the same rule.
            device_service.bind_button(
                session, device, product, count, fields.values["mode"], substitutes=(bool(allow_substitutes), sid)
            )
        except device_service.DeviceError as exc:
            fields.errors["form"] = str(exc)
        else:
            return RedirectResponse(f"/web/devices?done=bound#device-{device_id}", status_code=303)
    return back_to_form(request, user, f"/web/devices#device-{device_id}", errors={device_id: fields.errors},
                        values={device_id: fields.values})


@router.post("/devices/{device_id}/unbind")
def unbind(device_id: str, user: FormUserDep, session: SessionDep) -> Response:
    """Remove a button's binding: presses are then rejected until it is bound again."""
    device_service.unbind_button(session, _own_device(session, user, device_id))
    return RedirectResponse(f"/web/devices?done=unbound#device-{device_id}", status_code=303)


@router.post("/devices/pair")
def pair(
    request: Request, user: FormUserDep, session: SessionDep, clock: ClockDep, limiter: ClaimLimiterDep,
    code: Annotated[str, Form()] = "",
) -> Response:
    """Pair an unclaimed device with this household by the claim code on its label; wrong codes count against
    the same budget as the API's claims."""
    fields = Fields({"code": code})
    fields.text("code", "Claim code", max_length=40)
    if fields.ok:
        try:
            device = device_service.claim_device(
                session, limiter, user.caller.user.id or 0, fields.values["code"], user.household_id, clock.now()
            )
        except device_service.ClaimBlockedError:
            fields.errors["code"] = "Too many wrong codes. Wait a few minutes and try again."
        except device_service.ClaimError as exc:
            fields.errors["code"] = str(exc).capitalize() + "."
        else:
            return RedirectResponse(f"/web/devices?done=paired#device-{device.id}", status_code=303)
    return back_to_form(request, user, "/web/devices", errors={"": fields.errors}, values={"": fields.values})


@router.post("/devices/{device_id}/revoke")
def revoke(device_id: str, user: FormUserDep, session: SessionDep, clock: ClockDep, runtime: RuntimeDep) -> Response:
    """Revoke a device for good: its logins and events are refused, its orders and readings stay."""
    device_service.revoke(session, _own_device(session, user, device_id), clock.now(), runtime.device_revoked)
    return RedirectResponse(f"/web/devices?done=revoked#device-{device_id}", status_code=303)
