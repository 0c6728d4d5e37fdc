"""The demo's detergent slot comes with weeks of readings: the policy has a rate and a run-out date at once and
finds it time to reorder, on whatever policy the hub runs today."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from hub.services import replenish as replenish_service
from hub.store import repos
from simulator import demo_story
from simulator.demo import provision
from tests.hub.conftest import HubServer


def test_provisioned_demo_slot_forecasts_and_reorders(start_hub: Callable[..., HubServer], tmp_path: Path) -> None:
    server = start_hub()
    setup = provision(server.hub, tmp_path)
    now = server.hub.clock.now()
    with Session(server.hub.engine) as session:
        slot = repos.slot(session, "washer-sensor", demo_story.SLOT)
        assert slot is not None and slot.mode == "auto" and slot.pack_size == demo_story.PACK_G
        readings = repos.readings(session, "washer-sensor", demo_story.SLOT)
        assert (now - readings[0].at).days >= demo_story.HISTORY_DAYS - 1  # weeks, not "learning"
        result = replenish_service.evaluate_slot(session, slot, now)
    assert result is not None
    forecast = result.forecast
    assert forecast.status == "ok" and forecast.rate_per_day is not None and forecast.run_out_at is not None
    # Nothing was decided on the past; what the policy says now is what the sensor's first reading gets.
    assert result.decision.action == "order", result.decision.reason
    assert 0 < setup.detergent_g < readings[-1].value


def test_history_is_the_sensor_heartbeat_going_down_with_the_washes() -> None:
    from datetime import UTC, datetime

    past = demo_story.history(datetime(2026, 3, 2, 12, tzinfo=UTC))
    values = [value for _at, value in past.readings]
    assert len(values) == demo_story.HISTORY_DAYS * 4  # every six hours
    assert values[0] > 0.9 * demo_story.PACK_G and past.level_now < 0.25 * demo_story.PACK_G
    assert all(later <= earlier + 3 for earlier, later in zip(values, values[1:], strict=False))  # noise only
