"""SQLite writers take turns through the lock file: a write waits for the writer before it, reads never wait,
and a turn ends with its transaction however that ends."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.store.db import make_engine
from hub.store.sqlite_writers import TurnConnection, connection_class


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "restock.db")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (n INTEGER)")
    yield path


def _connect(path: str) -> TurnConnection:
    conn = sqlite3.connect(path, factory=connection_class(path), check_same_thread=False, timeout=30)
    assert isinstance(conn, TurnConnection)
    return conn


def _held_elsewhere(path: str) -> bool:
    """Whether some connection holds the writers' turn (tried from a descriptor of our own)."""
    fd = os.open(f"{path}.writers", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_write_holds_the_turn_until_commit_and_rollback(database: str) -> None:
    conn = _connect(database)
    conn.execute("SELECT count(*) FROM t").fetchone()
    assert not _held_elsewhere(database), "a read must not take the writers' turn"
    conn.execute("INSERT INTO t VALUES (1)")
    assert _held_elsewhere(database)
    conn.commit()
    assert not _held_elsewhere(database)
    conn.executemany("INSERT INTO t VALUES (?)", [(2,), (3,)])
    assert _held_elsewhere(database)
    conn.rollback()
    assert not _held_elsewhere(database)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    conn.close()


def test_a_failed_write_outside_a_transaction_gives_the_turn_back(database: str) -> None:
    conn = _connect(database)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("INSERT INTO missing VALUES (1)")
    assert not conn.in_transaction and not _held_elsewhere(database)
    conn.close()


def test_a_second_writer_waits_for_the_first_and_then_writes(database: str) -> None:
    first, second = _connect(database), _connect(database)
    first.execute("INSERT INTO t VALUES (1)")
    done = threading.Event()

    def write() -> None:
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()
        done.set()

    worker = threading.Thread(target=write)
    worker.start()
    # While the first writer's transaction is open the second waits for its turn, and reads carry on.
    assert not done.wait(0.3)
    assert _connect(database).execute("SELECT count(*) FROM t").fetchone() == (0,)
    first.commit()
    worker.join(10)
    assert done.is_set()
    assert first.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (2,)]
    first.close()
    second.close()


def test_the_engine_takes_turns_and_a_pooled_connection_holds_none(tmp_path: Path) -> None:
    path = tmp_path / "restock.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.commit()
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _held_elsewhere(str(path))
    # Back in the pool the connection was rolled back, which ends its turn.
    assert not _held_elsewhere(str(path))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()
