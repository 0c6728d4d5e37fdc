"""The sim board's default battery reads healthy on the cell curve of each device kind."""

from __future__ import annotations

import pytest

from hub.domain.battery import chemistry_of, is_low, percent
from tests.firmware.conftest import feedback_for
from tests.firmware.test_appliance_sensor import SENSOR

pytestmark = [pytest.mark.firmware, pytest.mark.broker]


@pytest.mark.parametrize("app", ["dash_button", "appliance_sensor"])
def test_default_battery_is_healthy_for_the_kind(mosquitto, firmware, hub_double, app):
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    extra = {"sensor": dict(SENSOR), "sample_s": 0.2} if app == "appliance_sensor" else {}
    firmware(app, f"{app}-batt", mosquitto.port, **extra)
    status = hub.wait_status(lambda s: s.get("online") is True and s.get("kind") == app)
    level = percent(status["battery_mv"], chemistry_of(app))
    assert level >= 70 and not is_low(level), (status["battery_mv"], level)


def test_sim_json_voltage_still_wins(mosquitto, firmware, hub_double):
    hub = hub_double(mosquitto.port, feedback_for("feedback_ordered.json"))
    firmware("dash_button", "btn-flat", mosquitto.port, sim={"battery_mv": 2900})
    status = hub.wait_status(lambda s: s.get("online") is True)
    assert status["battery_mv"] == 2900
