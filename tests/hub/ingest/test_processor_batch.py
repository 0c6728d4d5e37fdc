"""One batch, one transaction: rows written early in a batch must be seen by later messages of it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from hub.ingest.messages import Message
from hub.ingest.processor import LAST_SEEN_STEP, Processor
from hub.merchants.catalog import seed_demo_catalog
from hub.notify import live
from hub.services import accounts, devices
from hub.store import repos
from hub.store.db import make_engine, migrate
from hub.store.models import InboxEntry, Order, OrderEvent, ProcessedEvent, User

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _msg(device: str, body: dict[str, object]) -> Message:
    return Message(f"restock/v1/{device}/event", json.dumps(body).encode(), NOW)


def _catalog_and_household(session: Session, email: str) -> User:
    """The demo catalog and one household; its first user."""
    seed_demo_catalog(session)
    return accounts.create_household(session, "h", email, "password123")


def _engine(database_url: str) -> Engine:
    """An engine on a migrated database."""
    engine = make_engine(database_url)
    migrate(database_url)
    return engine


def test_a_batch_sees_its_own_orders_cart_lines_inbox_entries_and_keys(database_url: str) -> None:
    engine = _engine(database_url)
    with Session(engine) as session:
        user = _catalog_and_household(session, "batch@example.org")
        household = repos.household(session, user.household_id)
        assert household is not None
        coffee = repos.product_by_sku(session, "demo", "COF-1KG")
        assert coffee is not None
        button = devices.register(session, "dash_button", "", user.household_id, "btn-batch").device
        devices.bind(session, button, coffee, 1, "order")
        devices.register(session, "barcode_wand", "", user.household_id, "wand-batch")
        # A second household spends freely up to a monthly cap of 30.00.
        spender = accounts.create_household(session, "h2", "spender@example.org", "password123")
        second = repos.household(session, spender.household_id)
        assert second is not None
        second.monthly_cap = 3000
        second.allow_multiple_orders = True
        other = devices.register(session, "dash_button", "", spender.household_id, "btn-other").device
        devices.bind(session, other, coffee, 1, "order")
        session.commit()

    processor = Processor(engine)
    replies = processor.handle_batch(
        [
            _msg("btn-batch", {"seq": 1, "type": "press"}),
            _msg("btn-batch", {"seq": 1, "type": "press"}),  # replay inside the batch
            _msg("btn-batch", {"seq": 2, "type": "press"}),  # protection sees the unflushed order
            _msg("btn-batch", {"seq": 3, "type": "press", "click": "long"}),  # cancels it
            _msg("btn-batch", {"seq": 4, "type": "press"}),  # orders again
            _msg("btn-other", {"seq": 1, "type": "press"}),  # 12.99
            _msg("btn-other", {"seq": 2, "type": "press"}),  # 25.98
            _msg("btn-other", {"seq": 3, "type": "press"}),  # 38.97 > 30.00: the cap counts unflushed orders
            _msg("wand-batch", {"seq": 1, "type": "scan", "code": "4012345678901"}),
            _msg("wand-batch", {"seq": 2, "type": "scan", "code": "4012345678901"}),
            _msg("wand-batch", {"seq": 3, "type": "scan", "code": "0036000291452"}),
            _msg("wand-batch", {"seq": 4, "type": "scan", "code": "0036000291452", "qty": 2}),
        ]
    )
    codes = [json.loads(r.payload)["code"] for r in replies]
    assert codes == [
        "ordered", "ordered", "duplicate", "cancelled", "ordered",
        "ordered", "ordered", "awaiting_approval",
        "inbox", "inbox", "in_cart", "in_cart",
    ]
    assert processor.fallbacks == 0, "the batch must succeed on the fast path, not by falling back"
    assert replies[0].payload == replies[1].payload
    feedback = [json.loads(r.payload) for r in replies]
    assert feedback[9]["qty"] == 2 and feedback[11]["qty"] == 3
    # Answers about an order created earlier in the batch name its product, like answers in a later batch.
    assert [feedback[n]["product"] for n in (2, 3)] == ["Coffee beans 1 kg"] * 2
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(ProcessedEvent)).one() == 11
        assert len(session.exec(select(InboxEntry)).all()) == 1
        statuses = sorted(o.status for o in session.exec(select(Order)).all())
        assert statuses == ["awaiting_approval", "cancelled", "pending", "pending", "pending"]

    # Across batches too: the flushed pending orders still count against the cap.
    [reply] = Processor(engine).handle_batch([_msg("btn-other", {"seq": 4, "type": "press"})])
    answer = json.loads(reply.payload)
    assert (answer["code"], answer["reason"]) == ("awaiting_approval", "month_cap")
    engine.dispose()


def test_last_seen_follows_events_in_steps_and_status_at_once(database_url: str) -> None:
    engine = _engine(database_url)
    with Session(engine) as session:
        user = _catalog_and_household(session, "seen@example.org")
        devices.register(session, "appliance_sensor", "", user.household_id, "sens-seen")
        session.commit()

    def event(seq: int, at: datetime) -> Message:
        body = {"seq": seq, "type": "level", "slot": "beans", "value": 500 - seq, "unit": "g"}
        return Message("restock/v1/sens-seen/event", json.dumps(body).encode(), at)

    def last_seen() -> datetime | None:
        with Session(engine) as session:
            device = repos.device(session, "sens-seen")
            assert device is not None
            return device.last_seen

    processor = Processor(engine)
    processor.handle_batch([event(1, NOW)])
    assert last_seen() == NOW
    # A busy device's events move it on at most every LAST_SEEN_STEP, not with each event.
    processor.handle_batch([event(2, NOW + LAST_SEEN_STEP / 2)])
    assert last_seen() == NOW
    later = NOW + LAST_SEEN_STEP
    processor.handle_batch([event(3, later)])
    assert last_seen() == later
    # A status message is recorded as it comes.
    status = Message("restock/v1/sens-seen/status", b'{"online": true}', later + LAST_SEEN_STEP / 10)
    processor.handle_batch([status])
    assert last_seen() == later + LAST_SEEN_STEP / 10
    # In one batch with an event, whichever came last sets it: the event's time goes in with the batch's own
    # UPDATE, the status message's with the device's other fields.
    when = later + 2 * LAST_SEEN_STEP
    status = Message("restock/v1/sens-seen/status", b'{"online": true, "battery_mv": 2900}', when + LAST_SEEN_STEP)
    processor.handle_batch([event(4, when), status])
    assert last_seen() == when + LAST_SEEN_STEP
    when += 3 * LAST_SEEN_STEP
    status = Message("restock/v1/sens-seen/status", b'{"online": true, "battery_mv": 2800}', when)
    processor.handle_batch([status, event(5, when + LAST_SEEN_STEP)])
    assert last_seen() == when + LAST_SEEN_STEP
    engine.dispose()


async def test_orders_a_batch_writes_reach_the_live_bus_in_their_final_state(database_url: str) -> None:
    engine = _engine(database_url)
    with Session(engine) as session:
        user = _catalog_and_household(session, "live@example.org")
        coffee = repos.product_by_sku(session, "demo", "COF-1KG")
        assert coffee is not None
        button = devices.register(session, "dash_button", "", user.household_id, "btn-live").device
        devices.bind(session, button, coffee, 1, "order")
        household_id = user.household_id
        session.commit()
    bus = live.LiveBus()
    bus.attach(asyncio.get_running_loop())
    live.watch(engine, bus)
    try:
        with bus.subscribe(household_id, frozenset({live.ORDER})) as sub:
            await asyncio.to_thread(
                Processor(engine).handle_batch,
                [
                    _msg("btn-live", {"seq": 1, "type": "press"}),  # orders
                    _msg("btn-live", {"seq": 2, "type": "press", "click": "long"}),  # cancels it, same batch
                    _msg("btn-live", {"seq": 3, "type": "press"}),  # orders again
                ],
            )
            announced = [await sub.get(within=10) for _ in range(2)]
    finally:
        live.unwatch(engine)
    with Session(engine) as session:
        stored = {o.id: o.status for o in session.exec(select(Order)).all()}
        timeline = [e.status for e in session.exec(select(OrderEvent).order_by(col(OrderEvent.id))).all()]
    assert sorted(stored.values()) == ["cancelled", "pending"]
    assert {e.data["id"]: e.data["status"] for e in announced if e is not None} == stored
    assert timeline == ["pending", "cancelled", "pending"]
    engine.dispose()
