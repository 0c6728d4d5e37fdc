"""Devices: registration, pairing (claim codes), binding, substitutes, renaming and revocation.

The use cases the API, the dashboard and the CLI call (`add_device`, `rename`, `bind_button`, `unbind_button`,
`set_substitutes`, `claim_device`, `revoke`) commit. `register`, `bind` and `unbind` are their building blocks
and leave the commit to the caller, for the CLI's and the demo's set-up that writes more in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from hub.broker.credentials import hash_secret, is_device_id
from hub.broker.nats_auth import nats_secret_hash
from hub.domain.devices import KINDS
from hub.domain.press import Mode
from hub.services.replenish import pause_device_slots
from hub.services.shared_limits import LimitStore, MemoryLimits, Written
from hub.store import repos
from hub.store.models import Device, Product
from hub.store.shared_state import Slot
from hub.store.types import utcnow


class DeviceError(Exception):
    """A device operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class NewDevice:
    """A registered device, its secret and (unclaimed only) claim code, shown once and never stored in clear."""

    device: Device
    secret: str
    claim_code: str | None = None


def register(
    session: Session, kind: str, name: str, household_id: int | None, device_id: str | None = None
) -> NewDevice:
    """Create a device with unique random credentials; without a household it gets a claim code."""
    if kind not in KINDS:
        raise DeviceError(f"kind must be one of {', '.join(KINDS)}")
    if device_id is None:
        device_id = f"{kind.split('_')[0]}-{secrets.token_hex(4)}"
    if not is_device_id(device_id):
        raise DeviceError("device id must be 3-32 characters of a-z, 0-9, '-' and '_'")
    if repos.device(session, device_id) is not None:
        raise DeviceError(f"device {device_id} already exists")
    secret = secrets.token_urlsafe(24)
    code = new_claim_code() if household_id is None else None
    device = Device(id=device_id, kind=kind, name=name or device_id, household_id=household_id,
                    secret_hash=hash_secret(secret), nats_secret_hash=nats_secret_hash(secret),
                    claim_code_hash=claim_code_hash(code) if code else None,
                    claimed_at=utcnow() if household_id is not None else None)
    session.add(device)
    session.flush()
    repos.notify_devices_changed(session)
    return NewDevice(device=device, secret=secret, claim_code=code)


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


# -- use cases that commit -----------------------------------------------------------------------
def add_device(
    session: Session, kind: str, name: str, household_id: int | None, device_id: str | None = None,
    on_added: Callable[[str, str], None] | None = None,
) -> NewDevice:
    """Register a device and commit; then on_added(device id, secret) gives it its broker login."""
    created = register(session, kind, name, household_id, device_id)
    session.commit()
    if on_added is not None:
        on_added(created.device.id, created.secret)
    return created


def rename(session: Session, device: Device, name: str) -> Device:
    """Give a device a name the household recognises."""
    device.name = name
    session.add(device)
    session.commit()
    return device


def bind_button(
    session: Session, device: Device, product: Product, qty: int, mode: str,
    substitutes: tuple[bool, int | None] | None = None,
) -> Device:
    """Bind a product, quantity and mode to a button, and (when given) whether a substitute is allowed and
    which; DeviceError, with nothing written, when the binding is invalid."""
    try:
        bind(session, device, product, qty, mode)
    except DeviceError:
        session.rollback()
        raise
    if substitutes is not None:
        _set_substitutes(device, *substitutes)
        session.add(device)
    session.commit()
    return device


def unbind_button(session: Session, device: Device) -> Device:
    """Remove a button's binding: presses are then rejected until it is bound again."""
    unbind(session, device)
    session.commit()
    return device


def _set_substitutes(device: Device, allow: bool, product_id: int | None) -> None:
    # A chosen substitute is kept only while substitutes are allowed.
    device.binding_allow_substitutes = allow
    device.binding_substitute_id = product_id if allow else None


def set_substitutes(session: Session, device: Device, allow: bool, product_id: int | None) -> Device:
    """Allow (or forbid) a substitute when the button's product is out of stock; optionally choose it."""
    _set_substitutes(device, allow, product_id)
    session.add(device)
    session.commit()
    return device


# -- pairing -------------------------------------------------------------------------------------
# Crockford's base32 alphabet: no I, L, O or U, so a code read off a label is hard to mistype.
CLAIM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLAIM_LENGTH = 12  # 60 random bits; with the per-user attempt limit, guessing one is hopeless
_CLAIM_READS = {"I": "1", "L": "1", "O": "0"}


class ClaimError(DeviceError):
    """A claim code that cannot be redeemed; status is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def new_claim_code() -> str:
    """A random claim code, grouped for reading: XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(CLAIM_ALPHABET) for _ in range(CLAIM_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CLAIM_LENGTH, 4))


def normalise_claim_code(code: str) -> str:
    """Upper case, without separators, with look-alike letters read as the digits they resemble."""
    kept = [_CLAIM_READS.get(c, c) for c in code.upper() if c.isalnum()]
    return "".join(kept)


def claim_code_hash(code: str) -> str:
    """SHA-256 of the normalised code: what the database keeps (60 random bits need no slow hash)."""
    return hashlib.sha256(normalise_claim_code(code).encode()).hexdigest()


def claim(session: Session, code: str, household_id: int, now: datetime | None = None) -> Device:
    """Bind the unclaimed device with this claim code to household_id; ClaimError (404/409) otherwise."""
    normalised = normalise_claim_code(code)
    if len(normalised) != CLAIM_LENGTH or any(c not in CLAIM_ALPHABET for c in normalised):
        raise ClaimError("no device has this claim code", 404)
    device = session.exec(select(Device).where(Device.claim_code_hash == claim_code_hash(normalised))).first()
    if device is None:
        raise ClaimError("no device has this claim code", 404)
    if not device.active:
        raise ClaimError("this device was revoked", 409)
    if device.household_id is not None:
        raise ClaimError("this claim code was already used", 409)
    device.household_id = household_id
    device.claimed_at = now or utcnow()
    session.add(device)
    return device


class ClaimBlockedError(ClaimError):
    """The user used up their failed claim attempts for now."""

    def __init__(self) -> None:
        super().__init__("too many failed claim attempts: try again later", 429)


def claim_device(
    session: Session, limiter: ClaimLimiter, user_id: int, code: str, household_id: int, now: datetime
) -> Device:
    """Pair the device with this claim code with the user's household and commit. Every failed code counts
    against the user's one budget of attempts (ClaimBlockedError once it is spent), whichever surface the
    attempt came through; ClaimError (404/409) for a code that cannot be redeemed."""
    if limiter.blocked(user_id):
        raise ClaimBlockedError
    try:
        device = claim(session, code, household_id, now)
    except ClaimError:
        limiter.failed(user_id)
        session.rollback()
        raise
    session.commit()
    return device


class ClaimLimiter:
    """Failed claim attempts per user in a sliding window of `window_s` seconds (wall clock, so that every hub
    node counts alike); its counts live in `store`: this process's memory, or the database nodes share."""

    NAME = "claim"

    def __init__(
        self, attempts: int = 5, window_s: float = 900.0, clock: Callable[[], float] = time.time,
        store: LimitStore | None = None,
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self.store: LimitStore = store or MemoryLimits({})

    def share(self, store: LimitStore) -> None:
        """Keep the counts in `store` from now on (the hub's database when several nodes serve claims)."""
        self.store = store

    def blocked(self, user_id: int) -> bool:
        """True when the user used up their failed attempts for now."""
        now, slot = self._clock(), (self.NAME, str(user_id))
        seen: list[list[float]] = []

        def change(stored: Mapping[Slot, str]) -> Written:
            seen.append(recent_failures(stored[slot], now, self.window_s))
            return {}

        self.store.update([slot], now, change)
        return len(seen[0]) >= self.attempts

    def failed(self, user_id: int) -> None:
        """Count one failed attempt."""
        now, slot = self._clock(), (self.NAME, str(user_id))

        def change(stored: Mapping[Slot, str]) -> Written:
            # Only the newest `attempts` failures can decide anything, so that is all a key keeps.
            kept = [*recent_failures(stored[slot], now, self.window_s), now][-self.attempts:]
            return {slot: (json.dumps(kept), now + self.window_s)}

        self.store.update([slot], now, change)


def recent_failures(stored: str, now: float, window_s: float) -> list[float]:
    """The failure times of a stored claim-limiter key that are still inside the window."""
    try:
        times = [float(t) for t in json.loads(stored)] if stored else []
    except (ValueError, TypeError):
        times = []
    return [t for t in times if t > now - window_s]


# -- revocation ----------------------------------------------------------------------------------
def revoke(
    session: Session, device: Device, now: datetime | None = None, on_revoked: Callable[[str], None] | None = None
) -> Device:
    """Revoke a device for good and commit: logins and events are refused from now on, its sensor slots stop
    reordering, its orders and readings stay. Then on_revoked(device id), the running hub's hook that forgets
    cached broker logins, rewrites mosquitto's files and disconnects the device (the CLI has no hub to call:
    the hub's revoke sweep does that part)."""
    mark_revoked(session, device, now)
    session.commit()
    if on_revoked is not None:
        on_revoked(device.id)
    return device


def mark_revoked(session: Session, device: Device, now: datetime | None = None) -> Device:
    """Mark a device revoked (caller commits): logins and events are refused, its orders and readings stay."""
    if device.revoked_at is None:
        device.revoked_at = now or utcnow()
    device.active = False
    device.online = False
    session.add(device)
    stop_replenishment(session, device)
    repos.notify_devices_changed(session)
    return device


def stop_replenishment(session: Session, device: Device) -> None:
    """Stop automatic reorders fed by this device's sensor slots: they are paused, their history kept."""
    pause_device_slots(session, device.id)


# -- new secrets ---------------------------------------------------------------------------------
def rekey(
    session: Session, device: Device, on_added: Callable[[str, str], None] | None = None
) -> str:
    """Give an active device a new random secret and commit; the old one stops working. Returns the secret,
    shown once (it goes into the device's new config bundle); then on_added(device id, secret) as for a new
    device. Devices added before brokers that check bcrypt (NATS) get their login there this way."""
    if not device.active:
        raise DeviceError(f"device {device.id} is revoked; add a new device instead")
    secret = secrets.token_urlsafe(24)
    device.secret_hash = hash_secret(secret)
    device.nats_secret_hash = nats_secret_hash(secret)
    session.add(device)
    repos.notify_devices_changed(session)
    session.commit()
    if on_added is not None:
        on_added(device.id, secret)
    return secret
