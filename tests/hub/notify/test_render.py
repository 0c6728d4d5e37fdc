"""Order notifications store their step; the payload is built when read, the same links every time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from hub.ingest.processor import Processor
from hub.notify import outbox, render
from hub.notify.actions import ActionLinks
from hub.services import order_actions
from hub.store.models import Device, Notification, Order
from tests.hub.ingest.world import GOOD, NOW, build, press


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = build(database_url)
    yield built
    built.dispose()


def _placed(engine: Engine) -> tuple[Notification, list[outbox.Announcement]]:
    Processor(engine).handle_batch([press(GOOD, 1)])
    with Session(engine, expire_on_commit=False) as session:
        told, _ = outbox.pump_order_events(session, NOW)
        session.commit()
        note = session.exec(select(Notification).where(Notification.kind == "order.placed")).one()
    return note, told


def test_a_step_is_stored_as_its_step_and_said_in_full_when_read(engine: Engine, tmp_path: Path) -> None:
    note, told = _placed(engine)
    assert note.payload is None and note.order_event_id is not None
    # The live bus carries only which notification is new; a listener asks for the rest.
    assert told == [(note.household_id, {"id": note.id, "kind": "order.placed"})]
    links = ActionLinks(tmp_path, "http://hub")
    assert note.id is not None
    said = render.one(engine, note.household_id, note.id, NOW, links)
    assert said is not None and said["id"] == note.id and said["household_id"] == note.household_id
    order = said["order"]
    assert said["kind"] == "order.placed" and order["product"] and order["total"] > 0
    assert f"Order {order['id']}" in said["text"] and "cancel it until" in said["text"]
    assert [action["action"] for action in said["actions"]] == ["cancel"]
    # Read again (another page, a channel's retry): the very same link, so "used once" still means once.
    again = render.one(engine, note.household_id, note.id, NOW + timedelta(seconds=30), links)
    assert again is not None and again["actions"] == said["actions"]
    # Not another household's to read.
    assert render.one(engine, note.household_id + 1, note.id, NOW, links) is None


def test_links_go_once_the_order_moved_on_or_the_window_closed(engine: Engine, tmp_path: Path) -> None:
    note, _ = _placed(engine)
    links = ActionLinks(tmp_path, "http://hub")
    assert note.id is not None
    with Session(engine) as session:
        order = session.exec(select(Order).where(col(Order.device_id) == GOOD)).one()
        assert order.cancel_until is not None
        closed = order.cancel_until + timedelta(seconds=1)
    said = render.one(engine, note.household_id, note.id, closed, links)
    assert said is not None and "actions" not in said and said["order"]["id"] == order.id
    with Session(engine) as session:
        stored = session.get(Order, order.id)
        assert stored is not None
        order_actions.cancel(session, stored, "user:1", NOW)
        session.commit()
    placed = render.one(engine, note.household_id, note.id, NOW, links)
    assert placed is not None and "actions" not in placed  # still in the window, but cancelled already


def test_a_payload_stored_before_is_read_as_it_was(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        household_id = session.exec(select(Device.household_id).where(Device.id == GOOD)).one()
        assert household_id is not None
        stored = {"kind": "order.placed", "text": "Order o-old placed", "order": {"id": "o-old"}}
        note = Notification(household_id=household_id, kind="order.placed", key="order-event:old",
                            payload=json.dumps(stored), created_at=NOW)
        session.add(note)
        session.commit()
    assert note.id is not None
    said = render.one(engine, household_id, note.id, NOW, None)
    assert said == {"id": note.id, **stored, "household_id": household_id}
