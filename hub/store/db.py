"""Engine creation and schema migrations (Alembic, applied at hub start)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

from hub.store.sqlite_writers import connection_class

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_file(url: str) -> str | None:
    """The file a SQLite URL names; None for an in-memory database or any other kind."""
    database = url.removeprefix("sqlite:///").split("?")[0] if url.startswith("sqlite:///") else ""
    return database if database and database != ":memory:" else None


def make_engine(url: str) -> Engine:
    """An engine with WAL and a busy timeout on SQLite, pre-ping on servers."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 30}
        database = sqlite_file(url)
        if database is not None:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # Writers queue in the kernel, not in SQLite's sleeping busy handler (see sqlite_writers).
            connect_args["factory"] = connection_class(database)
        engine = create_engine(url, connect_args=connect_args)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets the API read while ingest writes; NORMAL is durable across process crashes
            # (only an OS crash can lose the last transactions), which is the failure we test.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations folder."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the schema to the newest revision."""
    command.upgrade(alembic_config(url), "heads")
    log.info("database schema up to date", extra={"url": normalise_url(url).split("@")[-1]})
