"""SQLModel tables. Money is integer minor units plus currency; every time is aware UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Index, Table, Text, UniqueConstraint, event, insert, inspect, text
from sqlmodel import Field, SQLModel

from hub.domain.order_size import DEFAULT_TRADEOFF
from hub.store.types import UTCDateTime, utcnow


class HouseholdBase(SQLModel):
    """A household's name and control settings."""

    name: str = Field(max_length=100)
    currency: str = Field(default="EUR", max_length=3)
    cancel_window_s: int = Field(default=1800, ge=0, le=7 * 24 * 3600)
    allow_multiple_orders: bool = False
    per_order_cap: int | None = Field(default=None, ge=0)
    monthly_cap: int | None = Field(default=None, ge=0)
    price_tolerance_pct: int = Field(default=10, ge=0, le=1000)
    scan_mode: str = Field(default="cart", max_length=10)


class Household(HouseholdBase, table=True):
    """A home: its devices, users, orders and cart."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class User(SQLModel, table=True):
    """A person who signs in for a household."""

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token; only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class Device(SQLModel, table=True):
    """A physical (or simulated) device; its id is the MQTT username and topic segment."""

    id: str = Field(primary_key=True, max_length=32)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    kind: str = Field(max_length=20)
    name: str = Field(default="", max_length=100)
    secret_hash: str = Field(max_length=200)
    # bcrypt of the same secret, for brokers that check logins themselves (NATS); None on devices added
    # before it existed, which must be re-keyed to log in there.
    nats_secret_hash: str | None = Field(default=None, max_length=100)
    active: bool = True
    binding_product_id: int | None = Field(default=None, foreign_key="product.id")
    binding_qty: int = Field(default=1, ge=1, le=99)
    binding_mode: str | None = Field(default=None, max_length=10)
    binding_unit_price: int | None = None
    online: bool = False
    last_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    battery_mv: int | None = None
    rssi: int | None = None
    firmware: str | None = Field(default=None, max_length=40)
    outbox: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Provisioning: SHA-256 of the claim code (the code itself is shown once), when it was
    # redeemed, and when the device was revoked (active is then False; its orders are kept).
    claim_code_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # May the merchant send a substitute when the bound product is out of stock; the household's
    # own choice of substitute (None = the shop's suggestion).
    binding_allow_substitutes: bool = False
    binding_substitute_id: int | None = Field(default=None, foreign_key="product.id")


class BatteryReading(SQLModel, table=True):
    """A battery voltage a device reported, kept when it changed: the history the battery-life forecast reads.
    Written by _record_battery below whenever a device row's battery_mv changes."""

    __table_args__ = (Index("ix_batteryreading_device_at", "device_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="device.id", max_length=32)
    at: datetime = Field(sa_type=UTCDateTime)
    millivolts: int


def _record_battery(_mapper: Any, connection: Connection, device: Device) -> None:
    """Keep a device's new battery voltage in its history, in the transaction that stores it: every writer of
    battery_mv (the ingest's status handling above all) feeds the forecast without knowing about it."""
    if device.battery_mv is None:
        return
    history = inspect(device).attrs.battery_mv.history
    if not history.added or (history.deleted and history.deleted[0] == device.battery_mv):
        return  # unchanged: a device that reports the same voltage on every wake adds no row
    connection.execute(
        insert(table_of(BatteryReading)),
        {"device_id": device.id, "at": device.last_seen or utcnow(), "millivolts": device.battery_mv},
    )


event.listen(Device, "after_insert", _record_battery)
event.listen(Device, "after_update", _record_battery)


class Product(SQLModel, table=True):
    """A product the merchant sells; household_id None = the shared merchant catalog."""

    __table_args__ = (UniqueConstraint("merchant", "sku"),)
    id: int | None = Field(default=None, primary_key=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    merchant: str = Field(default="demo", max_length=40)
    sku: str = Field(max_length=64)
    name: str = Field(max_length=200)
    price: int = Field(ge=0)
    currency: str = Field(default="EUR", max_length=3)
    pack_size: float = Field(default=1.0, gt=0)
    unit: str = Field(default="piece", max_length=10)
    stock: int | None = Field(default=None, ge=0)


class ProductGtin(SQLModel, table=True):
    """A GTIN-14 that identifies a product; household_id None = the shared catalog's mapping."""

    # A household's own mapping wins over the shared one for that household only, so mapping a barcode
    # never takes it away from another household. NULLs are distinct in a unique constraint, hence the
    # partial index that keeps one shared mapping per GTIN.
    __table_args__ = (
        UniqueConstraint("gtin", "household_id", name="uq_productgtin_gtin_household"),
        Index(
            "uq_productgtin_shared_gtin",
            "gtin",
            unique=True,
            sqlite_where=text("household_id IS NULL"),
            postgresql_where=text("household_id IS NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(max_length=14)
    product_id: int = Field(foreign_key="product.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)


class Order(SQLModel, table=True):
    """An order and where it is in its lifecycle; `due_at` is its next durable timer."""

    __table_args__ = (Index("ix_order_status_due", "status", "due_at"),)
    id: str = Field(primary_key=True, max_length=20)
    household_id: int = Field(foreign_key="household.id", index=True)
    device_id: str | None = Field(default=None, foreign_key="device.id", index=True)
    source: str = Field(max_length=20)
    status: str = Field(max_length=20)
    total: int
    currency: str = Field(max_length=3)
    reason: str | None = Field(default=None, max_length=40)
    cancel_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    merchant: str = Field(default="demo", max_length=40)
    merchant_ref: str | None = Field(default=None, max_length=64)
    tracking: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # HTTP attempts of the request now being made to a remote merchant (0 = none in flight); a
    # substitution bumps `revision`, which is part of the idempotency key of the new submission.
    attempts: int = Field(default=0)
    revision: int = Field(default=0)
    carrier: str | None = Field(default=None, max_length=40)
    return_reason: str | None = Field(default=None, max_length=200)
    slot_id: int | None = Field(default=None, foreign_key="slot.id", index=True)
    # The shop's promised delivery date, set when it takes the order (or later, when it revises it).
    expected_delivery: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderLine(SQLModel, table=True):
    """One product in an order, with name and price as they were when ordered."""

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="order.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    name: str = Field(max_length=200)
    qty: int = Field(ge=1)
    unit_price: int = Field(ge=0)


class OrderEvent(SQLModel, table=True):
    """One step of an order's timeline, with who caused it."""

    # The notification outbox scans for steps not yet notified; the partial index stays as small as that backlog.
    __table_args__ = (
        Index(
            "ix_orderevent_unnotified",
            "id",
            sqlite_where=text("NOT notified"),
            postgresql_where=text("NOT notified"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="order.id", index=True)
    status: str = Field(max_length=20)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=60)
    note: str | None = Field(default=None, max_length=200)
    # The notification outbox turns each step into household notifications exactly once.
    notified: bool = Field(default=False)


class CartLine(SQLModel, table=True):
    """A product in a household's shared cart."""

    __table_args__ = (UniqueConstraint("household_id", "product_id"),)
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    qty: int = Field(ge=1)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InboxEntry(SQLModel, table=True):
    """An unknown barcode a household scanned, waiting to be mapped to a product."""

    __table_args__ = (UniqueConstraint("household_id", "gtin"),)
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    gtin: str = Field(max_length=14)
    count: int = 1
    device_id: str | None = Field(default=None, max_length=32)
    first_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved: bool = False
    # Open Food Facts name lookup (filled after the scan is committed): found, not_found, timeout, ...
    suggestion: str | None = Field(default=None, max_length=200)
    lookup_status: str | None = Field(default=None, max_length=20)
    lookup_detail: str | None = Field(default=None, max_length=200)


class Reading(SQLModel, table=True):
    """A sensor reading of one slot."""

    __table_args__ = (Index("ix_reading_slot_at", "device_id", "slot", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="device.id")
    slot: str = Field(max_length=32)
    value: float
    unit: str = Field(max_length=10)
    at: datetime = Field(sa_type=UTCDateTime)


class ProcessedEvent(SQLModel, table=True):
    """The key of every accepted event and the feedback it got, so a replay is answered the same."""

    __table_args__ = (UniqueConstraint("device_id", "seq", name="uq_processed_device_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=32)
    seq: int
    type: str = Field(max_length=10)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    feedback: str = Field(sa_column=Column(Text, nullable=False))
    order_id: str | None = Field(default=None, max_length=20)


class DeadLetter(SQLModel, table=True):
    """A message that could not be accepted, kept with the reason."""

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=200)
    device_id: str | None = Field(default=None, max_length=64, index=True)
    seq: int | None = None
    reason: str = Field(max_length=40)
    detail: str = Field(default="", max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- Merchant connectors, callbacks, notification outbox ------------------------------------------------


class MerchantAccount(SQLModel, table=True):
    """A household's own shop reached over HTTP (webhook merchant); its products carry its `name`."""

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    name: str = Field(max_length=40, unique=True)
    kind: str = Field(default="webhook", max_length=20)
    url: str = Field(max_length=500)
    # The shared HMAC key must be kept in clear to sign requests; the API never returns it.
    secret: str = Field(max_length=200)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MerchantCallback(SQLModel, table=True):
    """A merchant callback that was accepted; its event id refuses a replay."""

    __table_args__ = (UniqueConstraint("merchant", "event_id", name="uq_merchantcallback_event"),)
    id: int | None = Field(default=None, primary_key=True)
    merchant: str = Field(max_length=40)
    event_id: str = Field(max_length=100)
    order_id: str = Field(max_length=20)
    status: str = Field(max_length=20)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotifyChannel(SQLModel, table=True):
    """Where a household's notifications go: a webhook URL, an e-mail address or an Apprise URL (push)."""

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    kind: str = Field(max_length=10)
    target: str = Field(max_length=500)
    secret: str | None = Field(default=None, max_length=100)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Which groups of notifications go here (hub.notify.channels.EVENT_GROUPS), comma-separated.
    events: str = Field(
        default="orders,supply,device", max_length=40, sa_column_kwargs={"server_default": "orders,supply,device"}
    )


class ActionLinkUse(SQLModel, table=True):
    """A one-tap link from a notification that has been used: its nonce refuses every later tap."""

    nonce: str = Field(primary_key=True, max_length=32)
    household_id: int = Field(foreign_key="household.id", index=True)
    order_id: str = Field(max_length=20)
    action: str = Field(max_length=10)
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Notification(SQLModel, table=True):
    """One thing the household is told about; `key` makes it happen once.

    An order step's notification stores only the step (`order_event_id`): its text, lines and one-tap links are
    built when it is read (hub/notify/render.py). Others store their payload as JSON.
    """

    __table_args__ = (UniqueConstraint("household_id", "key", name="uq_notification_key"),)
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    kind: str = Field(max_length=40)
    key: str = Field(max_length=120)
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    order_event_id: int | None = Field(default=None, foreign_key="orderevent.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotificationDelivery(SQLModel, table=True):
    """A notification on its way to one channel: retried with backoff until sent or given up."""

    __table_args__ = (Index("ix_delivery_status_next", "status", "next_at"),)
    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notification.id", index=True)
    channel_id: int = Field(foreign_key="notifychannel.id", index=True)
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    next_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Slot(SQLModel, table=True):
    """A sensor slot (a device's `slot` name) and the household's reorder policy for it."""

    __table_args__ = (UniqueConstraint("device_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    device_id: str = Field(foreign_key="device.id")
    name: str = Field(max_length=32)
    unit: str = Field(max_length=10)
    product_id: int | None = Field(default=None, foreign_key="product.id")
    mode: str = Field(default="notify", max_length=10)
    pack_size: float | None = Field(default=None, gt=0)
    lead_time_days: float = Field(default=5.0, ge=0)
    safety_days: float = Field(default=3.0, ge=0)
    target_days: float = Field(default=30.0, gt=0)
    max_stock: float | None = Field(default=None, gt=0)
    # Deliveries against cupboard (0 = less in the cupboard, 1 = fewer deliveries), and the share of
    # a pack below which a slot still learning its rate orders at once.
    order_tradeoff: float = Field(default=DEFAULT_TRADEOFF, ge=0, le=1)
    learning_low: float = Field(default=0.25, ge=0, le=1)
    last_action: str | None = Field(default=None, max_length=10)
    last_reason: str | None = Field(default=None, max_length=120)
    run_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for bulk INSERTs that skip the ORM's per-row bookkeeping."""
    table = model.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models; stubs lack it
    assert isinstance(table, Table)
    return table


class SharedLimit(SQLModel, table=True):
    """One key of a rate limiter (sign-in, claim codes) that every hub node reads and updates under a row lock."""

    limiter: str = Field(primary_key=True, max_length=20)
    key: str = Field(primary_key=True, max_length=320)
    # The limiter's own JSON state of the key; empty for a row just created and not yet written.
    state: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # Epoch seconds after which the key starts afresh and the row may be deleted.
    expires: float = Field(index=True)


class SharedSecret(SQLModel, table=True):
    """A secret every hub node must agree on (the action-link signing key), created once by whichever node is first."""

    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
