"""A household's changes to a sensor slot (product, mode, policy) from the API and the dashboard, committed.

The rules and their checks live in hub.services.replenish; a refused change (SlotError) writes nothing.
"""

from __future__ import annotations

from sqlmodel import Session

from hub.services import replenish
from hub.services.transaction import committed
from hub.store.models import Product, Slot


def update(session: Session, slot: Slot, product: Product | None, **changes: object) -> Slot:
    """Choose the slot's product (and brand), mode and policy, all of them or none."""
    with committed(session):
        return replenish.update_slot(session, slot, product, **changes)


def pause(session: Session, slot: Slot) -> Slot:
    """Stop the slot's reorders (its readings and forecast go on); nothing to refuse."""
    return update(session, slot, None, mode="paused")
