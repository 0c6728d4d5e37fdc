"""What the message-by-message fallback needs: which errors are the database's, and undoing a message's traces.

When a batch is applied again message by message, an error is blamed on its message (which is then dead-lettered)
unless it says that the database itself is away or busy: then nothing is committed and the devices replay, as
they do for any hub fault. A device must never lose an event to a database outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

# The `rejected` reason of an event the hub failed to apply (its dead letter names the error).
HUB_ERROR = "hub_error"
# A device one of whose messages failed on its own has its messages applied one by one, each in a savepoint,
# for this long: a device that keeps sending a poison the validation misses then slows down only itself.
SUSPECT_S = 600.0
MAX_SUSPECTS = 10_000
# SQLSTATE classes of a server that is away, busy, read-only or out of resources, not of a bad row: connection
# exception, invalid transaction state (a read-only standby), transaction rollback (deadlock, serialization),
# insufficient resources, operator intervention, system error.
_OUTAGE_SQLSTATES = ("08", "25", "40", "53", "57", "58")
# SQLite says the same in words.
_OUTAGE_WORDS = ("locked", "busy", "disk", "unable to open", "readonly", "interrupted", "full")


def is_outage(exc: BaseException) -> bool:
    """Whether an error says the database failed (retry later), not that one message's data is bad."""
    if not isinstance(exc, Exception):
        return True  # KeyboardInterrupt, SystemExit: never swallowed
    if isinstance(exc, DisconnectionError | InterfaceError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate.startswith(_OUTAGE_SQLSTATES)
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        return any(word in text for word in _OUTAGE_WORDS)
    return False


def database_answers(session: Session) -> bool:
    """Whether the database still runs a query in this transaction (after a savepoint was rolled back)."""
    try:
        session.execute(select(1))
    except Exception:
        return False
    return True


def savepoints_in_transaction(session: Session) -> None:
    """Open the batch's transaction before its first savepoint.

    Python's sqlite3 begins a transaction only before a write, so a SAVEPOINT issued first would start one of
    its own, and releasing it would commit: the batch would no longer be one transaction.

    The transaction takes the write lock at once (IMMEDIATE): messages applied one by one read before they
    write, and in WAL mode a transaction whose first read came before another writer's commit can never write
    (SQLite answers "database is locked" at once, without waiting). Two ingest processes redoing batches
    message by message met like that under load, and each such batch was lost to its devices' replays.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw: Any = connection.connection.dbapi_connection  # a sqlite3.Connection
    if not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class Undo:
    """Where a batch's in-memory records stood before a message, to forget that message's part of them when its
    savepoint is rolled back (feedback it stored, lookups it asked)."""

    seen: int
    unknown: int

    @classmethod
    def mark(cls, seen: dict[Any, Any], unknown: list[Any]) -> Undo:
        """Remember the current lengths (the records only grow)."""
        return cls(len(seen), len(unknown))

    def restore(self, seen: dict[Any, Any], unknown: list[Any]) -> None:
        """Forget whatever was recorded since `mark`."""
        for key in list(seen)[self.seen :]:
            del seen[key]
        del unknown[self.unknown :]


class Suspects:
    """Devices one of whose messages failed on its own lately, each until its time is up."""

    def __init__(self, hold_s: float = SUSPECT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = hold_s
        self.clock = clock
        self._until: dict[str, float] = {}  # oldest suspicion first

    def add(self, device: str) -> None:
        """Suspect a device (again) from now on."""
        self._until.pop(device, None)
        self._until[device] = self.clock() + self.hold_s
        if len(self._until) > MAX_SUSPECTS:
            del self._until[next(iter(self._until))]

    def current(self) -> set[str]:
        """The devices suspected now; the others are forgotten."""
        now = self.clock()
        while self._until and next(iter(self._until.values())) <= now:
            del self._until[next(iter(self._until))]
        return set(self._until)
