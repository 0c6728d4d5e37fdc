"""Devices of the caller's household: list, register, claim, rename, bind, revoke."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, status
from pydantic import ConfigDict, Field

from hub.api.deps import CallerDep, ClaimLimiterDep, ClockDep, RuntimeDep, SessionDep, not_found
from hub.api.errors import BODY, errors
from hub.api.presenters import device_out
from hub.api.schemas import (
    BindingIn,
    DeviceCreate,
    DeviceCreated,
    DeviceIdPath,
    DeviceOut,
    DevicePatch,
    RequestBody,
)
from hub.services import devices as device_service
from hub.store import repos
from hub.store.models import Device

router = APIRouter(prefix="/api/v1/devices", tags=["devices"], responses=errors(401))
log = logging.getLogger(__name__)


def _own(session: SessionDep, caller: CallerDep, device_id: str) -> Device:
    device = repos.device(session, device_id)
    if device is None or device.household_id != caller.household_id:
        raise not_found(f"device {device_id}")
    return device


@router.get("", response_model=list[DeviceOut])
def list_devices(caller: CallerDep, session: SessionDep) -> list[DeviceOut]:
    """Every device of the household."""
    return [device_out(session, d) for d in repos.household_devices(session, caller.household_id)]


@router.post("", response_model=DeviceCreated, status_code=status.HTTP_201_CREATED, responses=errors(409, *BODY))
def create_device(body: DeviceCreate, caller: CallerDep, session: SessionDep, runtime: RuntimeDep) -> DeviceCreated:
    """Register a device; the response holds its MQTT secret, shown only this once."""
    try:
        created = device_service.add_device(
            session, body.kind, body.name, caller.household_id, body.id, on_added=runtime.device_added
        )
    except device_service.DeviceError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return DeviceCreated(**device_out(session, created.device).model_dump(), secret=created.secret)


@router.get("/{device_id}", response_model=DeviceOut, responses=errors(404, 422))
def get_device(device_id: DeviceIdPath, caller: CallerDep, session: SessionDep) -> DeviceOut:
    """One device."""
    return device_out(session, _own(session, caller, device_id))


@router.patch("/{device_id}", response_model=DeviceOut, responses=errors(404, *BODY))
def rename_device(
    device_id: DeviceIdPath, body: DevicePatch, caller: CallerDep, session: SessionDep
) -> DeviceOut:
    """Rename a device."""
    device = device_service.rename(session, _own(session, caller, device_id), body.name)
    return device_out(session, device)


@router.put("/{device_id}/binding", response_model=DeviceOut, responses=errors(404, *BODY))
def bind_device(device_id: DeviceIdPath, body: BindingIn, caller: CallerDep, session: SessionDep) -> DeviceOut:
    """Bind a product, quantity and mode (order, cart, approve) to a button."""
    device = _own(session, caller, device_id)
    product = repos.visible_product(session, caller.household_id, body.product_id)
    if product is None:
        raise not_found(f"product {body.product_id}")
    try:
        device_service.bind_button(session, device, product, body.qty, body.mode)
    except device_service.DeviceError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return device_out(session, device)


@router.delete("/{device_id}/binding", response_model=DeviceOut, responses=errors(404, 422))
def unbind_device(device_id: DeviceIdPath, caller: CallerDep, session: SessionDep) -> DeviceOut:
    """Remove a button's binding."""
    device = device_service.unbind_button(session, _own(session, caller, device_id))
    return device_out(session, device)


class ClaimIn(RequestBody):
    """A claim code from a device's label or QR code."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=40)


@router.post("/claim", response_model=DeviceOut, responses=errors(404, 409, 429, *BODY))
def claim_device(
    body: ClaimIn, caller: CallerDep, session: SessionDep, clock: ClockDep, limiter: ClaimLimiterDep
) -> DeviceOut:
    """Pair an unclaimed device with the caller's household by its claim code (404 unknown, 409 used, 429 too many)."""
    try:
        device = device_service.claim_device(
            session, limiter, caller.user.id or 0, body.code, caller.household_id, clock.now()
        )
    except device_service.ClaimError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    log.info("device claimed", extra={"device": device.id, "household": caller.household_id})
    return device_out(session, device)


@router.post("/{device_id}/revoke", response_model=DeviceOut, responses=errors(404, 422))
def revoke_device(
    device_id: DeviceIdPath, caller: CallerDep, session: SessionDep, clock: ClockDep, runtime: RuntimeDep
) -> DeviceOut:
    """Revoke a device: its broker login goes at once, its events are rejected, its orders stay."""
    device = device_service.revoke(session, _own(session, caller, device_id), clock.now(), runtime.device_revoked)
    return device_out(session, device)
