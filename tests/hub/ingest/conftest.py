"""Fixtures of the ingest tests: the two households of world.py on a fresh database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.hub.ingest.world import build


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The two households (one good, one sending poison) on a fresh database, migrated."""
    built = build(database_url)
    yield built
    built.dispose()
