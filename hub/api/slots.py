"""Sensor slots: product, mode (auto / notify / paused) and reorder policy, with the current forecast."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from hub.api.deps import CallerDep, ClockDep, SessionDep, not_found
from hub.api.errors import BODY, errors
from hub.api.schemas import MAX_ID, MIN_PACK, RequestBody
from hub.services import replenish as replenish_service
from hub.services import slot_actions
from hub.store import repos
from hub.store.models import Product, Slot

router = APIRouter(prefix="/api/v1/slots", tags=["supplies"], responses=errors(401))
# Slot ids live in a 32-bit integer column: a larger one is refused (422), not handed to the driver.
SlotIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A sensor slot id")]


class ForecastOut(BaseModel):
    """The slot's forecast now."""

    status: str
    level_now: float | None
    rate_per_day: float | None
    run_out_at: datetime | None
    run_out_earliest: datetime | None
    run_out_latest: datetime | None
    decision: str
    reason: str


class SlotOut(BaseModel):
    """A sensor slot and its reorder policy."""

    id: int
    device_id: str
    name: str
    unit: str
    product_id: int | None
    product: str | None
    mode: str
    pack_size: float | None
    lead_time_days: float
    safety_days: float
    target_days: float
    max_stock: float | None
    order_tradeoff: float
    learning_low: float
    forecast: ForecastOut | None


class SlotPatch(RequestBody):
    """Change a slot's product or policy; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    product_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    mode: Literal["auto", "notify", "paused"] | None = None
    pack_size: float | None = Field(default=None, ge=MIN_PACK, le=1e9)
    lead_time_days: float | None = Field(default=None, ge=0, le=365)
    safety_days: float | None = Field(default=None, ge=0, le=365)
    target_days: float | None = Field(default=None, gt=0, le=3650)
    max_stock: float | None = Field(default=None, gt=0, le=1e12)
    # 0 = less in the cupboard (small, frequent orders) .. 1 = fewer deliveries (large orders up to max stock).
    order_tradeoff: float | None = Field(default=None, ge=0, le=1)
    # While the slot has too few readings for a forecast, it orders at once below this share of a pack.
    learning_low: float | None = Field(default=None, ge=0, le=1)


def _out(session: Session, slot: Slot, now: datetime) -> SlotOut:
    assert slot.id is not None
    product = session.get(Product, slot.product_id) if slot.product_id else None
    result = replenish_service.evaluate_slot(session, slot, now)
    forecast = None
    if result is not None:
        fc = result.forecast
        forecast = ForecastOut(
            status=fc.status, level_now=fc.level_now, rate_per_day=fc.rate_per_day, run_out_at=fc.run_out_at,
            run_out_earliest=fc.run_out_earliest, run_out_latest=fc.run_out_latest,
            decision=result.decision.action, reason=result.decision.reason,
        )
    return SlotOut(
        id=slot.id, device_id=slot.device_id, name=slot.name, unit=slot.unit, product_id=slot.product_id,
        product=product.name if product else None, mode=slot.mode, pack_size=slot.pack_size,
        lead_time_days=slot.lead_time_days, safety_days=slot.safety_days, target_days=slot.target_days,
        max_stock=slot.max_stock, order_tradeoff=slot.order_tradeoff, learning_low=slot.learning_low,
        forecast=forecast,
    )


@router.get("", response_model=list[SlotOut])
def list_slots(caller: CallerDep, session: SessionDep, clock: ClockDep) -> list[SlotOut]:
    """Every sensor slot of the household with its forecast."""
    now = clock.now()
    return [_out(session, s, now) for s in repos.household_slots(session, caller.household_id)]


@router.get("/{slot_id}", response_model=SlotOut, responses=errors(404, 422))
def get_slot(slot_id: SlotIdPath, caller: CallerDep, session: SessionDep, clock: ClockDep) -> SlotOut:
    """One slot with its forecast."""
    slot = repos.household_slot(session, caller.household_id, slot_id)
    if slot is None:
        raise not_found(f"slot {slot_id}")
    return _out(session, slot, clock.now())


@router.patch("/{slot_id}", response_model=SlotOut, responses=errors(404, *BODY))
def patch_slot(
    slot_id: SlotIdPath, body: SlotPatch, caller: CallerDep, session: SessionDep, clock: ClockDep
) -> SlotOut:
    """Choose the product (and brand) for a slot, its mode and its policy; pause and stop are one call."""
    slot = repos.household_slot(session, caller.household_id, slot_id)
    if slot is None:
        raise not_found(f"slot {slot_id}")
    changes = body.model_dump(exclude_unset=True)
    product = None
    if "product_id" in changes:
        product_id = changes.pop("product_id")
        if product_id is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "product_id may not be null")
        product = repos.visible_product(session, caller.household_id, product_id)
        if product is None:
            raise not_found(f"product {product_id}")
    for key in ("mode", "lead_time_days", "safety_days", "target_days", "order_tradeoff", "learning_low"):
        if key in changes and changes[key] is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{key} may not be null")
    try:
        slot_actions.update(session, slot, product, **changes)
    except replenish_service.SlotError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _out(session, slot, clock.now())
