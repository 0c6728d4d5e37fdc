"""Ingest keeps each device's context between batches, and never decides on one that changed since."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from hub.ingest.processor import Processor
from hub.services import devices
from hub.store import repos
from hub.store.models import Device, Household, Order, Product, table_of
from tests.hub.ingest.world import GOOD, NOW, answers, message, press

REPORTED = {"last_seen", "online", "battery_mv", "rssi", "firmware", "outbox"}


def _press(processor: Processor, seq: int) -> dict[str, object]:
    [answer] = answers(processor.handle_batch([press(GOOD, seq)]), GOOD)
    return answer


def _order(engine: Engine, answer: dict[str, object]) -> Order:
    with Session(engine) as session:
        order = session.get(Order, str(answer["order"]))
        assert order is not None
        return order


def test_a_device_seen_before_costs_no_context_query(engine: Engine) -> None:
    processor = Processor(engine)
    assert _press(processor, 1)["code"] == "ordered"
    loads = processor.contexts.loads
    for seq in range(2, 6):
        assert _press(processor, seq)["code"] == "ordered"
    assert processor.contexts.loads == loads
    # What the device reports about itself (a status message, its last_seen) changes nothing ingest decides on.
    status = message(GOOD, "status", json.dumps({"online": True, "battery_mv": 2900}))
    processor.handle_batch([status, press(GOOD, 6, NOW + timedelta(seconds=60))])
    assert _press(processor, 7)["code"] == "ordered"
    assert processor.contexts.loads == loads


def test_a_revocation_between_batches_is_obeyed_by_the_next(engine: Engine) -> None:
    processor = Processor(engine)
    assert _press(processor, 1)["code"] == "ordered"
    with Session(engine) as session:
        device = repos.device(session, GOOD)
        assert device is not None
        devices.revoke(session, device)
    answer = _press(processor, 2)
    assert (answer["code"], answer["reason"]) == ("rejected", "revoked")


def test_a_new_binding_price_or_window_between_batches_is_used_by_the_next(engine: Engine) -> None:
    processor = Processor(engine)
    first = _order(engine, _press(processor, 1))
    with Session(engine) as session:
        device = repos.device(session, GOOD)
        assert device is not None and device.household_id is not None
        other = repos.product_by_sku(session, "demo", "DET-2L")
        assert other is not None
        devices.bind(session, device, other, 2, "order")
        session.commit()
        other_id, price = other.id, other.price
    second = _order(engine, _press(processor, 2))
    assert second.total == 2 * price != first.total
    with Session(engine) as session:
        product = session.get(Product, other_id)
        household = session.get(Household, first.household_id)
        assert product is not None and household is not None
        product.price = price + 100
        household.cancel_window_s = 60
        session.add(product)
        session.add(household)
        session.commit()
    third = _order(engine, _press(processor, 3))
    assert third.total == 2 * (price + 100)
    assert third.cancel_until is not None and (third.cancel_until - third.created_at).total_seconds() == 60


@pytest.mark.parametrize("table", ["device", "household", "product"])
def test_every_column_a_decision_may_read_moves_the_counter(engine: Engine, table: str) -> None:
    """A column added later must be added to its table's trigger (migration 0013 says how)."""
    model = {"device": Device, "household": Household, "product": Product}[table]
    expected = {column.name for column in table_of(model).columns} - (REPORTED if table == "device" else set())
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
                                     {"name": f"contextepoch_{table}_update"}).scalar_one()
            listed = sql.split(" OF ", 1)[1].split(" ON ", 1)[0]
        else:
            listed = connection.execute(text(
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = :name"
            ), {"name": f"contextepoch_{table}"}).scalar_one().split(" OF ", 1)[1].split(" ON ", 1)[0]
        names = {name.strip().strip('"') for name in listed.split(",")}
    assert names == expected, f"{table}: trigger misses {expected - names}, has extra {names - expected}"
