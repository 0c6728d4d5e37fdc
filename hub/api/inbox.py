"""The household's inbox of unknown barcodes: list, map to a product, create a product, dismiss."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session

from hub.api.deps import CallerDep, ClockDep, SessionDep, conflict, not_found
from hub.api.errors import BODY, errors
from hub.api.presenters import cart_out, product_out
from hub.api.schemas import MAX_ID, MIN_PACK, CartOut, ProductOut, RequestBody
from hub.services import inbox as inbox_service
from hub.store import repos
from hub.store.models import InboxEntry

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"], responses=errors(401))

EntryIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An inbox entry id")]


class InboxEntryOut(BaseModel):
    """An unknown barcode waiting to be mapped, with the name suggestion if one was found."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    gtin: str
    count: int
    device_id: str | None
    first_seen: datetime
    last_seen: datetime
    suggestion: str | None
    lookup_status: str | None
    lookup_detail: str | None


class MapIn(RequestBody):
    """The product an unknown barcode is."""

    model_config = ConfigDict(extra="forbid")
    product_id: int = Field(ge=1, le=MAX_ID)


class CreateProductIn(RequestBody):
    """A new product of the household's own for an unknown barcode; price in minor units (cents)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    price: int = Field(ge=0, le=10**12)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    pack_size: float = Field(default=1.0, ge=MIN_PACK, le=10**9)
    unit: Literal["piece", "g", "ml", "count"] = "piece"

    @field_validator("name", "sku")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        """Names and SKUs are shown everywhere; control characters would break those displays."""
        if value is not None:
            value = value.strip()
            if not value or not value.isprintable():
                raise ValueError("must be printable text")
        return value


class Resolved(BaseModel):
    """The product the barcode now maps to, and the cart its scans went into."""

    product: ProductOut
    cart: CartOut


def _entry(session: Session, household_id: int, entry_id: int) -> InboxEntry:
    entry = repos.inbox_entry_by_id(session, household_id, entry_id)
    if entry is None:
        raise not_found(f"inbox entry {entry_id}")
    if entry.resolved:
        raise conflict(f"inbox entry {entry_id} was already mapped or dismissed")
    return entry


def _http(exc: inbox_service.InboxError) -> HTTPException:
    if isinstance(exc, inbox_service.ProductNotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, "product not found")
    if isinstance(exc, inbox_service.EntryNotFoundError):
        return not_found("inbox entry")
    if isinstance(exc, inbox_service.MerchantNotFoundError):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    return conflict(str(exc))


@router.get("", response_model=list[InboxEntryOut])
def list_inbox(caller: CallerDep, session: SessionDep) -> list[InboxEntryOut]:
    """Unknown barcodes of the household, most recently scanned first."""
    return [InboxEntryOut.model_validate(e) for e in repos.inbox(session, caller.household_id)]


@router.post("/{entry_id}/map", response_model=Resolved, responses=errors(404, 409, *BODY))
def map_entry(entry_id: EntryIdPath, body: MapIn, caller: CallerDep, session: SessionDep, clock: ClockDep) -> Resolved:
    """Map the barcode to a product for this household; its scans so far move into the cart."""
    entry = _entry(session, caller.household_id, entry_id)
    try:
        inbox_service.map_gtin(session, caller.household_id, entry.gtin, body.product_id, clock.now())
    except inbox_service.InboxError as exc:
        raise _http(exc) from None
    product = repos.visible_product(session, caller.household_id, body.product_id)
    assert product is not None
    return Resolved(product=product_out(session, product), cart=cart_out(session, caller.household))


@router.post(
    "/{entry_id}/create-product", response_model=Resolved, status_code=status.HTTP_201_CREATED,
    responses=errors(404, 409, *BODY),
)
def create_product(
    entry_id: EntryIdPath, body: CreateProductIn, caller: CallerDep, session: SessionDep, clock: ClockDep
) -> Resolved:
    """Create a product of the household's own with this barcode; its scans so far move into the cart."""
    entry = _entry(session, caller.household_id, entry_id)
    spec = inbox_service.NewProduct(
        name=body.name,
        price=body.price,
        currency=body.currency,
        pack_size=body.pack_size,
        unit=body.unit,
        sku=body.sku,
    )
    try:
        product, _ = inbox_service.create_product(session, caller.household_id, entry.gtin, spec, clock.now())
    except inbox_service.InboxError as exc:
        raise _http(exc) from None
    return Resolved(product=product_out(session, product), cart=cart_out(session, caller.household))


@router.delete("/{entry_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409, 422))
def dismiss_entry(entry_id: EntryIdPath, caller: CallerDep, session: SessionDep) -> Response:
    """Drop the barcode from the inbox without mapping it (scanning it again brings it back)."""
    entry = _entry(session, caller.household_id, entry_id)
    try:
        inbox_service.dismiss(session, caller.household_id, entry.gtin)
    except inbox_service.InboxError as exc:
        raise _http(exc) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
