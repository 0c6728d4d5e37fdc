"""The hub's SQLite connections leave WAL checkpoints to a background task, which keeps the log bounded."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from hub.store.checkpoint import checkpoints, wal_bytes
from hub.store.db import make_engine

THRESHOLD = 64 * 1024  # small, so a test writes many times it in a moment


def _write(url: str, rounds: int) -> None:
    engine = make_engine(url, background_checkpoints=True)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT)"))
    for _ in range(rounds):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO filler (body) VALUES (:b)"), [{"b": "x" * 2000}] * 20)
    engine.dispose()


def test_commits_of_the_hub_s_connections_never_checkpoint(tmp_path: Path) -> None:
    database = tmp_path / "restock.db"
    _write(f"sqlite:///{database}", 200)  # about 40 times the threshold, far past SQLite's own 1,000 pages
    # engine.dispose() closed the last connection, which checkpoints and removes the log: measure before that
    # by keeping one connection open.
    keep = make_engine(f"sqlite:///{database}", background_checkpoints=True)
    with keep.connect() as reader:
        reader.execute(text("SELECT count(*) FROM filler")).scalar_one()
        _write(f"sqlite:///{database}", 300)
        assert wal_bytes(str(database)) > 1000 * 4096  # nothing checkpointed on commit
    keep.dispose()


def test_the_background_task_keeps_the_log_near_its_threshold(tmp_path: Path) -> None:
    database = tmp_path / "restock.db"
    url = f"sqlite:///{database}"

    async def run() -> int:
        task = asyncio.create_task(checkpoints(str(database), threshold=THRESHOLD, every_s=0.01))
        biggest = 0
        engine = make_engine(url, background_checkpoints=True)
        await asyncio.to_thread(_write, url, 1)
        with engine.connect() as reader:  # a connection that has read: the log is not removed between writes
            reader.execute(text("SELECT count(*) FROM filler")).scalar_one()
            for _ in range(60):
                await asyncio.to_thread(_write, url, 5)
                biggest = max(biggest, wal_bytes(str(database)))
                await asyncio.sleep(0.03)
        engine.dispose()
        task.cancel()
        return biggest

    biggest = asyncio.run(run())
    # 60 rounds of about 200 KB each: without checkpoints the log would hold all of it (12 MB).
    assert 0 < biggest < 20 * THRESHOLD
