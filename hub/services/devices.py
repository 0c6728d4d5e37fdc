"""Device registration and binding. Callers commit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session

from hub.broker.credentials import hash_secret, is_device_id
from hub.domain.press import Mode
from hub.store import repos
from hub.store.models import Device, Product

KINDS = ("dash_button", "barcode_wand", "appliance_sensor")


class DeviceError(Exception):
    """A device operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class NewDevice:
    """A registered device and its secret, which is shown once and never stored in clear."""

    device: Device
    secret: str


def register(
    session: Session, kind: str, name: str, household_id: int | None, device_id: str | None = None
) -> NewDevice:
    """Create a device with unique random credentials."""
    if kind not in KINDS:
        raise DeviceError(f"kind must be one of {', '.join(KINDS)}")
    if device_id is None:
        device_id = f"{kind.split('_')[0]}-{secrets.token_hex(4)}"
    if not is_device_id(device_id):
        raise DeviceError("device id must be 3-32 characters of a-z, 0-9, '-' and '_'")
    if repos.device(session, device_id) is not None:
        raise DeviceError(f"device {device_id} already exists")
    secret = secrets.token_urlsafe(24)
    device = Device(id=device_id, kind=kind, name=name or device_id, household_id=household_id,
                    secret_hash=hash_secret(secret))
    session.add(device)
    session.flush()
    return NewDevice(device=device, secret=secret)


def bind(session: Session, device: Device, product: Product, qty: int, mode: str) -> Device:
    """Bind a product to a button; the price now is what later price rises are measured against."""
    try:
        Mode(mode)
    except ValueError:
        raise DeviceError(f"mode must be one of {', '.join(m.value for m in Mode)}") from None
    if not 1 <= qty <= 99:
        raise DeviceError("quantity must be 1..99")
    device.binding_product_id = product.id
    device.binding_qty = qty
    device.binding_mode = mode
    device.binding_unit_price = product.price
    session.add(device)
    return device


def unbind(session: Session, device: Device) -> Device:
    """Remove a button's binding."""
    device.binding_product_id = None
    device.binding_mode = None
    device.binding_unit_price = None
    session.add(device)
    return device
