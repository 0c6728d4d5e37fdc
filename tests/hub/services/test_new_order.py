"""The fast order constructor builds what `Order(**values)` builds; this fails if SQLModel or SQLAlchemy change
how an instance made without its constructor behaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect
from sqlmodel import Session, select

from hub.services.orders import _new_order
from hub.store.db import make_engine, migrate
from hub.store.models import Order
from tests.hub.ingest.test_processor_batch import _catalog_and_household

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _values(order_id: str, household_id: int) -> dict[str, object]:
    return {"id": order_id, "household_id": household_id, "device_id": None, "source": "press",
            "status": "pending", "reason": None, "total": 1299, "currency": "EUR", "merchant": "demo",
            "created_at": NOW, "updated_at": NOW, "cancel_until": NOW + timedelta(minutes=30),
            "due_at": NOW + timedelta(minutes=30)}


def test_a_fast_order_equals_a_constructed_one_and_is_a_transient_orm_object() -> None:
    values = _values("o-fast", 1)
    fast, slow = _new_order(values), Order(**values)  # type: ignore[arg-type]
    assert fast.model_dump() == slow.model_dump()
    assert inspect(fast).transient
    # A change goes through SQLAlchemy's instrumentation as on any order.
    fast.status = "cancelled"
    assert inspect(fast).attrs.status.history.added == ["cancelled"]
    assert fast.model_dump()["status"] == "cancelled"


def test_a_fast_order_is_inserted_and_updated_by_the_orm(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(database_url)
    with Session(engine) as session:
        user = _catalog_and_household(session, "fast@example.org")
        order = _new_order(_values("o-orm", user.household_id))
        session.add(order)
        session.commit()
        order.status = "cancelled"
        session.add(order)
        session.commit()
    with Session(engine) as session:
        stored = session.exec(select(Order)).one()
        assert (stored.id, stored.status, stored.total, stored.attempts, stored.revision) == (
            "o-orm", "cancelled", 1299, 0, 0)
        assert stored.cancel_until == NOW + timedelta(minutes=30)
    engine.dispose()
