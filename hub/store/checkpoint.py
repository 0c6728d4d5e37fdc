"""SQLite's WAL checkpoints run in the background, so no ingest batch pays for one.

By default the connection whose commit takes the write-ahead log past 1,000 pages copies the log into the
database there and then, fsync included: under a steady trickle of events that was an ingest batch every
second or so committing in 10 to 30 ms instead of well under one, which is the tail of a press's latency. The
hub's connections turn that off (`make_engine(..., background_checkpoints=True)`) and the hub process runs
`checkpoints` instead: a passive checkpoint from a connection of its own, in a thread, whenever the log has
grown past the same size. A passive checkpoint waits for nobody; readers and writers go on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3

log = logging.getLogger(__name__)
# SQLite's own default threshold (1,000 pages of 4 KiB).
WAL_BYTES = 1000 * 4096
CHECK_S = 0.25
# A log this large means checkpoints cannot catch up (a reader holding an old snapshot for minutes): said once.
WAL_WARN_BYTES = 512 * 1024 * 1024


def wal_bytes(database: str) -> int:
    """The size of the database's write-ahead log, 0 when there is none."""
    try:
        return os.stat(f"{database}-wal").st_size
    except OSError:
        return 0


def checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """One passive checkpoint: (busy, pages in the log, pages copied)."""
    row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(row[0]), int(row[1]), int(row[2])


async def checkpoints(database: str, threshold: int = WAL_BYTES, every_s: float = CHECK_S) -> None:
    """Checkpoint `database` whenever its log passes `threshold` bytes, until cancelled."""
    connection = await asyncio.to_thread(sqlite3.connect, database, timeout=30, check_same_thread=False)
    warned = False
    try:
        while True:
            size = wal_bytes(database)
            if size >= threshold:
                try:
                    await asyncio.to_thread(checkpoint, connection)
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed; retrying", extra={"error": str(exc)})
                if size >= WAL_WARN_BYTES and not warned:
                    warned = True
                    log.warning("the SQLite write-ahead log keeps growing: a reader may hold an old snapshot",
                                extra={"wal_bytes": size})
            await asyncio.sleep(every_s)
    finally:
        connection.close()
