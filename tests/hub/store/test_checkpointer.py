"""SQLite's log is copied into the database by a thread of its own while commits go on, and still starts again
from its beginning, so it does not grow without bound under steady writes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from hub.store import checkpointer
from hub.store.db import make_engine


def test_the_log_is_checkpointed_off_the_commits_and_stays_bounded(tmp_path: Path) -> None:
    database = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    worker = checkpointer.for_url(f"sqlite:///{database}")
    assert worker is not None
    worker.poll_s = 0.01
    worker.start()
    largest = 0
    try:
        for n in range(3_000):  # about 6,000 pages of log written in all, six times the commit's own threshold
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t (body) VALUES (:body)"), {"body": "x" * 4_000})
            largest = max(largest, (tmp_path / "hub.db-wal").stat().st_size)
            if n % 100 == 0:
                time.sleep(0.02)  # let the thread run
    finally:
        worker.stop()
    assert worker.checkpoints > 10
    assert largest < 12 * 2**20  # started again: not the 25 MB written
    with sqlite3.connect(database) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (3_000,)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    engine.dispose()


def test_only_a_sqlite_file_gets_one() -> None:
    assert checkpointer.for_url("sqlite:///:memory:") is None
    assert checkpointer.for_url("postgresql://postgres@127.0.0.1/test") is None
    assert checkpointer.for_url("sqlite:////tmp/restock.db") is not None
