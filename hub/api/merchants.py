"""Webhook merchants of the caller's household, their products, substitutes per button, and shop callbacks."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.api.deps import CallerDep, ClockDep, RuntimeDep, SessionDep, conflict, not_found
from hub.api.errors import BODY, errors
from hub.api.presenters import product_out
from hub.api.schemas import (
    CallbackIn,
    CallbackOut,
    DeviceIdPath,
    MerchantIn,
    MerchantName,
    MerchantOut,
    MerchantProductIn,
    ProductOut,
    SubstituteIn,
    SubstituteOut,
)
from hub.merchants.signing import MERCHANT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from hub.merchants.webhook import promised_date
from hub.services import callbacks, merchant_accounts, order_actions
from hub.services import devices as device_service
from hub.store import repos
from hub.store.models import MerchantAccount

router = APIRouter(prefix="/api/v1/merchants", tags=["merchants"], responses=errors(401))
substitutes = APIRouter(prefix="/api/v1/devices", tags=["devices"], responses=errors(401))
log = logging.getLogger(__name__)
_NOBODYS_KEY = secrets.token_urlsafe(32)


def _signed_callback() -> dict[str, Any]:
    """The callback's headers and JSON body for the OpenAPI document; the route reads them itself (signature first)."""
    body = CallbackIn.model_json_schema(ref_template="#/components/schemas/{model}")
    # The one nested model (the substitute) is a component already: the body of POST /{merchant}/products.
    body.pop("$defs", None)
    headers = {
        MERCHANT_HEADER: "The shop's merchant name",
        TIMESTAMP_HEADER: "Unix seconds when the shop signed the request",
        SIGNATURE_HEADER: "sha256=<hex HMAC-SHA256 of '<timestamp>.<body>' with the shop's secret>",
    }
    return {
        "parameters": [
            {"name": name, "in": "header", "required": True, "description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
    }


def _own(session: SessionDep, caller: CallerDep, name: str) -> MerchantAccount:
    account = repos.household_merchant(session, caller.household_id, name)
    if account is None or not account.active:
        raise not_found(f"merchant {name}")
    return account


@router.get("", response_model=list[MerchantOut])
def list_merchants(caller: CallerDep, session: SessionDep) -> list[MerchantOut]:
    """The household's webhook merchants."""
    return [MerchantOut.model_validate(m) for m in repos.household_merchants(session, caller.household_id)]


@router.post("", response_model=MerchantOut, status_code=status.HTTP_201_CREATED, responses=errors(409, *BODY))
def add_merchant(body: MerchantIn, caller: CallerDep, session: SessionDep) -> MerchantOut:
    """Add a shop reached over HTTP; its name is global (it labels its products and callbacks)."""
    try:
        account = merchant_accounts.add_merchant(session, caller.household_id, body.name, body.url, body.secret)
    except merchant_accounts.MerchantConflictError as exc:
        raise conflict(str(exc)) from None
    return MerchantOut.model_validate(account)


@router.delete("/{merchant}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 422))
def remove_merchant(merchant: MerchantName, caller: CallerDep, session: SessionDep) -> None:
    """Stop using a shop; its orders stay, and new orders of its products fail with no_merchant."""
    merchant_accounts.remove_merchant(session, _own(session, caller, merchant))


@router.post(
    "/{merchant}/products", response_model=ProductOut, status_code=status.HTTP_201_CREATED,
    responses=errors(404, 409, *BODY),
)
def add_product(merchant: MerchantName, body: MerchantProductIn, caller: CallerDep, session: SessionDep) -> ProductOut:
    """Add a product of the household's shop to its catalog, so buttons can be bound to it."""
    account = _own(session, caller, merchant)
    try:
        product = merchant_accounts.add_product(
            session, caller.household_id, account, body.sku, body.name, body.price, body.currency
        )
    except merchant_accounts.MerchantConflictError as exc:
        raise conflict(str(exc)) from None
    return product_out(session, product)


@substitutes.put("/{device_id}/substitutes", response_model=SubstituteOut, responses=errors(404, *BODY))
def set_substitutes(
    device_id: DeviceIdPath, body: SubstituteIn, caller: CallerDep, session: SessionDep
) -> SubstituteOut:
    """Allow (or forbid) a substitute when a button's product is out of stock; optionally choose it."""
    device = repos.device(session, device_id)
    if device is None or device.household_id != caller.household_id:
        raise not_found(f"device {device_id}")
    if body.product_id is not None and repos.visible_product(session, caller.household_id, body.product_id) is None:
        raise not_found(f"product {body.product_id}")
    device_service.set_substitutes(session, device, body.allow, body.product_id)
    return SubstituteOut(device_id=device.id, allow=device.binding_allow_substitutes,
                         product_id=device.binding_substitute_id)


@router.post(
    "/callback", response_model=CallbackOut, openapi_extra=_signed_callback(), responses=errors(404, 409, 413, 422)
)
async def callback(request: Request, clock: ClockDep, runtime: RuntimeDep) -> CallbackOut:
    """A shop reports a status change: signed (X-Restock-Signature over timestamp.body), fresh, never replayed."""
    raw = await request.body()
    name = request.headers.get(MERCHANT_HEADER, "")
    timestamp, signature = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
    max_age = runtime.settings.merchant.callback_max_age_s

    def apply() -> CallbackOut:
        with Session(runtime.engine, expire_on_commit=False) as session:
            return _apply_callback(session, name, timestamp, signature, raw, clock.now(), max_age)

    # The database work runs in the thread pool: the event loop serves devices and streams meanwhile.
    return await run_in_threadpool(apply)


def _apply_callback(
    session: Session, name: str, timestamp: str | None, signature: str | None, raw: bytes, now: datetime,
    max_age: float,
) -> CallbackOut:
    account = repos.merchant_account(session, name) if name else None
    if account is not None and not account.active:
        account = None
    try:
        # An unknown name is checked against a key nobody has: it fails exactly like a wrong signature, so the
        # answer never tells which merchant names exist.
        verify(account.secret if account is not None else _NOBODYS_KEY, timestamp, signature, raw, now, max_age)
        if account is None:
            raise SignatureError("bad signature")
    except SignatureError as exc:
        log.warning("merchant callback refused", extra={"merchant": name, "reason": str(exc)})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"callback refused: {exc}") from None
    try:
        body = CallbackIn.model_validate(json.loads(raw))
    except (ValueError, RecursionError, ValidationError) as exc:
        # RecursionError: JSON nested thousands deep, which json.loads gives up on.
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad callback body: {exc}"[:300]) from None
    sub = body.substitute
    change = callbacks.Callback(
        event_id=body.event_id, order_id=body.order_id, status=body.status, tracking=body.tracking,
        carrier=body.carrier, reason=body.reason, substitute_sku=sub.sku if sub else None,
        substitute_name=sub.name if sub else None, substitute_price=sub.price if sub else None,
    )
    try:
        order = order_actions.apply_callback(session, account, change, promised_date(body.expected_delivery), now)
    except callbacks.CallbackError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except IntegrityError:
        # Two deliveries of one event raced: the other one was applied.
        raise conflict(f"event {body.event_id} was already applied") from None
    log.info("merchant callback", extra={"merchant": name, "order": order.id, "status": order.status})
    return CallbackOut(order_id=order.id, status=order.status)
