"""Rows written through the driver read back exactly as rows written by SQLAlchemy's INSERT, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, Boolean, Column, Engine, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlmodel import Session

from hub.store.db import make_engine
from hub.store.models import (
    Notification,
    NotificationDelivery,
    Order,
    OrderEvent,
    OrderLine,
    ProcessedEvent,
    table_of,
)
from hub.store.rows import direct, insert_rows
from hub.store.types import UTCDateTime, utcnow

META = MetaData()
SAMPLE = Table(
    "rows_sample", META,
    Column("id", Integer, primary_key=True),
    Column("tag", String(20), nullable=False),
    Column("at", UTCDateTime, nullable=True),
    Column("flag", Boolean, nullable=True),
    Column("note", Text, nullable=True),
    Column("count", Integer, nullable=True),
    Column("state", String(10), nullable=False, default="pending"),
    Column("done", Boolean, nullable=False, default=False),
    Column("made_at", UTCDateTime, nullable=False, default=utcnow),
)
WITH_JSON = Table("rows_json", META, Column("id", Integer, primary_key=True), Column("data", JSON))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    META.drop_all(engine)
    META.create_all(engine)
    yield engine
    META.drop_all(engine)
    engine.dispose()


zones = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=zones | st.just(UTC))
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
rows = st.fixed_dictionaries({
    "tag": st.text("abcxyz", min_size=1, max_size=19),  # a one-letter prefix tells the writers apart
    "at": st.none() | moments,
    "flag": st.none() | st.booleans(),
    "note": st.none() | texts,
    "count": st.none() | st.integers(-(2**31), 2**31 - 1),
    "made_at": moments,
})


def _read(engine: Engine, tag_prefix: str) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        found = session.execute(select(SAMPLE).where(SAMPLE.c.tag.startswith(tag_prefix)).order_by(SAMPLE.c.id))
        return [tuple(row)[1:] for row in found]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(rows, min_size=1, max_size=8))
def test_rows_read_back_as_sqlalchemy_writes_them(engine: Engine, batch: list[dict[str, Any]]) -> None:
    with Session(engine) as session:
        session.execute(insert(SAMPLE), [{**row, "tag": "a" + row["tag"]} for row in batch])
        insert_rows(session, SAMPLE, [{**row, "tag": "b" + row["tag"]} for row in batch])
        session.commit()
    by_sqlalchemy = [(tag[1:], *rest) for tag, *rest in _read(engine, "a")]
    by_driver = [(tag[1:], *rest) for tag, *rest in _read(engine, "b")]
    assert by_driver == by_sqlalchemy
    with Session(engine) as session:
        session.execute(SAMPLE.delete())
        session.commit()


def test_left_out_columns_take_their_defaults(engine: Engine) -> None:
    with Session(engine) as session:
        insert_rows(session, SAMPLE, [{"tag": "x", "made_at": utcnow()}])
        session.commit()
        row = session.execute(select(SAMPLE.c.state, SAMPLE.c.done)).one()
    assert tuple(row) == ("pending", False)


def test_a_default_made_per_row_is_made_by_sqlalchemy(engine: Engine) -> None:
    before = utcnow()
    with Session(engine) as session:
        insert_rows(session, SAMPLE, [{"tag": "y"}, {"tag": "z"}])
        session.commit()
        made = session.execute(select(SAMPLE.c.made_at)).scalars().all()
    assert len(made) == 2 and all(at >= before - timedelta(seconds=1) for at in made)


def test_a_type_the_driver_cannot_take_goes_through_sqlalchemy(engine: Engine) -> None:
    with Session(engine) as session:
        insert_rows(session, WITH_JSON, [{"data": {"a": [1, 2]}}, {"data": None}])
        session.commit()
        stored = session.execute(select(WITH_JSON.c.data).order_by(WITH_JSON.c.id)).scalars().all()
    assert stored == [{"a": [1, 2]}, None]


UNIQUE = Table("rows_unique", META, Column("id", Integer, primary_key=True), Column("key", String(10), unique=True),
               Column("data", JSON, nullable=True))


@pytest.mark.parametrize("with_json", [False, True], ids=["driver", "sqlalchemy"])
def test_rows_already_there_are_skipped_not_failed(engine: Engine, with_json: bool) -> None:
    # One unique table, written the driver's way (no JSON column written) and SQLAlchemy's (one is).
    with Session(engine) as session:
        insert_rows(session, UNIQUE, [{"key": "a"}])
        rows = [{"key": key, "data": None} if with_json else {"key": key} for key in ("a", "b", "b", "c")]
        insert_rows(session, UNIQUE, rows, skip_existing=True)
        session.commit()
        keys = session.execute(select(UNIQUE.c.key).order_by(UNIQUE.c.id)).scalars().all()
    assert keys == ["a", "b", "c"]
    assert direct(UNIQUE, engine.dialect, ["key"]) and not direct(UNIQUE, engine.dialect, ["key", "data"])


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(ValueError, match="naive"):
        insert_rows(session, SAMPLE, [{"tag": "n", "made_at": datetime(2026, 1, 1)}])


@pytest.mark.parametrize("dialect", [sqlite.dialect(), psycopg.dialect()], ids=["sqlite", "postgresql"])
def test_the_tables_ingest_and_the_notifier_write_go_through_the_driver(dialect: Any) -> None:
    """A column type `insert_rows` does not know sends its whole table the slow way; this says which one."""
    written = {
        Order: [column.name for column in table_of(Order).columns],
        OrderLine: ["order_id", "product_id", "name", "qty", "unit_price"],
        OrderEvent: ["order_id", "status", "at", "actor", "note", "notified"],
        ProcessedEvent: ["device_id", "seq", "type", "feedback", "order_id", "received_at"],
        Notification: ["household_id", "kind", "key", "order_event_id", "payload", "created_at"],
        NotificationDelivery: ["notification_id", "channel_id", "next_at"],
    }
    for model, names in written.items():
        assert direct(table_of(model), dialect, names), model.__name__
    assert direct(SAMPLE, dialect, ["tag", "at", "flag", "note", "count", "made_at"])
    assert not direct(WITH_JSON, dialect, ["data"])
