"""Household settings: cancel window, spending caps, price tolerance, order protection, scan mode."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from hub.services.transaction import committed
from hub.store.models import Household

SETTINGS = (
    "name", "cancel_window_s", "per_order_cap", "monthly_cap", "price_tolerance_pct", "allow_multiple_orders",
    "scan_mode",
)


def update_settings(session: Session, household: Household, changes: Mapping[str, object]) -> Household:
    """Save the given settings, all of them or none; the surfaces have validated the values."""
    unknown = set(changes) - set(SETTINGS)
    if unknown:
        raise ValueError(f"not household settings: {', '.join(sorted(unknown))}")
    with committed(session):
        for key, value in changes.items():
            setattr(household, key, value)
        session.add(household)
    return household
