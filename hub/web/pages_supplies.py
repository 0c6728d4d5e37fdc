"""Supplies: every sensor slot with its chart and forecast, and the household's product, mode and policy for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from hub.api.deps import ClockDep, Runtime, RuntimeDep, SessionDep
from hub.domain.order_size import DEFAULT_TRADEOFF
from hub.scheduler.clock import Clock
from hub.services import replenish as replenish_service
from hub.services import slot_actions
from hub.store import repos
from hub.store.models import Product, Slot
from hub.web import charts, views
from hub.web.forms import Form as Fields
from hub.web.render import back_to_form, page
from hub.web.session import FormUserDep, WebError, WebUser, WebUserDep, user_from_cookie

router = APIRouter(prefix="/web", include_in_schema=False)
MODE_LABELS = {"auto": "Auto-order", "notify": "Notify only", "paused": "Paused"}
MODE_HELP = {
    "auto": "The hub orders in time, enough for the target horizon and never above max stock.",
    "notify": "You are told when it runs low; nothing is ordered.",
    "paused": "Nothing is ordered and nothing is reported for this slot.",
}
# After a one-click mode change the notice says what the slot does now.
MODE_NOTICES = {"auto": "slot_auto", "notify": "slot_notify", "paused": "slot_paused"}
# The same bounds as the REST API's SlotPatch (hub/api/slots.py).
MAX_DAYS, MAX_TARGET_DAYS, MAX_PACK, MAX_STOCK = 365.0, 3650.0, 1e9, 1e12
POLICY_FIELDS = ("product_id", "pack_size", "lead_time_days", "safety_days", "target_days", "max_stock", "mode",
                 "order_tradeoff", "learning_low")
# The order-size setting in five steps, from small frequent orders to large ones (hub/domain/order_size.py).
TRADEOFF_LABELS = {
    0.0: "Less in the cupboard: small, frequent orders",
    0.25: "Leaning to less in the cupboard",
    0.5: "Balanced between deliveries and cupboard",
    DEFAULT_TRADEOFF: "Recommended: about a quarter's use per delivery",
    1.0: "Fewer deliveries: large orders up to max stock",
}
UNIT_WORDS = {"g": "grams", "ml": "millilitres", "piece": "pieces", "count": "pieces"}


def pack_size_needed(product: Product, sensor_unit: str) -> str:
    """Why a slot needs its own pack size, as a sentence: the product's pack is not in what the sensor measures."""
    amount = UNIT_WORDS.get(sensor_unit, sensor_unit)
    if product.unit in ("piece", "count"):
        sold = f"{product.name} is sold by the pack"
    else:
        sold = f"{product.name} comes in packs counted in {UNIT_WORDS.get(product.unit, product.unit)}"
    measures = "the sensor weighs it in grams" if sensor_unit == "g" else f"the sensor measures it in {amount}"
    return f"{sold} and {measures}: enter how many {amount} one pack holds."


def _supplies_page(
    request: Request,
    user: WebUser,
    session: Session,
    clock: Clock,
    errors: dict[int, dict[str, str]] | None = None,
    values: dict[int, dict[str, str]] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    # Errors and values are per slot id, so a re-rendered page keeps one slot's input and leaves the others be.
    now = clock.now()
    return page(
        request, "supplies.html", user, status_code=status_code,
        supplies=views.supply_views(session, user.household_id, now),
        products=list(repos.visible_products(session, user.household_id)),
        mode_labels=MODE_LABELS, mode_help=MODE_HELP, pack_size_needed=pack_size_needed,
        tradeoff_labels=TRADEOFF_LABELS,
        chart_wide=charts.WIDE, chart_small=charts.SMALL,
        errors=errors or {}, values=values or {},
    )


@router.get("/supplies", response_class=HTMLResponse)
def supplies_page(request: Request, user: WebUserDep, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    """Every sensor slot: level chart with forecast run-out and reorder point; product, mode and policy."""
    return _supplies_page(request, user, session, clock)


def _own_slot(session: Session, user: WebUser, slot_id: str) -> Slot:
    found = repos.household_slot(session, user.household_id, int(slot_id)) if slot_id.isdigit() else None
    if found is None:
        raise WebError(404, "There is no such supply slot in your household.")
    return found


@router.post("/supplies/{slot_id}")
def slot_save(
    slot_id: str,
    request: Request,
    user: FormUserDep,
    session: SessionDep,
    product_id: Annotated[str, Form()] = "",
    pack_size: Annotated[str, Form()] = "",
    lead_time_days: Annotated[str, Form()] = "",
    safety_days: Annotated[str, Form()] = "",
    target_days: Annotated[str, Form()] = "",
    max_stock: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "",
    pending_mode: Annotated[str, Form()] = "",
    order_tradeoff: Annotated[str, Form()] = "",
    learning_low: Annotated[str, Form()] = "",
) -> Response:
    """Save a slot's product and policy, switching its mode when a mode button was clicked; all or nothing,
    except that pausing always works (stopping orders must never wait for a typo elsewhere in the form)."""
    slot = _own_slot(session, user, slot_id)
    assert slot.id is not None
    # A mode button clicked on a form that came back with errors stays chosen (the page shows it pressed): Save
    # or Enter then carries it in pending_mode, so correcting the fields completes the switch that was asked for.
    mode = mode or (pending_mode if pending_mode in MODE_LABELS else "")
    fields = Fields(dict(zip(POLICY_FIELDS, (product_id, pack_size, lead_time_days, safety_days, target_days,
                                             max_stock, mode, order_tradeoff, learning_low), strict=True)))
    unit = slot.unit
    if mode:
        fields.choice("mode", "Mode", tuple(MODE_LABELS))
    product: Product | None = None
    pid = fields.integer("product_id", "Product", 1, 2**31 - 1, required=False)
    if pid is not None:
        product = repos.visible_product(session, user.household_id, pid)
        if product is None:
            fields.errors["product_id"] = "Choose a product from the list."
    pack = fields.number("pack_size", "Pack size", 0, MAX_PACK, required=False, above_lo=True)
    lead = fields.number("lead_time_days", "Lead time", 0, MAX_DAYS)
    safety = fields.number("safety_days", "Safety margin", 0, MAX_DAYS)
    target = fields.number("target_days", "Target horizon", 0, MAX_TARGET_DAYS, above_lo=True)
    cap = fields.number("max_stock", "Max stock", 0, MAX_STOCK, required=False, above_lo=True)
    # Left out of a form (an older page), these two keep their current values.
    tradeoff = fields.number("order_tradeoff", "Each order", 0, 1, required=False)
    low_percent = fields.number("learning_low", "Order at once while learning", 0, 100, required=False)
    chosen = product or (session.get(Product, slot.product_id) if slot.product_id else None)
    if (mode or slot.mode) == "auto" and chosen is None and "product_id" not in fields.errors:
        fields.errors["product_id"] = "Choose a product before switching the slot to auto."
    if chosen is not None and chosen.unit != unit and pack is None and "pack_size" not in fields.errors:
        # The product's pack size is in its own unit; read as the sensor's unit it would make nonsense orders.
        fields.errors["pack_size"] = pack_size_needed(chosen, unit)
    one_pack = pack or (chosen.pack_size if chosen is not None and chosen.unit == unit else None)
    if cap is not None and one_pack and cap < one_pack and "max_stock" not in fields.errors:
        fields.errors["max_stock"] = f"Max stock must hold at least one pack ({one_pack:g} {unit})."

    if fields.ok and lead is not None and safety is not None and target is not None:
        changes: dict[str, object] = {
            "pack_size": pack, "lead_time_days": lead, "safety_days": safety, "target_days": target,
            "max_stock": cap,
        }
        if tradeoff is not None:
            changes["order_tradeoff"] = tradeoff
        if low_percent is not None:
            changes["learning_low"] = low_percent / 100.0
        if mode:
            changes["mode"] = mode
        try:
            slot_actions.update(session, slot, product, **changes)  # all or nothing: a refusal rolls back
        except replenish_service.SlotError as exc:
            fields.errors["form"] = str(exc)[:1].upper() + str(exc)[1:] + "."
        else:
            done = MODE_NOTICES.get(mode, "slot_saved")
            return RedirectResponse(f"/web/supplies?done={done}#slot-{slot.id}", status_code=303)
    elif mode == "paused":
        slot_actions.pause(session, slot)
        fields.errors["form"] = "Paused. Your other changes were not saved: correct the fields marked below."
    return back_to_form(request, user, f"/web/supplies#slot-{slot.id}", errors={slot.id: fields.errors},
                        values={slot.id: fields.values})


@router.get("/supplies/{device_id}/{slot}.png")
async def supplies_chart(
    device_id: str, slot: str, request: Request, runtime: RuntimeDep, size: str = "wide"
) -> Response:
    """The chart of one slot as a PNG (rendered off the event loop); size=small for phones."""
    return await run_in_threadpool(_chart, device_id, slot, request, runtime, size == "small")


def _chart(device_id: str, slot: str, request: Request, runtime: Runtime, small: bool) -> Response:
    now = runtime.clock.now()
    with Session(runtime.engine, expire_on_commit=False) as session:
        user = user_from_cookie(session, request, runtime.clock)
        device = repos.device(session, device_id)
        if user is None or device is None or device.household_id != user.household_id:
            return Response(status_code=404)
        readings = list(repos.readings(session, device_id, slot))
        if not readings:
            return Response(status_code=404)
        # The same outlook as the page: the slot's own forecast and lead + safety place the reorder line.
        view, _decision = views.supply_outlook(session, repos.slot(session, device_id, slot), readings, now)
    png = charts.render_png(readings, readings[-1].unit, now, small=small, view=view)
    # Private: the chart shows a household's consumption; short-lived so a new reading shows on reload.
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=5"})
