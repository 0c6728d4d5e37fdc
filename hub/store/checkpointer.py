"""Copy SQLite's write-ahead log into the database from a thread of its own, off the path of ingest's commits.

In WAL mode SQLite copies the log into the database (a checkpoint) inside the commit that finds the log past
1,000 pages, fsyncs included. At 500 events/s an ingest batch met that several times a second, and each such
batch waited for the copy: the tail of press-to-feedback latency. Here a thread checkpoints PASSIVE every
`POLL_S`: that takes no write lock, so ingest keeps committing meanwhile, and SQLite runs it without the
interpreter lock, so it uses the other core. The commit-time checkpoint stays on: by the time a commit
reaches 1,000 pages nearly everything is copied, and it finishes the rest so that the next writer starts the log
again from its beginning (a log checkpointed only from here would never restart under steady writes: it did
grow to 245 MB when this was tried without it).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from hub.store.db import sqlite_file

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often the log is checkpointed


class Checkpointer:
    """A daemon thread checkpointing one SQLite database's log as it grows; `stop()` ends it."""

    def __init__(self, database: str | Path, poll_s: float = POLL_S) -> None:
        self.database = str(database)
        self.wal = Path(f"{database}-wal")
        self.poll_s = poll_s
        self.checkpoints = 0  # figures and tests
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checkpointing (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop, and wait for a checkpoint under way to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.poll_s):
                if not self.wal.exists():
                    continue
                if connection is None:
                    connection = sqlite3.connect(self.database, timeout=0, check_same_thread=False)
                    connection.execute("PRAGMA synchronous=NORMAL")
                try:
                    # (busy, frames in the log, frames copied): a log with nothing new to copy costs a look at
                    # the shared index and nothing else.
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.OperationalError as exc:
                    log.debug("checkpoint skipped: %s", exc)
                    continue
                self.checkpoints += 1
        except Exception:
            log.exception("the SQLite checkpoint thread stopped; commits checkpoint on their own")
        finally:
            if connection is not None:
                connection.close()


def for_url(url: str) -> Checkpointer | None:
    """A checkpointer for a file SQLite database URL; None for anything else (memory, PostgreSQL)."""
    database = sqlite_file(url)
    return Checkpointer(database) if database is not None else None
