"""Each device's context (the device, its household, its bound product), kept from one ingest batch to the next.

Loading it was the largest part of a small batch's cost (a query and the ORM building three objects per device,
at 500 events/s before nearly every batch). It is kept while `contextepoch` (migration 0013) stays the same:
triggers move it on whenever a device, household or product changes, whoever changes it, in the same
transaction. A batch reads it first, in its own snapshot, so a batch that starts after a revocation, a new binding
or a new price has committed never decides on the old one.

The kept objects belong to no session between batches (they were loaded with `expire_on_commit=False`); each
batch attaches the ones it uses to its session, so a service that changes one writes it as usual. A rollback
expires what its session holds, so after any batch that did not commit as one transaction the whole cache is
forgotten (`forget`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from hub.store import repos
from hub.store.models import Device, Household, Product

Context = tuple[Device, Household | None, Product | None]


class DeviceContexts:
    """Devices, households and products by id, valid for one value of the change counter.

    One object per row: a household or product is loaded only when none is kept, so two devices of one household
    share its object, and attaching both to a session never meets a second instance of the same row.
    """

    def __init__(self) -> None:
        self._epoch: int | None = None
        self._devices: dict[str, Device] = {}
        self._households: dict[int, Household] = {}
        self._products: dict[int, Product] = {}
        self.loads = 0  # batches that had to load something (tests and figures)

    def load(self, session: Session, device_ids: Iterable[str]) -> list[Context]:
        """The contexts of those devices that exist, attached to `session`."""
        epoch = repos.context_epoch(session)
        if epoch != self._epoch:
            self.forget()
            self._epoch = epoch
        wanted = list(device_ids)
        missing = [device_id for device_id in wanted if device_id not in self._devices]
        if missing:
            self.loads += 1
            for device in repos.rows_by_id(session, Device, missing):
                self._devices[device.id] = device
        found = [self._devices[device_id] for device_id in wanted if device_id in self._devices]
        households = {d.household_id for d in found if d.household_id is not None} - self._households.keys()
        if households:
            self._households.update((h.id, h) for h in repos.rows_by_id(session, Household, households))  # type: ignore[misc]
        products = {d.binding_product_id for d in found if d.binding_product_id is not None} - self._products.keys()
        if products:
            self._products.update((p.id, p) for p in repos.rows_by_id(session, Product, products))  # type: ignore[misc]
        contexts: list[Context] = []
        attached: set[int] = set()
        for device in found:
            household = self._households.get(device.household_id) if device.household_id is not None else None
            product = self._products.get(device.binding_product_id) if device.binding_product_id is not None else None
            for obj in (device, household, product):
                # Kept from an earlier batch: `add` makes it persistent again without a query. Once per object:
                # a household's hundred devices in one batch share its object, and each `add` walks its cascade.
                if obj is not None and id(obj) not in attached:
                    attached.add(id(obj))
                    session.add(obj)
            contexts.append((device, household, product))
        return contexts

    def forget(self) -> None:
        """Drop everything kept (after a rollback, or when in doubt)."""
        self._devices, self._households, self._products = {}, {}, {}
        self._epoch = None
