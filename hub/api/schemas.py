"""Request and response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.domain.devices import DeviceKind

# Ids and amounts live in 32-bit integer columns: larger values are refused with a reason, not a 500 from the driver.
MAX_ID = 2**31 - 1
ProductIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A product id")]
# PostgreSQL text cannot hold NUL: an id with one is refused (422) before it reaches a query (a 500 there).
NO_NUL = r"^[^\x00]*$"
# The smallest pack a slot or product may name, as in catalog files (three decimals): a tinier one makes the
# number of packs in a refill or an order overflow.
MIN_PACK = 0.001
DeviceIdPath = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="A device id")]
OrderIdPath = Annotated[str, Path(max_length=64, pattern=NO_NUL, description="An order id")]


class RequestBody(BaseModel):
    """Base of every JSON request body: values are taken as the schema types them, never converted.

    Pydantic's lax mode would read `true` as the product id 1 and "12" as the number 12; strict mode refuses
    both (422), so what is stored is what the client meant. Numbers stay numbers: 5 is a valid float.
    """

    model_config = ConfigDict(strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        """Text must fit a database column: PostgreSQL refuses NUL (pydantic already refuses lone surrogates)."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("may not contain NUL characters")
        return value


class SignUp(RequestBody):
    """A new household and its first user."""

    household: str = Field(min_length=1, max_length=100)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=200)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


class TokenOut(BaseModel):
    """A bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"


class UserOut(BaseModel):
    """The signed-in user."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str
    household_id: int


class HouseholdOut(BaseModel):
    """Household settings."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    currency: str
    cancel_window_s: int
    allow_multiple_orders: bool
    per_order_cap: int | None
    monthly_cap: int | None
    price_tolerance_pct: int
    scan_mode: str


class HouseholdPatch(RequestBody):
    """Household settings to change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    cancel_window_s: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    allow_multiple_orders: bool | None = None
    per_order_cap: int | None = Field(default=None, ge=0, le=MAX_ID)
    monthly_cap: int | None = Field(default=None, ge=0, le=MAX_ID)
    price_tolerance_pct: int | None = Field(default=None, ge=0, le=1000)
    scan_mode: Literal["cart", "order"] | None = None

    @field_validator(
        "name", "cancel_window_s", "allow_multiple_orders", "price_tolerance_pct", "scan_mode", mode="before"
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        """Only the caps can be removed with null; the other settings always have a value."""
        if value is None:
            raise ValueError("may not be null (omit the field to keep its value)")
        return value


class DeviceCreate(RequestBody):
    """Register a device to the caller's household."""

    model_config = ConfigDict(extra="forbid")
    kind: DeviceKind = Field(strict=False)  # JSON has no enum type: the value is one of the names
    name: str = Field(default="", max_length=100)
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{2,31}$")


class BindingOut(BaseModel):
    """What a button orders."""

    product_id: int
    product: str
    qty: int
    mode: str
    unit_price_at_binding: int | None


class DeviceOut(BaseModel):
    """A device as the household sees it."""

    id: str
    kind: str
    name: str
    active: bool
    online: bool
    last_seen: datetime | None
    battery_mv: int | None
    rssi: int | None
    firmware: str | None
    outbox: int | None
    binding: BindingOut | None


class DeviceCreated(DeviceOut):
    """A new device with its MQTT secret, shown only this once."""

    secret: str


class DevicePatch(RequestBody):
    """Rename a device."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class BindingIn(RequestBody):
    """Bind a product to a button."""

    model_config = ConfigDict(extra="forbid")
    product_id: int = Field(ge=1, le=MAX_ID)
    qty: int = Field(default=1, ge=1, le=99)
    mode: Literal["order", "cart", "approve"] = "order"


class ProductOut(BaseModel):
    """A product with its price in minor units."""

    id: int
    sku: str
    name: str
    price: int
    currency: str
    pack_size: float
    unit: str
    gtins: list[str]
    in_stock: bool | None


class OrderLineOut(BaseModel):
    """One order line."""

    model_config = ConfigDict(from_attributes=True)
    product_id: int
    name: str
    qty: int
    unit_price: int


class OrderEventOut(BaseModel):
    """One timeline step."""

    model_config = ConfigDict(from_attributes=True)
    status: str
    at: datetime
    actor: str
    note: str | None


class OrderOut(BaseModel):
    """An order with its lines."""

    id: str
    status: str
    reason: str | None
    source: str
    device_id: str | None
    total: int
    currency: str
    cancel_until: datetime | None
    tracking: str | None
    expected_delivery: datetime | None = Field(
        default=None, description="The delivery date the shop promised when it took the order (null until then)"
    )
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLineOut]


class OrderDetail(OrderOut):
    """An order with its timeline."""

    timeline: list[OrderEventOut]


class CartLineOut(BaseModel):
    """A cart line with its product."""

    product_id: int
    name: str
    qty: int
    unit_price: int
    currency: str
    line_total: int


class CartOut(BaseModel):
    """The household cart."""

    lines: list[CartLineOut]
    total: int
    currency: str


class CartQty(RequestBody):
    """A new quantity for a cart line (0 removes it)."""

    model_config = ConfigDict(extra="forbid")
    qty: int = Field(ge=0, le=999)


class DeadLetterOut(BaseModel):
    """A rejected message of one of the household's devices."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    topic: str
    device_id: str | None
    seq: int | None
    reason: str
    detail: str
    received_at: datetime




# --- Merchants, substitutes, returns, notifications -------------------------------------------------------

MerchantName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{2,39}$", description="A webhook merchant's name")]


class MerchantIn(RequestBody):
    """A shop reached over HTTP: where orders are POSTed and the secret both sides sign with."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{2,39}$")
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://\S+$")
    secret: str = Field(min_length=16, max_length=200)


class MerchantOut(BaseModel):
    """A webhook merchant as the household sees it (never its secret)."""

    model_config = ConfigDict(from_attributes=True)
    name: str
    kind: str
    url: str
    created_at: datetime


class MerchantProductIn(RequestBody):
    """A product the household's shop sells."""

    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    price: int = Field(ge=0, le=MAX_ID)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


class SubstituteIn(RequestBody):
    """Whether a button's order may be substituted when out of stock, and by what (None: the shop's choice)."""

    model_config = ConfigDict(extra="forbid")
    allow: bool
    product_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class SubstituteOut(BaseModel):
    """A button's substitute setting."""

    device_id: str
    allow: bool
    product_id: int | None


class ReturnIn(RequestBody):
    """Why a delivered order goes back."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


class CallbackIn(RequestBody):
    """A status change a shop reports for one of its orders."""

    event_id: str = Field(min_length=1, max_length=100)
    order_id: str = Field(min_length=1, max_length=20)
    status: Literal["confirmed", "shipped", "delivered", "cancelled", "failed", "out_of_stock", "returned"]
    tracking: str | None = Field(default=None, max_length=64)
    carrier: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=200)
    substitute: MerchantProductIn | None = None
    expected_delivery: str | None = Field(
        default=None, max_length=40,
        description="The delivery date the shop promises now, read like `expected_delivery` in its answer to an "
        "order: an ISO 8601 date (the end of that day, UTC) or a date-time with its offset; anything else is "
        "ignored and the step still applied",
        examples=["2025-03-14", "2025-03-14T18:00:00+01:00"],
    )


class CallbackOut(BaseModel):
    """The order after a callback."""

    order_id: str
    status: str


EventGroup = Literal["orders", "supply", "device"]


class ChannelIn(RequestBody):
    """A notification channel: a webhook URL, an e-mail address or an Apprise URL (push, e.g. ntfy://host/topic),
    and which groups of notifications it receives (default: all)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["webhook", "email", "apprise"]
    target: str = Field(min_length=3, max_length=500)
    events: list[EventGroup] = Field(default=["orders", "supply", "device"], min_length=1,
                                     description="orders: every order step; supply: low supplies; device: "
                                     "devices offline or low on battery")


class ChannelOut(BaseModel):
    """A notification channel (its signing secret is shown only when created; an Apprise URL only masked)."""

    id: int
    kind: str
    target: str = Field(description="The address or URL; an Apprise URL without its credentials and secret parts")
    events: list[str]
    created_at: datetime


class ChannelTestOut(BaseModel):
    """How a test message to a channel went: sent straight away, not through the retrying outbox."""

    channel_id: int
    delivered: bool
    detail: str = Field(description="'delivered', or the receiving service's answer or the error, in one line")


class ChannelCreated(ChannelOut):
    """A new channel; a webhook's signing secret is shown this once."""

    secret: str | None


class DeliveryOut(BaseModel):
    """Where a notification stands on one channel."""

    model_config = ConfigDict(from_attributes=True)
    channel_id: int
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class NotificationOut(BaseModel):
    """One notification with its deliveries."""

    id: int
    kind: str
    created_at: datetime
    payload: dict[str, object]
    deliveries: list[DeliveryOut]
