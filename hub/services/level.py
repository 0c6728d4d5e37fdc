"""Level use case: a sensor reading is stored and its slot's replenishment policy run. Callers commit."""

from __future__ import annotations

from hub.domain.events import LevelEvent
from hub.domain.feedback import Feedback
from hub.services import replenish as replenish_service
from hub.services.answer import Handled, order_feedback, placed_code
from hub.store.batch import Writer
from hub.store.models import Device, Household, Reading


def level(to: Writer, device: Device, household: Household, event: LevelEvent) -> Handled:
    """Store a reading of `device` for its household; reorder when the slot's policy says so."""
    reading = Reading(device_id=device.id, slot=event.slot, value=event.value, unit=event.unit, at=event.at)
    to.add(reading)
    outcome = replenish_service.on_reading(to, device, household, reading, event.at)
    if outcome.order is None:
        return Handled(Feedback(seq=event.seq, code="recorded"), reading=reading)
    order = outcome.order
    feedback = order_feedback(to, event.seq, placed_code(order, "reordered"), order, order.reason, outcome.product)
    return Handled(feedback, order=order, reading=reading)
