"""A load-test fleet for a cluster: one household, N dash buttons bound to a demo product, real credentials."""

from __future__ import annotations

from sqlmodel import Session

from hub.services import devices as device_service
from hub.services.catalog import seed_demo_store
from hub.store import repos
from hub.store.models import Household

FLEET_SKU = ("demo", "COF-1KG")


def add_fleet(session: Session, count: int, prefix: str = "fleet") -> list[tuple[str, str]]:
    """Register count buttons (ids <prefix>-00000...) in a new household, each ordering on every press, and
    commit; (device id, secret) of each, for `restock sim fleet --credentials`. Existing ids are skipped."""
    seed_demo_store(session)
    product = repos.product_by_sku(session, *FLEET_SKU)
    if product is None:
        raise device_service.DeviceError("the demo catalog has no COF-1KG product")
    # Every press is its own order (no duplicate guard) and none reaches a merchant during the test.
    household = Household(name=f"{prefix} load test", allow_multiple_orders=True, cancel_window_s=3600)
    session.add(household)
    session.flush()
    created: list[tuple[str, str]] = []
    for n in range(count):
        device_id = f"{prefix}-{n:05d}"
        if repos.device(session, device_id) is not None:
            continue
        new = device_service.register(session, "dash_button", device_id, household.id, device_id)
        device_service.bind(session, new.device, product, 1, "order")
        created.append((device_id, new.secret))
    session.commit()
    return created
