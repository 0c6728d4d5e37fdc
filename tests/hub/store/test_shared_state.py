"""Cluster-wide locks and shared secrets in the database hub nodes share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from hub.notify import outbox
from hub.runtime import Hub
from hub.services import shared_secrets
from hub.services.replenish import review_all
from hub.settings import Settings
from hub.store import shared_state
from hub.store.db import make_engine, migrate
from hub.store.models import Product
from hub.store.types import utcnow
from tests.hub.conftest import PG_ENV, reset_postgres

needs_postgres = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"advisory locks are PostgreSQL's: set {PG_ENV}")


@pytest.fixture
def engine() -> Iterator[Engine]:
    """The PostgreSQL test database, emptied and migrated."""
    url = os.environ[PG_ENV]
    reset_postgres(url)
    migrate(url)
    made = make_engine(url)
    yield made
    made.dispose()


@pytest.mark.postgres
@needs_postgres
def test_a_cluster_lock_is_held_by_one_transaction_until_it_ends(engine: Engine) -> None:
    with Session(engine) as first, Session(engine) as second:
        assert shared_state.try_cluster_lock(first, "device-checks")
        assert not shared_state.try_cluster_lock(second, "device-checks")
        assert shared_state.try_cluster_lock(second, "slot-review")  # another name, another lock
        # While one node holds the lock, the other's periodic work is skipped, not queued behind it.
        assert outbox.device_checks(second, utcnow(), timedelta(hours=24), 2400) == []
        second.rollback()  # its slot-review lock ends with it
        with Session(engine) as third:
            assert shared_state.try_cluster_lock(third, "slot-review")
            assert review_all(second, utcnow()) == []
        first.commit()
        assert shared_state.try_cluster_lock(second, "device-checks")
        second.rollback()


@pytest.mark.postgres
@needs_postgres
def test_nodes_racing_to_offer_a_secret_all_get_the_first_one(engine: Engine) -> None:
    offers = [bytes([n]) * 32 for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        agreed = set(pool.map(lambda offer: shared_secrets.agreed(engine, "test-key", offer), offers))
    assert len(agreed) == 1 and agreed <= set(offers)
    with Session(engine) as session:
        assert shared_state.secret(session, "test-key") == agreed.pop().hex()


def test_lock_keys_are_stable_signed_64_bit_numbers() -> None:
    key = shared_state.lock_key("device-checks")
    assert key == shared_state.lock_key("device-checks") != shared_state.lock_key("slot-review")
    assert -(2**63) <= key < 2**63


@pytest.mark.postgres
@needs_postgres
def test_hub_nodes_starting_together_on_an_empty_database_all_start(tmp_path: Path) -> None:
    # Both would migrate and seed the demo catalog at once; one of them used to fail on a duplicate key.
    url = os.environ[PG_ENV]
    reset_postgres(url)
    hubs = [Hub(Settings(data_dir=tmp_path / f"node{i}", database_url=url)) for i in range(3)]
    try:
        with ThreadPoolExecutor(len(hubs)) as pool:
            list(pool.map(lambda hub: hub.prepare(), hubs))
        with Session(hubs[0].engine) as session:
            assert session.exec(select(func.count()).select_from(Product)).one() > 0
    finally:
        for hub in hubs:
            hub.engine.dispose()
