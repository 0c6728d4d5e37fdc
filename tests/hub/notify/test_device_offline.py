"""The "device offline" notification: only for a device that missed a check-in it owed, never for a sleeping button."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from hub.domain.presence import CHECK_IN, GRACE
from hub.notify import outbox
from hub.services import accounts
from hub.store.db import make_engine, migrate
from hub.store.models import Device

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
SENSOR_LIMIT = (CHECK_IN["appliance_sensor"] or DAY) * (1 + GRACE)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database."""
    built = make_engine(database_url)
    migrate(database_url)
    yield built
    built.dispose()


def _household_with(session: Session, *devices: tuple[str, str, timedelta, bool]) -> int:
    """A household with devices (id, kind, silent for, connected)."""
    household_id = accounts.create_household(session, "Home", "home@example.org", "password123").household_id
    for device_id, kind, silent, online in devices:
        session.add(Device(id=device_id, household_id=household_id, kind=kind, name=device_id, secret_hash="x",
                           online=online, last_seen=NOW - silent))
    session.commit()
    return household_id


def _offline(session: Session, offline_after: timedelta = DAY) -> set[str]:
    notes = outbox.device_checks(session, NOW, offline_after, low_battery_mv=0)
    session.commit()
    return {note.key.split(":")[1] for note in notes if note.kind == outbox.DEVICE_OFFLINE}


def test_sleeping_buttons_are_never_reported_offline(engine: Engine) -> None:
    with Session(engine) as session:
        _household_with(session, ("btn-week", "dash_button", 7 * DAY, False),
                        ("wand-month", "barcode_wand", 30 * DAY, False))
        assert _offline(session) == set()


def test_a_sensor_is_reported_once_it_missed_its_check_in(engine: Engine) -> None:
    with Session(engine) as session:
        _household_with(session,
                        ("sensor-late", "appliance_sensor", 2 * DAY, False),
                        ("sensor-due", "appliance_sensor", SENSOR_LIMIT - timedelta(minutes=5), False))
        # A short minimum silence: the sensor still within its check-in interval (plus grace) is asleep.
        assert _offline(session, offline_after=timedelta(hours=1)) == {"sensor-late"}
        assert _offline(session, offline_after=timedelta(hours=1)) == set()  # told once per silence


def test_a_connected_device_and_a_short_silence_are_not_reported(engine: Engine) -> None:
    with Session(engine) as session:
        _household_with(session,
                        ("sensor-connected", "appliance_sensor", 2 * DAY, True),
                        ("sensor-quiet", "appliance_sensor", SENSOR_LIMIT + timedelta(hours=1), False))
        # The household's minimum silence (RESTOCK_OFFLINE_AFTER_H) still applies on top of the missed check-in.
        assert _offline(session) == set()
        assert _offline(session, offline_after=timedelta(hours=1)) == {"sensor-quiet"}
