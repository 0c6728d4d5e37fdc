"""Expected delivery: the shop's promise is stored on the order and reaches the household's notifications.

Service level, on a migrated database: the demo shop's clock, and a webhook shop answering over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.api.presenters import order_out
from hub.jobs import Job, RetryPolicy
from hub.merchants.catalog import seed_demo_catalog
from hub.merchants.demo import DemoMerchant
from hub.merchants.webhook import post, promised_date
from hub.notify import outbox, render
from hub.services import accounts, fulfilment
from hub.services import orders as order_service
from hub.store import repos
from hub.store.db import make_engine, migrate
from hub.store.models import Household, MerchantAccount, Notification, Order, Product
from tests.hub.receiver import serving

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database with the demo catalog."""
    built = make_engine(database_url)
    migrate(database_url)
    with Session(built) as session:
        seed_demo_catalog(session)
        session.commit()
    yield built
    built.dispose()


def _household(session: Session, name: str) -> Household:
    user = accounts.create_household(session, name, f"{name}@example.org", "password123")
    household = repos.household(session, user.household_id)
    assert household is not None
    return household


def _texts(session: Session, household_id: int) -> list[dict[str, Any]]:
    outbox.pump_order_events(session, NOW)
    rows = sorted(session.exec(select(Notification).where(Notification.household_id == household_id)).all(),
                  key=lambda n: n.id or 0)
    said = render.payloads(session, rows, NOW, None)
    return [said[n.id] for n in rows if n.id is not None]


def test_the_demo_shop_promises_delivery_on_its_clock_and_the_household_is_told(engine: Engine) -> None:
    step = timedelta(hours=8)
    with Session(engine, expire_on_commit=False) as session:
        household = _household(session, "demo-home")
        coffee = repos.product_by_sku(session, "demo", "COF-1KG")
        assert coffee is not None and household.id is not None
        order = order_service.create_order(
            session, household, [order_service.LineRequest(coffee, 1)], source="web", actor="user:1", now=NOW
        )
        session.commit()
        assert order.expected_delivery is None, "no shop has promised anything inside the cancel window"
        submit_at = NOW + timedelta(seconds=household.cancel_window_s)
        fulfilment.run_due(session, {"demo": DemoMerchant(step)}, submit_at)
        session.commit()

        stored = session.get(Order, order.id)
        assert stored is not None and stored.status == "submitted"
        # Confirmed, shipped and delivered one step apart: delivered three steps after it was taken.
        assert stored.expected_delivery == submit_at + 3 * step
        assert order_out(session, stored).expected_delivery == submit_at + 3 * step

        told = _texts(session, household.id)
        submitted = next(n for n in told if n["kind"] == "order.submitted")
        assert submitted["order"]["expected_delivery"] == (submit_at + 3 * step).isoformat()
        assert "expected delivery Wed 11 Mar 2026, 09:30 UTC" in submitted["text"]

        # The promise stands through the next steps and is repeated when the parcel ships.
        for tick in (1, 2):
            fulfilment.run_due(session, {"demo": DemoMerchant(step)}, submit_at + tick * step)
            session.commit()
        shipped = next(n for n in _texts(session, household.id) if n["kind"] == "order.shipped")
        assert "expected delivery Wed 11 Mar 2026" in shipped["text"]


async def _send(prepared: Any) -> Any:
    async with httpx.AsyncClient() as client:
        return await post(client, prepared.account, prepared.body, prepared.key, NOW, 5.0)


def _webhook_order(engine: Engine, answer: dict[str, Any], name: str) -> Order:
    """Create an order of a webhook shop's product, submit it over HTTP and record the answer."""
    reply = json.dumps(answer).encode()
    with serving(lambda _post: (200, reply, "application/json")) as url:
        shop_url = f"{url}/orders"
        with Session(engine, expire_on_commit=False) as session:
            household = _household(session, name)
            assert household.id is not None
            household.cancel_window_s = 0
            session.add(MerchantAccount(household_id=household.id, name=f"shop-{name}", url=shop_url,
                                        secret="s" * 32))
            product = Product(household_id=household.id, merchant=f"shop-{name}", sku="B-1", name="Shop beans",
                              price=1450, currency="EUR")
            session.add(product)
            session.commit()
            order = order_service.create_order(
                session, household, [order_service.LineRequest(product, 1)], source="web", actor="user:1", now=NOW
            )
            session.commit()
            jobs: list[Job] = []
            fulfilment.run_due(session, {}, NOW, jobs, RetryPolicy())
            session.commit()
            assert len(jobs) == 1
            prepared = fulfilment.prepare_job(session, jobs[0])
            assert prepared is not None
        outcome = asyncio.run(_send(prepared))
        with Session(engine, expire_on_commit=False) as session:
            fulfilment.finish_job(session, jobs[0], outcome, NOW, RetryPolicy())
            session.commit()
            stored = session.get(Order, order.id)
            assert stored is not None and stored.status == "submitted"
            texts = _texts(session, household.id)
            submitted = next(n for n in texts if n["kind"] == "order.submitted")
            stored.__dict__["_text"] = submitted["text"]  # handed to the test with the order
            return stored


def test_a_webhook_shops_promised_date_is_stored_and_told(engine: Engine) -> None:
    order = _webhook_order(engine, {"ref": "S-1", "expected_delivery": "2026-03-14"}, "hook-date")
    # A bare date means "by the end of that day".
    assert order.expected_delivery == datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC)
    assert order.merchant_ref == "S-1"
    assert order.__dict__["_text"].endswith("expected delivery Sat 14 Mar 2026")


def test_a_webhook_shops_date_time_is_kept_in_utc(engine: Engine) -> None:
    order = _webhook_order(engine, {"expected_delivery": "2026-03-14T18:00:00+01:00"}, "hook-time")
    assert order.expected_delivery == datetime(2026, 3, 14, 17, 0, tzinfo=UTC)
    assert "expected delivery Sat 14 Mar 2026, 17:00 UTC" in order.__dict__["_text"]


def test_a_shop_without_a_promise_or_with_nonsense_still_takes_the_order(engine: Engine) -> None:
    order = _webhook_order(engine, {"ref": "S-2", "expected_delivery": "next tuesday"}, "hook-none")
    assert order.expected_delivery is None and order.merchant_ref == "S-2"
    assert "expected delivery" not in order.__dict__["_text"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-14", datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC)),
        ("2026-03-14T08:00:00Z", datetime(2026, 3, 14, 8, 0, tzinfo=UTC)),
        ("2026-03-14T08:00:00", None),  # no offset: which day it is depends on a zone nobody named
        ("soon", None),
        (20260314, None),
        (None, None),
        ("2026-03-14" * 10, None),
    ],
)
def test_promised_dates_are_read_strictly(value: object, expected: datetime | None) -> None:
    assert promised_date(value) == expected
