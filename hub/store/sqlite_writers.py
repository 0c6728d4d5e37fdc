"""SQLite writers take turns through a lock file, so a waiting writer starts the moment the last one commits.

SQLite lets one connection write at a time. A connection that finds the database locked is put to sleep by
SQLite's busy handler in growing steps (1, 2, 5, 10, 15, 20, 25 … ms) and tries again, so a writer that
arrives just after another often sleeps 20 to 80 ms for a lock that was free after two: at 500 events/s the
hub's ingest processes and its notifier met like that often enough to double the p99 of a press. Here every
connection takes an exclusive `flock` on `<database>.writers` before its first write in a transaction and
gives it back when the transaction ends. The kernel queues the waiters and wakes one at once, in any of the
hub's processes and threads. Readers never take it: WAL lets them read while somebody writes.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Callable
from typing import Any

# Statements that make a connection a writer, by their first keyword; and the BEGINs that take SQLite's write
# lock at once (a transaction that reads before it writes must, see `hub.ingest.isolation`).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_WRITE_BEGINS = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")


def _writes(sql: str) -> bool:
    head = sql.lstrip()[:16].upper()
    return head.startswith(_WRITES) or head.startswith(_WRITE_BEGINS)


class WriterCursor(sqlite3.Cursor):
    """Takes its connection's writer turn before a write."""

    connection: TurnConnection

    def execute(self, sql: str, parameters: Any = (), /) -> WriterCursor:
        """`sqlite3.Cursor.execute`, in turn when it writes."""
        return self._in_turn(sql, lambda: super(WriterCursor, self).execute(sql, parameters))

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> WriterCursor:
        """`sqlite3.Cursor.executemany`, in turn when it writes."""
        return self._in_turn(sql, lambda: super(WriterCursor, self).executemany(sql, seq_of_parameters))

    def _in_turn(self, sql: str, run: Callable[[], sqlite3.Cursor]) -> WriterCursor:
        if _writes(sql):
            self.connection.take_turn()
        try:
            run()
            return self
        finally:
            self.connection.end_turn_unless_in_transaction()


class TurnConnection(sqlite3.Connection):
    """A connection whose writes wait for their turn on `lock_path` (set by `connection_class`)."""

    lock_path = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._holding = False

    def cursor(self, factory: Any = None) -> Any:
        """Cursors that take turns (SQLAlchemy asks for plain ones)."""
        return super().cursor(factory or WriterCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> WriterCursor:
        """`sqlite3.Connection.execute` through a cursor that takes turns (the builtin one would not)."""
        cursor: WriterCursor = self.cursor()
        return cursor.execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> WriterCursor:
        """`sqlite3.Connection.executemany` through a cursor that takes turns."""
        cursor: WriterCursor = self.cursor()
        return cursor.executemany(sql, seq_of_parameters)

    def take_turn(self) -> None:
        """Wait until no other connection on this database writes, then hold the turn."""
        if not self._holding:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            self._holding = True

    def end_turn_unless_in_transaction(self) -> None:
        """After a statement that left no transaction open (autocommit, or it failed before starting one)."""
        if self._holding and not self.in_transaction:
            self._end_turn()

    def _end_turn(self) -> None:
        if self._holding:
            self._holding = False
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def commit(self) -> None:
        """Commit and give the turn to the next writer."""
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        """Roll back (also what the pool does to a connection it gets back) and give the turn up."""
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        """Close the database and the lock file."""
        try:
            super().close()
        finally:
            self._end_turn()
            if self._lock >= 0:
                os.close(self._lock)
                self._lock = -1


def connection_class(database: str) -> type[TurnConnection]:
    """A `sqlite3.connect(factory=…)` class taking turns on the lock file beside `database`."""
    return type("TurnConnection", (TurnConnection,), {"lock_path": f"{os.path.abspath(database)}.writers"})
