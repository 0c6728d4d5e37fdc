"""The ingest batch: services write through it, its reads see what it holds, and `write` puts it all in the
database with one INSERT per table and announces the orders through the registered hook."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func
from sqlmodel import Session, select

from hub.domain.events import LevelEvent, PressEvent, ScanEvent
from hub.services import cart as cart_service
from hub.services import devices
from hub.services import level as level_service
from hub.services import orders as order_service
from hub.services import press as press_service
from hub.services import scan as scan_service
from hub.services.orders import month_start
from hub.store import batch as batch_module
from hub.store import repos
from hub.store.batch import Batch, SessionWriter, Writer
from hub.store.db import make_engine, migrate
from hub.store.models import CartLine, InboxEntry, Order, OrderEvent, OrderLine, Product, Reading
from tests.hub.ingest.test_processor_batch import _catalog_and_household

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database with a household, a button bound to coffee, a wand and a sensor."""
    engine = make_engine(database_url)
    migrate(database_url)
    with Session(engine) as session:
        user = _catalog_and_household(session, "batch@example.org")
        coffee = repos.product_by_sku(session, "demo", "COF-1KG")
        assert coffee is not None
        button = devices.register(session, "dash_button", "", user.household_id, "btn-1").device
        devices.bind(session, button, coffee, 1, "order")
        devices.register(session, "barcode_wand", "", user.household_id, "wand-1")
        devices.register(session, "appliance_sensor", "", user.household_id, "sens-1")
        household = repos.household(session, user.household_id)
        assert household is not None
        household.monthly_cap = 100_000
        session.commit()
    yield engine
    engine.dispose()


def _context(session: Session, device_id: str) -> tuple[Any, Any, Any]:
    device = repos.device(session, device_id)
    assert device is not None and device.household_id is not None
    household = repos.household(session, device.household_id)
    product = session.get(Product, device.binding_product_id) if device.binding_product_id else None
    return device, household, product


def _count(session: Session, model: type[Any]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def test_reads_of_the_batch_see_its_unsaved_rows_and_the_database_sees_them_after_write(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        batch = Batch(session)
        button, household, coffee = _context(session, "btn-1")
        wand, _, _ = _context(session, "wand-1")
        sensor, _, _ = _context(session, "sens-1")
        first = press_service.press(batch, button, household, coffee, PressEvent(1, "single", NOW))
        assert first.order is not None and first.feedback.code == "ordered"
        # Order protection sees the unsaved order; the monthly sum counts it; its lines are readable.
        assert press_service.press(batch, button, household, coffee, PressEvent(2, "single", NOW)).feedback.code \
            == "duplicate"
        assert batch.open_order("btn-1") is first.order
        assert batch.month_spending(household.id, month_start(NOW)) == first.order.total
        assert [line.name for line in batch.order_lines(first.order.id)] == ["Coffee beans 1 kg"]
        # Scans add up in one cart line and one inbox entry.
        for seq in (1, 2):
            added = scan_service.scan(batch, wand, household, ScanEvent(seq, "0036000291452", 1, NOW), False)
            scan_service.scan(batch, wand, household, ScanEvent(10 + seq, "4012345678901", 1, NOW), lookups=False)
        assert added.cart_line is not None and added.cart_line.qty == 2
        assert batch.cart_line(household.id, added.cart_line.product_id) is added.cart_line
        entry = batch.inbox_entry(household.id, "04012345678901")
        assert entry is not None and entry.count == 2
        # Readings of earlier messages are part of the slot's history.
        for seq in (1, 2):
            reading = LevelEvent(seq, "beans", 900.0 - seq, "g", NOW + timedelta(hours=seq))
            level_service.level(batch, sensor, household, reading)
        assert [r.value for r in batch.readings("sens-1", "beans")] == [899.0, 898.0]
        # A long press cancels the unsaved order; it is no longer open.
        cancelled = press_service.press(batch, button, household, coffee, PressEvent(3, "long", NOW))
        assert cancelled.feedback.code == "cancelled" and batch.open_order("btn-1") is None
        assert _count(session, Order) == 0 and _count(session, OrderEvent) == 0
        batch.write()
        session.commit()
    with Session(engine) as session:
        [order] = session.exec(select(Order)).all()
        assert order.status == "cancelled"
        steps = session.exec(select(OrderEvent.status).order_by(OrderEvent.id)).all()  # type: ignore[arg-type]
        assert list(steps) == ["pending", "cancelled"]
        assert _count(session, OrderLine) == 1 and _count(session, Reading) == 2
        assert session.exec(select(CartLine)).one().qty == 2
        assert session.exec(select(InboxEntry)).one().count == 2


def test_write_inserts_each_table_once_and_announces_its_orders(engine: Engine) -> None:
    announced: list[Sequence[Any]] = []

    def hook(session: Session, objects: Sequence[Any]) -> None:
        announced.append(list(objects))

    batch_module.on_bulk_insert(hook)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split("(")[0].strip())

    event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine, expire_on_commit=False) as session:
            batch = Batch(session)
            button, household, coffee = _context(session, "btn-1")
            household.allow_multiple_orders = True
            orders = [press_service.press(batch, button, household, coffee, PressEvent(seq, "single", NOW)).order
                      for seq in range(1, 6)]
            statements.clear()
            batch.write()
            session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
        batch_module._bulk_insert_hooks.remove(hook)
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert sorted(inserts) == sorted(['INSERT INTO "order"', "INSERT INTO orderline", "INSERT INTO orderevent"])
    assert announced == [orders]


@pytest.mark.parametrize("kind", ["session", "batch"])
def test_the_use_cases_answer_the_same_through_a_session_or_a_batch(engine: Engine, kind: str) -> None:
    """API, web and scheduler callers pass a plain session; ingest passes its batch."""
    with Session(engine, expire_on_commit=False) as session:
        to: Writer = SessionWriter(session) if kind == "session" else Batch(session)
        button, household, coffee = _context(session, "btn-1")
        wand, _, _ = _context(session, "wand-1")
        codes = [press_service.press(to, button, household, coffee, PressEvent(1, "single", NOW)).feedback.code,
                 press_service.press(to, button, household, coffee, PressEvent(2, "single", NOW)).feedback.code,
                 scan_service.scan(to, wand, household, ScanEvent(1, "0036000291452", 3, NOW), False).feedback.code]
        # The cart's own service and checkout take the plain session as before.
        cart_service.add(session if kind == "session" else to, household.id, coffee, 1, NOW)
        if isinstance(to, Batch):
            to.write()
        session.flush()
        order = order_service.create_order(session, household, [order_service.LineRequest(coffee, 2)],
                                           source="cart", actor="user:1", now=NOW)
        session.commit()
    assert codes == ["ordered", "duplicate", "in_cart"]
    with Session(engine) as session:
        assert _count(session, Order) == 2
        assert session.get(Order, order.id) is not None
