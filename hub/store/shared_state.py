"""SQL for state every hub node shares: rate-limiter keys under row locks, secrets, cluster-wide locks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import delete, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from hub.store.models import SharedLimit, SharedSecret

Slot = tuple[str, str]  # (limiter, key)


def _insert(session: Session, table: type[SharedLimit] | type[SharedSecret]) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (both PostgreSQL and SQLite have it)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def lock_limits(session: Session, slots: Sequence[Slot], expires: float) -> dict[Slot, tuple[str, float]]:
    """The stored state and expiry of each slot (state "" when new), every row locked until the transaction ends.

    Missing rows are created first, so that two nodes asking for a new key both wait on one row instead of
    both starting from nothing; rows are locked in one order, so two transactions never wait on each other.
    """
    wanted = sorted(set(slots))
    if not wanted:
        return {}
    rows = [{"limiter": limiter, "key": key, "state": "", "expires": expires} for limiter, key in wanted]
    session.execute(_insert(session, SharedLimit).values(rows).on_conflict_do_nothing())
    found: dict[Slot, tuple[str, float]] = {}
    for limiter, key in wanted:
        query = select(SharedLimit.state, SharedLimit.expires).where(
            SharedLimit.limiter == limiter, SharedLimit.key == key
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        state, until = session.exec(query).one()
        found[(limiter, key)] = (state, until)
    return found


def write_limit(session: Session, slot: Slot, state: str, expires: float) -> None:
    """Store a slot's new state (its row is locked by `lock_limits`)."""
    limiter, key = slot
    session.execute(
        update(SharedLimit)
        .where(col(SharedLimit.limiter) == limiter, col(SharedLimit.key) == key)
        .values(state=state, expires=expires)
    )


def delete_expired_limits(session: Session, now: float) -> int:
    """Remove keys nobody used for their limiter's forget time; how many went."""
    result = session.execute(delete(SharedLimit).where(col(SharedLimit.expires) < now))
    return int(getattr(result, "rowcount", 0) or 0)


def limit_count(session: Session, limiter: str) -> int:
    """How many keys a limiter holds (for tests and health checks)."""
    return len(session.exec(select(SharedLimit.key).where(SharedLimit.limiter == limiter)).all())


def secret(session: Session, name: str) -> str | None:
    """A shared secret's value, if one was stored."""
    return session.exec(select(SharedSecret.value).where(SharedSecret.name == name)).first()


def offer_secret(session: Session, name: str, value: str, now: datetime) -> str:
    """Store `value` under `name` unless a value is already there; the value that stays (the first one offered)."""
    session.execute(
        _insert(session, SharedSecret).values(name=name, value=value, created_at=now).on_conflict_do_nothing()
    )
    stored = secret(session, name)
    assert stored is not None
    return stored


def lock_key(name: str) -> int:
    """A stable signed 64-bit number for a lock name (PostgreSQL advisory locks are keyed by bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def try_cluster_lock(session: Session, name: str) -> bool:
    """Take the cluster-wide lock `name` until this transaction ends, or False when another node holds it.

    On PostgreSQL a transaction-scoped advisory lock; SQLite serves one hub node only, which needs no lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}).scalar_one()
    return bool(taken)


@contextmanager
def cluster_wide(engine: Engine, name: str) -> Iterator[None]:
    """Hold the cluster-wide lock `name` for the block, waiting for another node that holds it.

    For start-up work that every node runs and only one may run at a time (migrations, seeding): a second node
    waits, then finds the work done. On SQLite there is one node and nothing to wait for.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(name)})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(name)})
            connection.commit()
