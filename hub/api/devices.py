"""Devices of the caller's household: list, register, rename, bind."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from hub.api.deps import CallerDep, SessionDep, not_found
from hub.api.presenters import device_out
from hub.api.schemas import BindingIn, DeviceCreate, DeviceCreated, DeviceOut, DevicePatch
from hub.services import devices as device_service
from hub.store import repos
from hub.store.models import Device

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])


def _own(session: SessionDep, caller: CallerDep, device_id: str) -> Device:
    device = repos.device(session, device_id)
    if device is None or device.household_id != caller.household_id:
        raise not_found(f"device {device_id}")
    return device


@router.get("", response_model=list[DeviceOut])
def list_devices(caller: CallerDep, session: SessionDep) -> list[DeviceOut]:
    """Every device of the household."""
    return [device_out(session, d) for d in repos.household_devices(session, caller.household_id)]


@router.post("", response_model=DeviceCreated, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceCreate, caller: CallerDep, session: SessionDep) -> DeviceCreated:
    """Register a device; the response holds its MQTT secret, shown only this once."""
    try:
        created = device_service.register(session, body.kind, body.name, caller.household_id, body.id)
    except device_service.DeviceError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    return DeviceCreated(**device_out(session, created.device).model_dump(), secret=created.secret)


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(device_id: str, caller: CallerDep, session: SessionDep) -> DeviceOut:
    """One device."""
    return device_out(session, _own(session, caller, device_id))


@router.patch("/{device_id}", response_model=DeviceOut)
def rename_device(device_id: str, body: DevicePatch, caller: CallerDep, session: SessionDep) -> DeviceOut:
    """Rename a device."""
    device = _own(session, caller, device_id)
    device.name = body.name
    session.add(device)
    session.commit()
    return device_out(session, device)


@router.put("/{device_id}/binding", response_model=DeviceOut)
def bind_device(device_id: str, body: BindingIn, caller: CallerDep, session: SessionDep) -> DeviceOut:
    """Bind a product, quantity and mode (order, cart, approve) to a button."""
    device = _own(session, caller, device_id)
    product = repos.visible_product(session, caller.household_id, body.product_id)
    if product is None:
        raise not_found(f"product {body.product_id}")
    try:
        device_service.bind(session, device, product, body.qty, body.mode)
    except device_service.DeviceError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    return device_out(session, device)


@router.delete("/{device_id}/binding", response_model=DeviceOut)
def unbind_device(device_id: str, caller: CallerDep, session: SessionDep) -> DeviceOut:
    """Remove a button's binding."""
    device = _own(session, caller, device_id)
    device_service.unbind(session, device)
    session.commit()
    return device_out(session, device)
