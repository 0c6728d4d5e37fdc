"""Two households on a migrated database, for tests that drive the ingest Processor directly.

The victim's button `GOOD` and the attacker's button `BAD` are in different households, both bound to coffee in
order mode with order protection off, so every press of either orders again.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub.domain.events import cmd_topic
from hub.ingest.messages import Message, Reply
from hub.merchants.catalog import seed_demo_catalog
from hub.services import accounts, devices
from hub.store import repos
from hub.store.db import make_engine, migrate
from hub.store.models import DeadLetter, Order, ProcessedEvent

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
GOOD = "btn-victim"
BAD = "btn-attacker"
PROTOCOL = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"


def build(database_url: str) -> Engine:
    """A migrated database with the two households and their buttons."""
    engine = make_engine(database_url)
    migrate(database_url)
    with Session(engine) as session:
        seed_demo_catalog(session)
        coffee = repos.product_by_sku(session, "demo", "COF-1KG")
        assert coffee is not None
        for name, device_id in (("victim", GOOD), ("attacker", BAD)):
            user = accounts.create_household(session, name, f"{name}@example.org", "password123")
            household = repos.household(session, user.household_id)
            assert household is not None
            household.allow_multiple_orders = True
            button = devices.register(session, "dash_button", "", user.household_id, device_id).device
            devices.bind(session, button, coffee, 1, "order")
        session.commit()
    return engine


def message(device_id: str, channel: str, payload: bytes | str, received: datetime = NOW) -> Message:
    """A message on a device's topic."""
    body = payload.encode() if isinstance(payload, str) else payload
    return Message(f"restock/v1/{device_id}/{channel}", body, received)


def press(device_id: str, seq: int, received: datetime = NOW) -> Message:
    """A valid single press."""
    return message(device_id, "event", json.dumps({"seq": seq, "type": "press"}), received)


def answers(replies: list[Reply], device_id: str) -> list[dict[str, object]]:
    """The feedback a device got from one batch."""
    return [json.loads(r.payload) for r in replies if r.topic == cmd_topic(device_id)]


def dead_letters(engine: Engine, device_id: str) -> list[DeadLetter]:
    """A device's dead letters, oldest first."""
    with Session(engine) as session:
        query = select(DeadLetter).where(DeadLetter.device_id == device_id).order_by(col(DeadLetter.id))
        return list(session.exec(query).all())


def stored_key(engine: Engine, device_id: str, seq: int) -> ProcessedEvent | None:
    """The stored outcome of (device, seq)."""
    with Session(engine) as session:
        return repos.processed_event(session, device_id, seq)


def order_of(engine: Engine, order_id: str) -> Order | None:
    """An order by id."""
    with Session(engine) as session:
        return session.get(Order, order_id)


def assert_ordered(engine: Engine, replies: list[Reply], device_id: str, seq: int) -> None:
    """The press (device, seq) was answered `ordered` in this batch and its order is stored."""
    [answer] = [a for a in answers(replies, device_id) if a["seq"] == seq]
    assert answer["code"] == "ordered", answer
    assert isinstance(answer["order"], str) and order_of(engine, answer["order"]) is not None
    key = stored_key(engine, device_id, seq)
    assert key is not None and key.order_id == answer["order"]


def documented_reasons() -> set[str]:
    """The reason codes of docs/protocol.md §6, the wire contract's list."""
    text = PROTOCOL.read_text()
    section = text.split("## 6. Reason codes", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.MULTILINE))
