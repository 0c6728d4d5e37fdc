"""SQL of the live-event channel between hub nodes: PostgreSQL LISTEN and NOTIFY on a psycopg connection."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


async def connect(url: str) -> psycopg.AsyncConnection[Any]:
    """A connection of its own in autocommit: a NOTIFY goes out at once, a LISTEN hears between statements."""
    return await psycopg.AsyncConnection.connect(url, autocommit=True)


async def listen(conn: psycopg.AsyncConnection[Any], channel: str) -> None:
    """Hear the channel's notifications on `conn` (read them with `conn.notifies()`)."""
    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))


async def notify(conn: psycopg.AsyncConnection[Any], channel: str, payload: str) -> None:
    """Send one payload (under 8,000 bytes) to every listener of the channel, this connection's own included."""
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))
