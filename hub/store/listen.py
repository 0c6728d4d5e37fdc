"""Waiting for PostgreSQL notifications (LISTEN), for processes that must learn of a commit at once."""

from __future__ import annotations

import psycopg
from psycopg import sql

from hub.store.repos import DEVICE_LOGINS_CHANNEL


def _libpq_url(url: str) -> str:
    # SQLAlchemy's driver-qualified form names the same server; libpq knows only the plain scheme.
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgres") else url


class Listener:
    """A connection listening on one channel; wait() returns once a notification (or several) arrived."""

    def __init__(self, database_url: str, channel: str = DEVICE_LOGINS_CHANNEL, connect_timeout: int = 5) -> None:
        self._conn = psycopg.connect(_libpq_url(database_url), autocommit=True, connect_timeout=connect_timeout)
        self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))

    def wait(self, timeout: float) -> bool:
        """True if at least one notification arrived within timeout; those already queued are all taken."""
        got = False
        for _ in self._conn.notifies(timeout=timeout, stop_after=1):
            got = True
        if got:  # drain whatever else is queued, so a burst of changes costs one reload
            for _ in self._conn.notifies(timeout=0.01):
                pass
        return got

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def supports_listen(database_url: str) -> bool:
    """True for PostgreSQL URLs (SQLite has no LISTEN/NOTIFY)."""
    return database_url.split("://", 1)[0].split("+", 1)[0] in {"postgresql", "postgres"}
