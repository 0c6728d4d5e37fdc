"""The hot queries use the indexes made for them, on SQLite and PostgreSQL, however long the history.

A partial index only serves a query whose WHERE clause the database can match to the index's condition. The
notifier's backlog query once missed it and scanned the whole order history on every turn, which grew with
every order the hub ever took.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from hub.store import repos
from hub.store.db import make_engine, migrate


def _statement_of(engine: Engine, call: Callable[[Session], object]) -> tuple[str, Any]:
    """The SQL and parameters `call` sends (its last statement)."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            call(session)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen[-1]


def _plan(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        # A tiny table is read whole whatever the indexes: forbid that, so the plan shows whether one can serve.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement.replace(" FOR UPDATE SKIP LOCKED", ""), parameters)
        plan = "\n".join(str(row[0]) for row in cursor.fetchall())
        raw.rollback()
        return plan


@pytest.mark.parametrize(
    "call", [repos.unnotified_order_steps, repos.unnotified_order_events], ids=["steps", "events"]
)
def test_the_notifier_backlog_query_uses_the_partial_index(
    database_url: str, call: Callable[[Session], object]
) -> None:
    engine = make_engine(database_url)
    migrate(database_url)
    statement, parameters = _statement_of(engine, call)
    plan = _plan(engine, statement, parameters)
    engine.dispose()
    assert "ix_orderevent_unnotified" in plan, plan
