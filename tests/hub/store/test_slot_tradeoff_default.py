"""A slot inserted without an order-size setting gets the domain's default, whether the row comes through the
model or through plain SQL after the migrations; the migration leaves existing slots' settings alone and
downgrades cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text
from sqlmodel import Session

from hub.domain.order_size import DEFAULT_TRADEOFF
from hub.store.db import alembic_config, make_engine, migrate
from hub.store.models import Household, Slot


def _server_default(url: str) -> float:
    engine = make_engine(url)
    try:
        column = next(c for c in inspect(engine).get_columns("slot") if c["name"] == "order_tradeoff")
    finally:
        engine.dispose()
    default = str(column["default"]).strip("'\"()")
    return float(default.split("::")[0].strip("'"))


def test_model_default_is_the_domain_default() -> None:
    assert Slot(household_id=1, device_id="d", name="s", unit="g").order_tradeoff == DEFAULT_TRADEOFF


def test_migrated_server_default_is_the_domain_default(database_url: str) -> None:
    migrate(database_url)
    assert _server_default(database_url) == DEFAULT_TRADEOFF


def _tradeoffs(url: str) -> dict[str, float]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {name: value for name, value in conn.execute(text("SELECT name, order_tradeoff FROM slot"))}
    finally:
        engine.dispose()


def test_existing_slots_keep_their_setting(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0006_slot_tradeoff")
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            household = Household(name="h")
            session.add(household)
            session.flush()
            assert household.id is not None
            # Plain SQL: the Device model has columns that later migrations add, unknown at this revision.
            session.execute(
                text(
                    "INSERT INTO device (id, household_id, kind, name, secret_hash, active, binding_qty, online, "
                    "created_at) VALUES ('sensor-1', :h, 'sensor', 'sensor-1', 'x', true, 1, false, CURRENT_TIMESTAMP)"
                ),
                {"h": household.id},
            )
            for name, tradeoff in (("untouched", 0.5), ("chosen", 0.3)):
                session.add(
                    Slot(household_id=household.id, device_id="sensor-1", name=name, unit="g", order_tradeoff=tradeoff)
                )
            session.commit()
            household_id = household.id
    finally:
        engine.dispose()

    command.upgrade(config, "heads")
    assert _tradeoffs(database_url) == {"untouched": 0.5, "chosen": 0.3}
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:  # a row written without the column, as plain SQL would
            conn.execute(
                text(
                    "INSERT INTO slot (household_id, device_id, name, unit, mode, lead_time_days, safety_days, "
                    "target_days, learning_low, created_at) VALUES (:h, 'sensor-1', 'new', 'g', 'notify', 5, 3, "
                    "30, 0.25, CURRENT_TIMESTAMP)"
                ),
                {"h": household_id},
            )
    finally:
        engine.dispose()
    assert _tradeoffs(database_url)["new"] == DEFAULT_TRADEOFF

    command.downgrade(config, "0006_slot_tradeoff")
    assert _server_default(database_url) == 0.5
    assert _tradeoffs(database_url) == {"untouched": 0.5, "chosen": 0.3, "new": DEFAULT_TRADEOFF}
