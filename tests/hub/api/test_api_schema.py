"""The OpenAPI document tells the truth: schemathesis over every operation, signed in, against real data.

Each operation gets generated requests, valid and invalid, once with generated path ids and once with ids of
a household's real data (so answers beyond 404 are reached), plus one known-good request. Every response
must not be a server error, must have a status code the document declares, and must match the declared
body schema. The run is bounded (a few hundred requests) and derandomized, so it is repeatable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from sqlmodel import Session

from hub.app import create_app
from hub.broker.mosquitto import MosquittoProcess
from hub.domain.lifecycle import OrderStatus
from hub.domain.press import Mode
from hub.merchants.signing import MERCHANT_HEADER, signed_headers
from hub.notify import channels
from hub.scheduler.clock import Clock
from hub.services import accounts, cart, devices
from hub.services import orders as order_service
from hub.store import repos
from hub.store.models import DeadLetter, Household, InboxEntry, MerchantAccount, Product, Reading, Slot
from tests.hub.conftest import hub_settings

pytestmark = [pytest.mark.broker, pytest.mark.slow]

Operation = APIOperation[Any, Any, Any, Any]
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# Generated requests per operation, per kind (valid / invalid data) and per id source (generated / real).
EXAMPLES = 10
# Operations that change what the others are called with run after them; signing out ends the run.
LAST = {"DELETE": 1, "POST /api/v1/devices/{device_id}/revoke": 2, "POST /api/v1/auth/logout": 3}
EMAIL, PASSWORD = "schema@example.org", "long enough"
SHOP, SHOP_SECRET = "schema-shop", "s" * 24
# Valid GTIN-14s that no catalog maps (an inbox only holds unknown barcodes).
GTINS = ("05901234123457", "00012345678905", "09780201379624")


@dataclass
class Seeded:
    """A signed-in household with data of every kind: ids for paths, and one good request per operation."""

    token: str
    ids: dict[str, Any]
    good: dict[str, dict[str, Any]] = field(default_factory=dict)


def _order(session: Session, household: Household, product: Product, now: Any, mode: Mode = Mode.ORDER,
           status: str | None = None) -> str:
    order = order_service.create_order(session, household, [order_service.LineRequest(product, 1)],
                                       source="cart", actor="user:schema", now=now, mode=mode)
    if status is not None:
        # Where the order would be after the shop's steps; no timer is left for the scheduler to fire.
        order.status, order.due_at = status, None
    session.flush()
    return order.id


def seed(app: FastAPI, now: Any) -> Seeded:
    """A household with a bound button, a sensor slot with readings, orders in several states, a cart, inbox
    entries, a webhook shop with a product, a notification channel, a dead letter and an unclaimed device."""
    with Session(app.state.engine, expire_on_commit=False) as session:
        user = accounts.create_household(session, "Schema home", EMAIL, PASSWORD)
        household = session.get(Household, user.household_id)
        assert household is not None and household.id is not None
        hid = household.id
        coffee = repos.product_by_sku(session, "demo", "COF-1KG")
        soap = repos.product_by_sku(session, "demo", "DSH-500")
        assert coffee is not None and soap is not None
        button = devices.register(session, "dash_button", "Coffee", hid, "btn-schema").device
        devices.bind(session, button, coffee, 1, "order")
        devices.register(session, "appliance_sensor", "Washer", hid, "sensor-schema")
        unclaimed = devices.register(session, "dash_button", "", None, "free-schema")
        slot = Slot(household_id=hid, device_id="sensor-schema", name="detergent", unit="g", product_id=soap.id,
                    mode="auto", pack_size=500)
        session.add(slot)
        for day in range(6):
            session.add(Reading(device_id="sensor-schema", slot="detergent", value=3000 - 400 * day, unit="g",
                                at=now - timedelta(days=6 - day)))
        session.add(MerchantAccount(household_id=hid, name=SHOP, url="http://127.0.0.1:9/orders", secret=SHOP_SECRET))
        shop_product = Product(household_id=hid, merchant=SHOP, sku="SCHEMA-1", name="Shop thing", price=250)
        session.add(shop_product)
        session.flush()
        pending = _order(session, household, coffee, now)
        approve, reject = (_order(session, household, soap, now, Mode.APPROVE) for _ in range(2))
        delivered = _order(session, household, soap, now, status=OrderStatus.DELIVERED)
        at_shop = _order(session, household, shop_product, now, status=OrderStatus.SUBMITTED)
        cart.add(session, hid, soap, 3, now)
        entries = [InboxEntry(household_id=hid, gtin=gtin, device_id="btn-schema", first_seen=now, last_seen=now,
                              suggestion="Something", lookup_status="found") for gtin in GTINS]
        session.add_all(entries)
        channel = channels.add_channel(session, hid, "email", EMAIL)
        session.add(DeadLetter(topic="restock/v1/btn-schema/event", device_id="btn-schema", seq=7,
                               reason="bad_json", detail="not JSON", payload="{oops"))
        token = accounts.issue_token(session, user, now)
        session.commit()
        callback = {"event_id": "ev-schema", "order_id": at_shop, "status": "confirmed"}
        signed = {MERCHANT_HEADER: SHOP, **signed_headers(SHOP_SECRET, json.dumps(callback).encode(), now)}
        return Seeded(
            token=token,
            ids={"device_id": "btn-schema", "order_id": pending, "product_id": soap.id, "entry_id": entries[0].id,
                 "slot_id": slot.id, "merchant": SHOP, "channel_id": channel.id},
            good={
                "POST /api/v1/auth/token": {"body": {"username": EMAIL, "password": PASSWORD},
                                            "media_type": "application/x-www-form-urlencoded"},
                "PUT /api/v1/devices/{device_id}/binding": {"body": {"product_id": coffee.id, "qty": 2,
                                                                     "mode": "cart"}},
                "POST /api/v1/devices/claim": {"body": {"code": unclaimed.claim_code}},
                "POST /api/v1/notifications/channels": {"body": {"kind": "webhook",
                                                                 "target": "http://127.0.0.1:9/hook"}},
                "POST /api/v1/inbox/{entry_id}/map": {"path_parameters": {"entry_id": entries[1].id},
                                                      "body": {"product_id": soap.id}},
                "DELETE /api/v1/inbox/{entry_id}": {"path_parameters": {"entry_id": entries[2].id}},
                "POST /api/v1/catalog/import": {"body": "sku,name,price\nSCHEMA-CSV,Imported thing,1.25\n",
                                                "media_type": "text/csv"},
                "POST /api/v1/orders/{order_id}/approve": {"path_parameters": {"order_id": approve}},
                "POST /api/v1/orders/{order_id}/reject": {"path_parameters": {"order_id": reject}},
                "POST /api/v1/orders/{order_id}/return": {"path_parameters": {"order_id": delivered},
                                                          "body": {"reason": "arrived broken"}},
                "POST /api/v1/merchants/callback": {"headers": signed, "body": callback},
            },
        )


@pytest.fixture
def hub_app(database_url: str, broker: MosquittoProcess, tmp_path: Path) -> Iterator[tuple[FastAPI, Clock]]:
    """The hub's ASGI app; schemathesis runs its lifespan (ingest, scheduler, notifier) from the first request."""
    clock = Clock()
    yield create_app(hub_settings(database_url, broker.port, tmp_path / "data"), clock), clock
    asgi.shutdown_lifespans()


@dataclass
class Run:
    """What the run saw: failures in words, and the status codes each operation answered."""

    headers: dict[str, str]
    failures: list[str] = field(default_factory=list)
    seen: dict[str, set[int]] = field(default_factory=dict)

    def check(self, label: str, case: Case[Any]) -> None:
        """Call the operation and run the checks; record what happened instead of stopping at the first failure."""
        try:
            response = case.call(headers=self.headers)
            self.seen.setdefault(label, set()).add(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        except (AssertionError, BaseExceptionGroup) as exc:
            self.failures.append(f"{label}: {str(exc)[:700]}")
        except Exception as exc:
            # Over ASGI an exception the app does not handle reaches the caller instead of a 500.
            self.failures.append(f"{label}: server error {type(exc).__name__}: {str(exc)[:300]}\n{case!r:.600}")

    def fuzz(self, operation: Operation, mode: GenerationMode, path_parameters: dict[str, Any] | None) -> None:
        """Generated requests of one kind for an operation."""
        label = _label(operation)

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
        def call(case: Case[Any]) -> None:
            self.check(f"{label} ({mode.value})", case)

        try:
            call()
        except Unsatisfiable:
            # Nothing invalid can be made for an operation without inputs (or with all of them fixed).
            assert mode is GenerationMode.NEGATIVE, f"{label}: no valid request could be generated"


def _label(operation: Operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _rank(operation: Operation) -> tuple[int, str]:
    label = _label(operation)
    return LAST.get(label, LAST.get(operation.method.upper(), 0)), label


def test_every_operation_keeps_to_the_openapi_document(hub_app: tuple[FastAPI, Clock]) -> None:
    app, clock = hub_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan
    seeded = seed(app, clock.now())
    run = Run(headers={"Authorization": f"Bearer {seeded.token}"})
    operations = sorted((result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)), key=_rank)
    assert len(operations) >= 45, [_label(op) for op in operations]
    for operation in operations:
        label = _label(operation)
        names = [p.name for p in operation.path_parameters]
        real = {name: seeded.ids[name] for name in names}
        good = seeded.good.get(label, {})
        run.check(f"{label} (known good)", operation.Case(**{"path_parameters": real, **good}))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run.fuzz(operation, mode, None)
            if names:
                run.fuzz(operation, mode, real)
    assert not run.failures, f"{len(run.failures)} failure(s):\n" + "\n\n".join(run.failures)
    # The run reached every operation's success answer, so its schema was checked too.
    answered = {label.split(" (")[0] for label, codes in run.seen.items() if any(200 <= c < 300 for c in codes)}
    assert answered == {_label(op) for op in operations}, {_label(op) for op in operations} - answered
